"""The L7 balancer: an HTTP-aware reverse proxy (h11 on both sides) that routes by host and path.

Theory of operation
-------------------
Unlike the L4 proxy it must *read* each request before it can choose: the head decides the pool
(``api.netlearn.test`` or ``/api/*`` → "api", the rest → "web"), a sticky cookie may decide the
backend, and the head is rewritten on the way (``X-Forwarded-For``, ``Via``, hop-by-hop headers
dropped). One coroutine per client connection reads a request, forwards it on a kept-alive
connection to the chosen backend, reads the whole answer (the lab's bodies are small and
bounded), and only then writes to the client, so a backend that dies mid-answer turns into a
clean 502 instead of half a page. Latency matters more than throughput here, so the code favours
being readable over the transport-level tricks of the L4 proxy.

Status codes the proxy itself answers: 400/431 (bad request head), 408 (head too slow),
502 (backend refused, closed mid-response or spoke bad HTTP), 503 (no healthy backend),
504 (backend slower than ``backend_timeout``).
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..tasks import cancel_and_wait
from .l7_session import Session, plain_error, pool_for  # the per-connection logic, in its own module
from .pool import BackendPool, HealthConfig

__all__ = ["L7Balancer", "pool_for"]


class L7Balancer:
    def __init__(self, endpoint: Endpoint, stream: EventStream, name: str = "l7", *,
                 pools: Mapping[str, Sequence[tuple[str, Endpoint]]], algorithm: str = "round_robin",
                 health: HealthConfig | None = None, max_connections: int = 512, backend_timeout: float = 5.0,
                 connect_timeout: float = 2.0, head_timeout: float = 10.0, idle_timeout: float = 30.0,
                 api_hosts: Sequence[str] = ("api.netlearn.test",), rng: random.Random | None = None) -> None:
        self.name = name
        self.stream = stream
        self.pools = {pool: BackendPool(component=name, pool=pool, members=members, stream=stream,
                                        algorithm=algorithm, health=health, rng=rng)
                      for pool, members in pools.items()}
        self.max_connections = max_connections
        self.backend_timeout = backend_timeout
        self.connect_timeout = connect_timeout
        self.head_timeout = head_timeout
        self.idle_timeout = idle_timeout
        self.api_hosts = tuple(api_hosts)
        self._bind = endpoint
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.counters: dict[str, int] = {"accepted": 0, "refused": 0, "requests": 0, "2xx": 0, "3xx": 0, "4xx": 0,
                                         "5xx": 0, "502": 0, "503": 0, "504": 0}

    @property
    def address(self) -> Endpoint:
        return self._bind

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._bind.host, self._bind.port, reuse_address=True,
                                                  backlog=1024)
        self._bind = Endpoint.of(self._server.sockets[0].getsockname())
        for pool in self.pools.values():
            await pool.start()

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await cancel_and_wait(self._tasks)
        for pool in self.pools.values():
            await pool.stop()
        await server.wait_closed()

    def set_algorithm(self, algorithm: str) -> None:
        for pool in self.pools.values():
            pool.set_algorithm(algorithm)
        self._control("set_algorithm", f"{self.name} now balances with {algorithm}", algorithm=algorithm)

    def set_weights(self, weights: Mapping[str, int]) -> None:
        applied: dict[str, int] = {}
        for pool in self.pools.values():
            applied.update(pool.set_weights(weights))
        self._control("set_weights", f"{self.name} weights: " + ", ".join(f"{k}={v}" for k, v in applied.items()),
                      weights=applied)

    def _control(self, action: str, summary: str, **detail: Any) -> None:
        self.stream.emit(component=self.name, layer=7, kind=Kind.CONTROL, summary=summary, dst=self._bind,
                         detail={"action": action, **detail})

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "l7", "state": "running" if self._server else "stopped",
                "host": self._bind.host, "port": self._bind.port, "active_connections": len(self._tasks),
                "max_connections": self.max_connections, "counters": dict(self.counters),
                "pools": {name: pool.describe() for name, pool in self.pools.items()}}

    # -- one client connection -------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = Endpoint.of(writer.get_extra_info("peername"))
        local = Endpoint.of(writer.get_extra_info("sockname"))
        cid = self.stream.correlator.lookup(peer)
        if len(self._tasks) >= self.max_connections:
            self.counters["refused"] += 1
            self.stream.emit(component=self.name, layer=4, kind=Kind.ERROR, transport="tcp", src=peer, dst=local,
                             correlation_id=cid, summary=f"connection cap {self.max_connections} reached: 503",
                             detail={"error": "connection_cap"})
            writer.write(plain_error(503, "too many connections"))
            writer.close()
            return
        self._tasks.add(task)
        self.counters["accepted"] += 1
        try:
            await Session(self, reader, writer, peer=peer, local=local, cid=cid).run()
        except asyncio.CancelledError:
            pass  # stop() cancels sessions; Python 3.11's stream callback chokes on a cancelled task
        finally:
            self._tasks.discard(task)

