"""The L4 balancer: a TCP proxy on the virtual IP, moving bytes it never looks into.

Theory of operation
-------------------
Transport level on purpose (as HAProxy in ``mode tcp``): two ``asyncio.Protocol`` objects per
client, one facing the client (:class:`_ClientSide`) and one facing the backend
(:class:`_BackendSide`), each writing straight into the other's transport. Back-pressure is the
transports' own: when one side's write buffer passes its high-water mark, ``pause_writing``
pauses *reading* on the other side, so a fast sender cannot make the proxy buffer without bound.

The backend is chosen once, at accept, and the connection is opened in the background; bytes
the client sends meanwhile (a browser sends its request at once) are kept, bounded, and
forwarded when the backend answers the handshake. Events are per connection (ACCEPT, CHOOSE,
CONNECT, CLOSE), never per chunk: the byte path only bumps counters, so watching the lab costs
almost nothing. An idle sweep closes connections that moved no byte for ``idle_timeout``.
"""
from __future__ import annotations

import asyncio
import random
import time
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from .algorithms import BackendState
from .dial import dial
from .pool import BackendPool, HealthConfig

#: Client bytes held while the backend connection opens; beyond this the client is paused.
EARLY_BYTES_LIMIT = 256 * 1024


class L4Balancer:
    def __init__(self, endpoint: Endpoint, stream: EventStream, name: str = "l4", *,
                 backends: Sequence[tuple[str, Endpoint]], algorithm: str = "round_robin",
                 health: HealthConfig | None = None, max_connections: int = 512, connect_timeout: float = 2.0,
                 idle_timeout: float = 10.0, rng: random.Random | None = None) -> None:
        self.name = name
        self.stream = stream
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.pool = BackendPool(component=name, pool="all", members=backends, stream=stream, algorithm=algorithm,
                                health=health, rng=rng)
        self._bind = endpoint
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_ClientSide] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.counters: dict[str, int] = {"accepted": 0, "refused": 0, "no_backend": 0, "connect_errors": 0,
                                         "closed": 0, "bytes_in": 0, "bytes_out": 0, "idle_closed": 0}

    @property
    def address(self) -> Endpoint:
        return self._bind

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ClientSide(self), self._bind.host, self._bind.port,
                                                reuse_address=True, backlog=1024)
        self._bind = Endpoint.of(self._server.sockets[0].getsockname())
        await self.pool.start()
        self._sweeper = loop.create_task(self._sweep(), name=f"{self.name}-idle-sweep")

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in (self._sweeper,):
            if task is not None:
                task.cancel()
        for conn in list(self._connections):
            conn.abort()
        await self.pool.stop()
        await server.wait_closed()
        if self._sweeper is not None:
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
            self._sweeper = None
        await asyncio.sleep(0)  # let aborted transports deliver connection_lost

    # -- control ---------------------------------------------------------------------------
    def set_algorithm(self, algorithm: str) -> None:
        self.pool.set_algorithm(algorithm)
        self._control("set_algorithm", f"{self.name} now balances with {algorithm}", algorithm=algorithm)

    def set_weights(self, weights: Mapping[str, int]) -> None:
        applied = self.pool.set_weights(weights)
        self._control("set_weights", f"{self.name} weights: " + ", ".join(f"{k}={v}" for k, v in applied.items()),
                      weights=applied)

    def _control(self, action: str, summary: str, **detail: Any) -> None:
        self.stream.emit(component=self.name, layer=4, kind=Kind.CONTROL, summary=summary, dst=self._bind,
                         detail={"action": action, **detail})

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "l4", "state": "running" if self._server else "stopped",
                "host": self._bind.host, "port": self._bind.port, "active_connections": len(self._connections),
                "max_connections": self.max_connections, "counters": dict(self.counters), **self.pool.describe()}

    async def _sweep(self) -> None:
        period = max(self.idle_timeout / 2, 0.05)
        while True:
            await asyncio.sleep(period)
            for conn in list(self._connections):
                moved = conn.bytes_in + conn.bytes_out
                if moved == conn.seen_at_sweep:
                    conn.idle_sweeps += 1
                    if conn.idle_sweeps >= 2:
                        self.counters["idle_closed"] += 1
                        conn.close(reason=f"idle for {self.idle_timeout:.0f} s")
                else:
                    conn.seen_at_sweep, conn.idle_sweeps = moved, 0


class _ClientSide(asyncio.Protocol):
    """Faces the client; owns the connection's bookkeeping and its events."""

    __slots__ = ("lb", "transport", "upstream", "backend", "peer", "local_up", "cid", "early", "early_len",
                 "client_eof", "backend_eof", "bytes_in", "bytes_out", "seen_at_sweep", "idle_sweeps", "turn_start",
                 "sample_rtt", "started", "done", "connect_task")

    def __init__(self, lb: L4Balancer) -> None:
        self.lb = lb
        self.transport: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.backend: BackendState | None = None
        self.peer: Endpoint | None = None
        self.local_up: Endpoint | None = None
        self.cid: str | None = None
        self.early: list[bytes] | None = []
        self.early_len = 0
        self.client_eof = False
        self.backend_eof = False
        self.bytes_in = 0
        self.bytes_out = 0
        self.seen_at_sweep = -1
        self.idle_sweeps = 0
        self.turn_start = 0.0
        self.sample_rtt = False
        self.started = time.perf_counter()
        self.done = False
        self.connect_task: asyncio.Task[None] | None = None

    # -- client events ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = typing.cast("asyncio.Transport", transport)  # uvloop transports are not asyncio subclasses
        lb = self.lb
        self.transport = transport
        self.peer = peer = Endpoint.of(transport.get_extra_info("peername"))
        vip = lb._bind
        self.cid = cid = lb.stream.correlator.lookup(peer)
        if len(lb._connections) >= lb.max_connections:
            lb.counters["refused"] += 1
            self.done = True
            lb.stream.emit(component=lb.name, layer=4, kind=Kind.ERROR, transport="tcp", src=peer, dst=vip,
                           correlation_id=cid, summary=f"connection cap {lb.max_connections} reached: refused {peer}",
                           detail={"error": "connection_cap"})
            transport.abort()
            return
        lb._connections.add(self)
        lb.counters["accepted"] += 1
        lb.stream.emit(component=lb.name, layer=4, kind=Kind.ACCEPT, summary=f"accepted {peer} on {vip}", src=peer,
                       dst=vip, transport="tcp", correlation_id=cid, detail={"active": len(lb._connections)})
        choice = lb.pool.choose(peer.host)
        lb.stream.emit(component=lb.name, layer=4, kind=Kind.CHOOSE, transport="tcp", src=peer, dst=vip,
                       correlation_id=cid, detail=choice.explanation(),
                       summary=f"{choice.algorithm}: {choice.backend.name if choice.backend else 'nobody'}")
        if choice.backend is None:
            lb.counters["no_backend"] += 1
            self.close(reason="no healthy backend")
            return
        self.backend = choice.backend
        self.backend.active += 1
        self.sample_rtt = lb.pool.algorithm.name == "peak_ewma"
        self.connect_task = asyncio.get_running_loop().create_task(self._connect(choice.backend))

    async def _connect(self, backend: BackendState) -> None:
        lb = self.lb
        loop = asyncio.get_running_loop()
        try:
            sock, local = await dial(lb._bind.host, backend.endpoint, timeout=lb.connect_timeout, stream=lb.stream,
                                     correlation_id=self.cid)
            self.local_up = local
            transport, _ = await loop.create_connection(lambda: _BackendSide(self), sock=sock)
        except (OSError, TimeoutError) as exc:
            lb.counters["connect_errors"] += 1
            error = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
            lb.stream.emit(component=lb.name, layer=4, kind=Kind.ERROR, transport="tcp", dst=backend.endpoint,
                           src=self.peer, correlation_id=self.cid, summary=f"could not reach {backend.name}: {error}",
                           detail={"backend": backend.name, "error": error})
            self.close(reason=f"backend {backend.name} unreachable")
            return
        finally:
            self.connect_task = None
        if self.done:
            transport.abort()
            return
        self.upstream = transport
        lb.stream.emit(component=lb.name, layer=4, kind=Kind.CONNECT, transport="tcp", src=local,
                       dst=backend.endpoint, correlation_id=self.cid,
                       summary=f"opened {local} → {backend.name} {backend.endpoint}",
                       detail={"backend": backend.name, "client": str(self.peer), "lb_local": str(local),
                               "early_bytes": self.early_len,
                               "connect_ms": round((time.perf_counter() - self.started) * 1000, 3)})
        early, self.early = self.early, None
        if early:
            transport.write(b"".join(early))
            if self.transport is not None and self.early_len > EARLY_BYTES_LIMIT:
                self.transport.resume_reading()
        if self.client_eof and transport.can_write_eof():
            transport.write_eof()

    def data_received(self, data: bytes) -> None:
        upstream = self.upstream
        self.bytes_in += len(data)
        if self.sample_rtt and not self.turn_start:
            self.turn_start = time.perf_counter()
        if upstream is not None:
            upstream.write(data)
            return
        if self.early is not None:  # the backend handshake is still in flight
            self.early.append(data)
            self.early_len += len(data)
            if self.early_len > EARLY_BYTES_LIMIT and self.transport is not None:
                self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.client_eof = True
        if self.upstream is not None and self.upstream.can_write_eof():
            self.upstream.write_eof()
        if self.backend_eof:
            self.close(reason="both sides finished")
        return True

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(reason="client closed" if exc is None else f"client error: {exc}")

    # -- closing ---------------------------------------------------------------------------
    def abort(self) -> None:
        for t in (self.transport, self.upstream):
            if t is not None:
                t.abort()
        self.close(reason="balancer stopped")

    def close(self, *, reason: str) -> None:
        """Idempotent: close both sides (flushing what is buffered) and report once."""
        if self.done:
            return
        self.done = True
        if self.connect_task is not None:
            self.connect_task.cancel()
        for t in (self.transport, self.upstream):
            if t is not None and not t.is_closing():
                t.close()
        lb = self.lb
        lb._connections.discard(self)
        name = None
        if self.backend is not None:
            self.backend.active -= 1
            name = self.backend.name
        lb.counters["closed"] += 1
        lb.counters["bytes_in"] += self.bytes_in
        lb.counters["bytes_out"] += self.bytes_out
        lb.stream.emit(component=lb.name, layer=4, kind=Kind.CLOSE, transport="tcp", src=self.peer, dst=lb._bind,
                       correlation_id=self.cid,
                       summary=f"closed {self.peer}: {self.bytes_in} B in, {self.bytes_out} B out ({reason})",
                       detail={"backend": name, "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                               "duration_ms": round((time.perf_counter() - self.started) * 1000, 3),
                               "reason": reason})
        if self.local_up is not None:
            lb.stream.correlator.unbind(self.local_up)


class _BackendSide(asyncio.Protocol):
    """Faces the backend: writes what it hears straight to the client."""

    __slots__ = ("client", "down")

    def __init__(self, client: _ClientSide) -> None:
        self.client = client
        self.down = client.transport

    def data_received(self, data: bytes) -> None:
        client = self.client
        client.bytes_out += len(data)
        if client.turn_start:
            rtt = time.perf_counter() - client.turn_start
            client.turn_start = 0.0
            if client.backend is not None:
                client.lb.pool.observe_rtt(client.backend, rtt)
        down = self.down
        if down is not None:
            down.write(data)

    def eof_received(self) -> bool:
        client = self.client
        client.backend_eof = True
        if self.down is not None and self.down.can_write_eof() and not self.down.is_closing():
            self.down.write_eof()
        if client.client_eof:
            client.close(reason="both sides finished")
        return True

    def pause_writing(self) -> None:
        if self.down is not None:
            self.down.pause_reading()

    def resume_writing(self) -> None:
        if self.down is not None:
            self.down.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close(reason="backend closed" if exc is None else f"backend error: {exc}")
