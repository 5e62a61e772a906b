"""Where the availability lab's roles listen, and the timers and bounds they run with.

Kept apart from :class:`~netlearn.lab.topology.LabConfig` because these components are started
on demand by lessons' "try it" steps, not with the walk lab. Every role has its own loopback
address so a capture (or the event log) tells them apart at a glance:

* 127.0.4.x  the service registry (.1) and the service instances that register with it (.11-.14)
* 127.0.5.x  the HA pair: virtual address (.1), active (.2) and standby (.3) advertisement
  addresses; the fault-tolerant replicas (.11, .12)
* 127.0.6.x  the io-models servers (OIO .1, NIO .2, backlog demo .3, graceful shutdown .4) and the
  load-generating clients (.9)

``AvailabilityConfig.ephemeral()`` keeps the addresses and lets the kernel choose every port, so
tests run beside ``make run`` and beside each other.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .events import Endpoint


def _instances() -> tuple[Endpoint, ...]:
    return tuple(Endpoint(f"127.0.4.{10 + i}", 18510 + i) for i in range(1, 5))


def _replicas() -> tuple[Endpoint, ...]:
    return (Endpoint("127.0.5.11", 18611), Endpoint("127.0.5.12", 18612))


@dataclass(frozen=True)
class AvailabilityConfig:
    # -- client-side balancing --------------------------------------------------------------
    registry: Endpoint = Endpoint("127.0.4.1", 18500)
    instances: tuple[Endpoint, ...] = field(default_factory=_instances)
    #: Zones of the instances, in order (zone preference demo); the client lives in zones[0].
    instance_zones: tuple[str, ...] = ("zone-a", "zone-b", "zone-a", "zone-b")
    client_host: str = "127.0.4.100"
    #: Eureka renews every 30 s and evicts after 90 s; the lab scales that down to seconds so a
    #: learner sees the whole cycle, keeping the same ratio (evict after 3 missed renewals).
    heartbeat_interval: float = 0.25
    eviction_missed: int = 3
    eviction_sweep: float = 0.05
    client_refresh: float = 0.25
    max_instances: int = 64
    max_payload: int = 4096

    # -- high availability and fault tolerance ---------------------------------------------
    virtual: Endpoint = Endpoint("127.0.5.1", 18600)
    active: Endpoint = Endpoint("127.0.5.2", 18601)
    standby: Endpoint = Endpoint("127.0.5.3", 18602)
    vrid: int = 51
    active_priority: int = 200
    standby_priority: int = 100
    advert_interval: float = 0.1
    advert_missed: int = 3
    preempt: bool = True
    replicas: tuple[Endpoint, ...] = field(default_factory=_replicas)

    # -- server handling (io models) --------------------------------------------------------
    oio: Endpoint = Endpoint("127.0.6.1", 18701)
    nio: Endpoint = Endpoint("127.0.6.2", 18702)
    backlog_server: Endpoint = Endpoint("127.0.6.3", 18703)
    shutdown_server: Endpoint = Endpoint("127.0.6.4", 18704)
    load_client_host: str = "127.0.6.9"
    nio_workers: int = 2
    oio_max_threads: int = 1024
    max_comparison_clients: int = 500
    max_connections: int = 2048
    max_frame: int = 1024
    io_timeout: float = 5.0

    @classmethod
    def ephemeral(cls, **overrides: object) -> AvailabilityConfig:
        """Same addresses, kernel-chosen ports (the HA virtual port too: the pair shares it)."""
        base = cls(**overrides)  # type: ignore[arg-type]
        return dataclasses.replace(
            base,
            registry=Endpoint(base.registry.host, 0),
            instances=tuple(Endpoint(i.host, 0) for i in base.instances),
            virtual=Endpoint(base.virtual.host, 0),
            active=Endpoint(base.active.host, 0),
            standby=Endpoint(base.standby.host, 0),
            replicas=tuple(Endpoint(r.host, 0) for r in base.replicas),
            oio=Endpoint(base.oio.host, 0),
            nio=Endpoint(base.nio.host, 0),
            backlog_server=Endpoint(base.backlog_server.host, 0),
            shutdown_server=Endpoint(base.shutdown_server.host, 0),
        )

    @property
    def eviction_after(self) -> float:
        """Seconds without a renewal after which the registry evicts an instance."""
        return self.heartbeat_interval * self.eviction_missed

    @property
    def master_down_interval(self) -> float:
        """VRRP's Master_Down_Interval: missed adverts × interval plus a priority-based skew."""
        skew = (256 - self.standby_priority) / 256 * self.advert_interval
        return self.advert_missed * self.advert_interval + skew
