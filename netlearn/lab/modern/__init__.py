"""The lab's port 443: TLS 1.3 with HTTP/2 or HTTP/1.1 over TCP, and HTTP/3 over QUIC on UDP.

``start_modern(config, stream, web)`` starts, beside the plain web lab of :mod:`..web`:

* a TLS listener on every backend (``backend-N``), serving the site itself;
* a second L4 balancer on the shop VIP that passes TLS through, byte for byte, to those listeners
  (the balancer never holds a key: the certificate lives on the backends);
* ``tls-front`` on the L7 address: terminates TLS (the L7 balancer must read HTTP to route it)
  and forwards plain HTTP/1.1 to the L7 balancer;
* ``quic-l4`` and ``quic-l7``: HTTP/3 on UDP at the two front addresses, forwarding to the plain
  L4 and L7 listeners (so the same balancers and backends answer, whatever the protocol).
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..balance.l4 import L4Balancer
from ..balance.pool import BackendPool, HealthConfig
from ..events import Endpoint
from ..stream import EventStream
from ..tls.ca import LabPki, client_context, ensure_lab_pki, server_context
from ..topology import REPO_ROOT, LabConfig
from .app import Upstream, site_responder
from .quic_server import QuicFront
from .tls_server import SecureWebServer


def default_tls_dir() -> Path:
    """Mirrors ``settings.DATA_DIR / "lab-ca"`` without importing Django (the lab never does)."""
    return Path(os.environ.get("NETLEARN_DATA_DIR", REPO_ROOT / "var")) / "lab-ca"


class _TlsHealthPool(BackendPool):
    """Health checks over TLS: a plain ``GET /health`` to a TLS port would fail every time."""

    def __init__(self, *, pki: LabPki, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ctx = client_context(pki, alpn=("http/1.1",))

    async def _probe(self, endpoint: Endpoint) -> tuple[int | None, str | None]:
        writer = None
        try:
            async with asyncio.timeout(self.health.timeout):
                reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port, ssl=self._ctx,
                                                               server_hostname="netlearn.test")
                writer.write(b"GET /health HTTP/1.1\r\nHost: netlearn.test\r\nUser-Agent: netlearn-healthcheck\r\n"
                             b"Connection: close\r\n\r\n")
                line = await reader.readline()
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]), None
            return None, "no HTTP status line"
        except TimeoutError:
            return None, f"no answer within {self.health.timeout * 1000:.0f} ms"
        except OSError as exc:
            return None, exc.strerror or type(exc).__name__
        finally:
            if writer is not None:
                writer.transport.abort()


class TlsPassthroughBalancer(L4Balancer):
    """The L4 balancer on port 443: same proxy, TLS-aware health checks."""

    def __init__(self, *args: Any, pki: LabPki, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        old = self.pool
        self.pool = _TlsHealthPool(pki=pki, component=old.component, pool=old.pool,
                                   members=[(s.name, s.endpoint) for s in old.states], stream=self.stream,
                                   algorithm=old.algorithm.name, health=old.health, rng=old.rng)


@dataclass
class ModernLab:
    pki: LabPki
    backends: list[SecureWebServer]
    l4: TlsPassthroughBalancer
    front: SecureWebServer
    quic: list[QuicFront]
    _parts: list[Any] = field(default_factory=list, repr=False)

    def endpoints(self) -> dict[str, Any]:
        def ep(c: Any) -> dict[str, Any]:
            return {"host": c.address.host, "port": c.address.port}

        return {"l4_tls": ep(self.l4), "tls_front": ep(self.front), "backends_tls": [ep(b) for b in self.backends],
                "quic_l4": {**ep(self.quic[0]), "transport": "udp"},
                "quic_l7": {**ep(self.quic[1]), "transport": "udp"}, "lab_ca": str(self.pki.ca_cert)}

    def describe(self) -> dict[str, Any]:
        return {"tls_backends": [b.describe() for b in self.backends], "l4_tls": self.l4.describe(),
                "tls_front": self.front.describe(), "quic": [q.describe() for q in self.quic]}

    async def stop(self) -> None:
        parts, self._parts = self._parts, []
        for part in reversed(parts):
            await part.stop()


async def start_modern(config: LabConfig, stream: EventStream, web: Any, *, pki: LabPki | None = None) -> ModernLab:
    """Start every port-443 server; stops what it started if any part fails."""
    pki = pki or ensure_lab_pki(config.tls_dir or default_tls_dir())
    timeout = config.io_timeout
    started: list[Any] = []
    try:
        backends = []
        for i, endpoint in enumerate(config.backends_tls, start=1):
            server = SecureWebServer(endpoint, stream, f"backend-{i}", context=server_context(pki),
                                     responder=site_responder(f"backend-{i}"), handshake_timeout=timeout,
                                     idle_timeout=timeout * 3)
            await server.start()
            started.append(server)
            backends.append(server)
        health = HealthConfig(interval=config.health_interval, threshold=config.health_threshold,
                              timeout=max(config.health_timeout, 1.0))
        l4 = TlsPassthroughBalancer(config.l4_tls, stream, "l4", pki=pki, health=health,
                                    backends=[(b.name, b.address) for b in backends],
                                    max_connections=config.max_connections, connect_timeout=min(2.0, timeout),
                                    idle_timeout=timeout * 3)
        await l4.start()
        started.append(l4)
        front = SecureWebServer(config.l7_tls, stream, "tls-front", context=server_context(pki),
                                responder=Upstream(name="tls-front", source_host=config.l7_tls.host,
                                                   target=lambda: web.l7.address, stream=stream, timeout=timeout),
                                handshake_timeout=timeout, idle_timeout=timeout * 3)
        await front.start()
        started.append(front)
        quic = []
        for name, endpoint, upstream in (("quic-l4", config.quic_l4, lambda: web.l4.address),
                                         ("quic-l7", config.quic_l7, lambda: web.l7.address)):
            q = QuicFront(endpoint, stream, name, pki=pki, idle_timeout=timeout * 3,
                          responder=Upstream(name=name, source_host=endpoint.host, target=upstream, stream=stream,
                                             timeout=timeout))
            await q.start()
            started.append(q)
            quic.append(q)
    except BaseException:
        for part in reversed(started):
            await part.stop()
        raise
    return ModernLab(pki=pki, backends=backends, l4=l4, front=front, quic=quic, _parts=started)
