"""The L4 balancer: a TCP proxy on the virtual IP, moving bytes it never looks into.

Theory of operation
-------------------
Transport level on purpose (as HAProxy in ``mode tcp``). The balancer listens on a plain
non-blocking socket and accepts in batches (until the kernel has no more, at most
:data:`ACCEPT_BATCH` per wake-up); each client gets a :class:`~.l4_relay.Relay` that dials the
chosen backend and moves bytes between the two sockets. All of its sockets are watched by one
:class:`~.poller.Poller` (an epoll of its own), which the lab's event loop watches as a single
reader: per connection that is about half the system calls of an asyncio transport pair, and no
task, future or transport object (see ``make bench-lb`` in the README for the figures).

The backend is chosen once, at accept; bytes the client sent before the backend's handshake is
over are kept, bounded, and forwarded when it is. Events are per connection (ACCEPT, CHOOSE,
CONNECT, CLOSE), never per chunk: the byte path only bumps counters, so watching the lab costs
almost nothing. An idle sweep closes connections that moved no byte for ``idle_timeout``.
"""
from __future__ import annotations

import _socket
import asyncio
import logging
import random
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from ..events import Endpoint, Kind, owned_event, sockaddr_endpoint
from ..stream import EventStream
from .l4_relay import Relay
from .poller import READ_LEVEL, Poller
from .pool import BackendPool, HealthConfig

log = logging.getLogger(__name__)

#: Connections accepted per wake-up before the loop gets its turn.
ACCEPT_BATCH = 64


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
        self._bind_text = str(endpoint)  # for the per-connection summaries: formatted once
        self._listener: socket.socket | None = None
        self._family = int(socket.AF_INET)
        self._poller: Poller | None = None
        self._connections: set[Relay] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.counters: dict[str, int] = {"accepted": 0, "refused": 0, "no_backend": 0, "connect_errors": 0,
                                         "closed": 0, "bytes_in": 0, "bytes_out": 0, "idle_closed": 0}

    @property
    def address(self) -> Endpoint:
        return self._bind

    @property
    def poller(self) -> Poller:
        """Watches every socket of the balancer (exists while it runs)."""
        assert self._poller is not None, "the balancer is not running"
        return self._poller

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        listener = socket.socket(socket.AF_INET6 if ":" in self._bind.host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted sockets inherit it (Linux): no Nagle delay on relayed writes, as with the
            # asyncio transports before, without a call per connection.
            listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            listener.bind((self._bind.host, self._bind.port))
            listener.listen(1024)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self._family = int(listener.family)
        self._bind = Endpoint.of(listener.getsockname())
        self._bind_text = str(self._bind)
        self._poller = Poller(loop)
        self._poller.register(listener.fileno(), READ_LEVEL, self._accept, last=True)
        await self.pool.start()
        self._sweeper = loop.create_task(self._sweep(), name=f"{self.name}-idle-sweep")

    async def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        poller = self.poller
        poller.forget(listener.fileno())
        listener.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self._connections):
            conn.close(reason="balancer stopped")
        poller.close()
        self._poller = None
        await self.pool.stop()
        if self._sweeper is not None:
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
            self._sweeper = None

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
        return {"name": self.name, "kind": "l4", "state": "running" if self._listener else "stopped",
                "host": self._bind.host, "port": self._bind.port, "active_connections": len(self._connections),
                "max_connections": self.max_connections, "counters": dict(self.counters), **self.pool.describe()}

    # -- accepting -------------------------------------------------------------------------
    def _accept(self, mask: int) -> None:
        """Accept what the kernel has queued (a batch at most), one relay each."""
        listener = self._listener
        if listener is None:
            return
        family = self._family
        for _ in range(ACCEPT_BATCH):
            try:
                # The raw accept and the C socket type: ``socket.accept`` converts the family and
                # type to enums and runs a Python ``__init__``, ~6 µs a connection (profiled).
                fd, address = listener._accept()  # type: ignore[attr-defined]
            except BlockingIOError:
                return
            except OSError as exc:  # e.g. out of file descriptors: the client waits in the backlog
                log.warning("%s: accept failed: %s", self.name, exc)
                return
            self._admit(_socket.socket(family, socket.SOCK_STREAM, 0, fd), sockaddr_endpoint(address))

    def _admit(self, sock: _socket.socket, peer: Endpoint) -> None:
        stream, vip = self.stream, self._bind
        # Looked up once for the connection's events (what publish would find for each of them):
        # they go out with stream.deliver, which does not look again.
        cid = stream.correlator.lookup(peer, vip)
        if len(self._connections) >= self.max_connections:
            self.counters["refused"] += 1
            stream.emit(component=self.name, layer=4, kind=Kind.ERROR, transport="tcp", src=peer, dst=vip,
                        correlation_id=cid, summary=f"connection cap {self.max_connections} reached: refused {peer}",
                        detail={"error": "connection_cap"})
            sock.close()
            return
        relay = Relay(self, sock, peer, cid)
        connections = self._connections
        connections.add(relay)
        self.counters["accepted"] += 1
        # The per-connection events go through the cheaper owned_event (issue 18): same content
        # as stream.emit would give them.
        publish, name = stream.deliver, self.name
        publish(owned_event(name, 4, Kind.ACCEPT, f"accepted {relay.peer_text} on {self._bind_text}", peer, vip,
                            {"active": len(connections)}, cid, "tcp"))
        choice = self.pool.choose(peer.host)
        backend = choice.backend
        publish(owned_event(name, 4, Kind.CHOOSE, f"{choice.algorithm}: {backend.name if backend else 'nobody'}",
                            peer, vip, choice.explanation(), cid, "tcp"))
        if backend is None:
            self.counters["no_backend"] += 1
            relay.close(reason="no healthy backend")
            return
        relay.open(backend)

    def forget(self, relay: Relay) -> None:
        """Called by a relay as it closes."""
        self._connections.discard(relay)

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
