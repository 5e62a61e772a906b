"""The lab's web half in one call: four backends, the L4 balancer and the L7 balancer.

``start_web(config, stream)`` is the single entry point the runner uses; the returned
:class:`WebLab` is also the failure-injection API the lessons and the admin call (each change is
a CONTROL event on the stream, emitted by the component that changed).

Topology: the L4 balancer (the VIP ``shop.netlearn.test`` resolves to) fronts all four backends;
the L7 balancer (``www``/``api``) routes ``/api/*`` and ``api.netlearn.test`` to the "api" pool
(backends 3 and 4) and everything else to the "web" pool (backends 1 and 2).
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .balance.l4 import L4Balancer
from .balance.l7 import L7Balancer
from .balance.pool import BackendPool, HealthConfig
from .events import Endpoint
from .http.backend import BackendServer
from .stream import EventStream
from .topology import LabConfig

WEB_POOL = (1, 2)
API_POOL = (3, 4)


@dataclass
class WebLab:
    backends: list[BackendServer]
    l4: L4Balancer
    l7: L7Balancer
    _stopped: bool = field(default=False, repr=False)

    def backend(self, n: int) -> BackendServer:
        """Backend ``n`` (1-based, as in its name ``backend-n``)."""
        if not 1 <= n <= len(self.backends):
            raise ValueError(f"there is no backend-{n}; the lab has backend-1..backend-{len(self.backends)}")
        return self.backends[n - 1]

    def balancer(self, which: str) -> L4Balancer | L7Balancer:
        if which == "l4":
            return self.l4
        if which == "l7":
            return self.l7
        raise ValueError(f"balancer must be 'l4' or 'l7', not {which!r}")

    # -- failure injection and control -----------------------------------------------------
    def set_algorithm(self, balancer: str, name: str) -> None:
        self.balancer(balancer).set_algorithm(name)

    def set_weights(self, balancer: str, weights: Mapping[str, int]) -> None:
        self.balancer(balancer).set_weights(weights)

    async def stop_backend(self, n: int, *, drain: bool = False) -> None:
        await self.backend(n).stop(drain=drain)

    async def start_backend(self, n: int) -> None:
        await self.backend(n).start()

    def set_latency(self, n: int, seconds: float) -> None:
        self.backend(n).set_latency(seconds)

    def set_mode(self, n: int, mode: str) -> None:
        self.backend(n).set_mode(mode)

    def _pools(self) -> list[BackendPool]:
        return [self.l4.pool, *self.l7.pools.values()]

    async def wait_healthy(self, timeout: float = 10.0) -> bool:
        """Wait until every balancer has run a health-check round and sees each *running*
        backend as healthy (a walk right after start-up then never meets a stale view)."""
        running = {b.name for b in self.backends if b.running}

        def ok(pool: BackendPool) -> bool:
            return all(s.healthy for s in pool.states if s.name in running)

        results = await asyncio.gather(*(pool.wait_round(ok, timeout) for pool in self._pools()))
        return all(results)

    def describe(self) -> dict[str, Any]:
        return {"backends": [b.describe() for b in self.backends], "l4": self.l4.describe(), "l7": self.l7.describe()}

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        await self.l4.stop()
        await self.l7.stop()
        for b in self.backends:
            await b.stop()


async def start_web(config: LabConfig, stream: EventStream, *, algorithm: str = "round_robin",
                    backend_timeout: float | None = None) -> WebLab:
    """Start four backends and both balancers on ``config``'s addresses; stops what it started
    if any of it fails (a port already taken), so a failed start leaks nothing."""
    health = HealthConfig(interval=config.health_interval, threshold=config.health_threshold,
                          timeout=config.health_timeout)
    backends = [BackendServer(endpoint, stream, f"backend-{i}", max_connections=config.max_connections,
                              head_timeout=config.io_timeout, idle_timeout=config.io_timeout * 3)
                for i, endpoint in enumerate(config.backends, start=1)]
    started: list[Any] = []
    try:
        for b in backends:
            await b.start()
            started.append(b)
        members = [(b.name, b.address) for b in backends]
        l4 = L4Balancer(config.l4, stream, "l4", backends=members, algorithm=algorithm, health=health,
                        max_connections=config.max_connections, connect_timeout=min(2.0, config.io_timeout),
                        idle_timeout=config.io_timeout * 3)
        await l4.start()
        started.append(l4)
        pools = {"web": [members[i - 1] for i in WEB_POOL if i <= len(members)],
                 "api": [members[i - 1] for i in API_POOL if i <= len(members)]}
        l7 = L7Balancer(config.l7, stream, "l7", pools=pools, algorithm=algorithm, health=health,
                        max_connections=config.max_connections, backend_timeout=backend_timeout or config.io_timeout,
                        connect_timeout=min(2.0, config.io_timeout), head_timeout=config.io_timeout,
                        idle_timeout=config.io_timeout * 3)
        await l7.start()
        started.append(l7)
    except BaseException:
        for component in reversed(started):
            await component.stop()
        raise
    return WebLab(backends=backends, l4=l4, l7=l7)


__all__ = ["Endpoint", "WebLab", "start_web"]
