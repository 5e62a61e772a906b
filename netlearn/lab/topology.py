"""Where every lab role listens.

Each role gets its own loopback address (Linux routes all of 127.0.0.0/8 to ``lo``, no
privileges needed) *and* its own port, so the lab also works where only 127.0.0.1 exists
(``LabConfig.single_address()``). Ports are above 1024. ``LabConfig.ephemeral()`` keeps the
addresses but lets the kernel choose ports, so tests can run beside ``make run``.

The lab zone (``fixtures/lab/netlearn.test.zone``) names the addresses below: keep them in step.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .events import Endpoint

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_ZONE_FILE = REPO_ROOT / "fixtures" / "lab" / "netlearn.test.zone"

#: The lab's DNS zone apex. RFC 6761 reserves ``.test``: no lab name can ever be real.
LAB_ZONE = "netlearn.test."


def _backends() -> tuple[Endpoint, ...]:
    return tuple(Endpoint(f"127.0.3.{i}", 18000 + i) for i in range(1, 5))


def _backends_tls() -> tuple[Endpoint, ...]:
    return tuple(Endpoint(f"127.0.3.{i}", 18450 + i) for i in range(1, 5))


@dataclass(frozen=True)
class LabConfig:
    root: Endpoint = Endpoint("127.0.1.1", 15301)
    tld: Endpoint = Endpoint("127.0.1.2", 15302)
    authoritative: Endpoint = Endpoint("127.0.1.3", 15303)
    resolver: Endpoint = Endpoint("127.0.1.4", 15353)
    #: The virtual IP that ``shop.netlearn.test`` resolves to: an L4 (TCP) balancer.
    l4: Endpoint = Endpoint("127.0.2.1", 18080)
    #: ``www``/``api`` resolve here: an L7 (HTTP) balancer that routes by host and path.
    l7: Endpoint = Endpoint("127.0.2.2", 18081)
    backends: tuple[Endpoint, ...] = field(default_factory=_backends)
    #: Port 443 of the same hosts (netlearn/lab/modern): the L4 passes TLS through to the
    #: backends' TLS listeners; ``tls-front`` terminates TLS in front of the L7; QUIC (HTTP/3)
    #: listens on UDP beside each front door.
    l4_tls: Endpoint = Endpoint("127.0.2.1", 18443)
    l7_tls: Endpoint = Endpoint("127.0.2.2", 18444)
    backends_tls: tuple[Endpoint, ...] = field(default_factory=_backends_tls)
    quic_l4: Endpoint = Endpoint("127.0.2.1", 18443)
    quic_l7: Endpoint = Endpoint("127.0.2.2", 18444)
    #: Where the lab CA and server certificates live (made at first start). ``None``: the
    #: site's data directory ($NETLEARN_DATA_DIR or ./var) + ``lab-ca``, as Django's DATA_DIR.
    tls_dir: Path | None = None
    #: The learner's "computer": the walker binds its sockets here, so every server sees a
    #: client address of its own (and the diagram can tell the client from the balancers).
    client_host: str = "127.0.9.1"
    zone_file: Path = DEFAULT_ZONE_FILE
    #: Per-component cap on concurrent connections; time-outs in seconds.
    max_connections: int = 512
    io_timeout: float = 10.0
    health_interval: float = 1.0
    health_threshold: int = 2
    health_timeout: float = 0.5

    @classmethod
    def ephemeral(cls, **overrides: object) -> LabConfig:
        """Same addresses, kernel-chosen ports: for tests and a second lab beside ``make run``."""
        base = cls(**overrides)  # type: ignore[arg-type]
        return base.with_ports(0)

    def with_ports(self, port: int) -> LabConfig:
        return dataclasses.replace(
            self,
            root=Endpoint(self.root.host, port),
            tld=Endpoint(self.tld.host, port),
            authoritative=Endpoint(self.authoritative.host, port),
            resolver=Endpoint(self.resolver.host, port),
            l4=Endpoint(self.l4.host, port),
            l7=Endpoint(self.l7.host, port),
            backends=tuple(Endpoint(b.host, port) for b in self.backends),
            # A fixed port would collide with the plain listeners on the same hosts: keep the offsets.
            l4_tls=Endpoint(self.l4_tls.host, port and port + 1),
            l7_tls=Endpoint(self.l7_tls.host, port and port + 2),
            backends_tls=tuple(Endpoint(b.host, port and port + 1) for b in self.backends_tls),
            quic_l4=Endpoint(self.quic_l4.host, port and port + 1),
            quic_l7=Endpoint(self.quic_l7.host, port and port + 2),
        )
