"""A lab backend: the sans-I/O pipeline behind a thin asyncio Protocol, with failure injection.

The Protocol only moves bytes: socket bytes go into the connection's :class:`HttpPipeline`,
answers come out in order, and the shell adds the three things a pipeline cannot do without a
clock and a socket: waiting (``/slow``, injected latency), time-outs (a head that does not finish
in ``head_timeout`` gets a 408: the slowloris defence; an idle keep-alive connection is closed
after ``idle_timeout``), and closing. Writing is paused while the peer is not reading
(``pause_writing`` stops reading further requests), so a client cannot make us buffer answers.
"""
from __future__ import annotations

import asyncio
import time
import typing
from collections.abc import Callable
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from .codec import plain_response
from .handlers import SERVER_NAME
from .messages import HttpResponse
from .pipeline import Behaviour, HttpPipeline
from .websocket import WebSocketEcho

MODES = ("ok", "error", "close")


class BackendServer:
    """One HTTP/1.1 backend (``backend-N``) of the lab."""

    def __init__(self, endpoint: Endpoint, stream: EventStream, name: str, *, max_connections: int = 512,
                 head_timeout: float = 10.0, idle_timeout: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.stream = stream
        self.max_connections = max_connections
        self.head_timeout = head_timeout
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.behaviour = Behaviour()
        self._bind = endpoint
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_BackendProtocol] = set()
        self.counters: dict[str, int] = {"accepted": 0, "refused": 0, "requests": 0, "errors": 0, "timeouts": 0}

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def address(self) -> Endpoint:
        return self._bind

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _BackendProtocol(self), self._bind.host, self._bind.port,
                                                reuse_address=True, backlog=1024)
        # Remember the kernel's port: a restarted backend comes back where the balancers expect it.
        self._bind = Endpoint.of(self._server.sockets[0].getsockname())
        self._control("started", f"{self.name} listening on {self._bind}")

    async def stop(self, *, drain: bool = False) -> None:
        """Stop listening. Without ``drain`` every open connection is closed now (a crash, as
        the balancers see it); with it, open connections may finish (a graceful shutdown)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if not drain:
            for conn in list(self._connections):
                conn.abort()
        await server.wait_closed()
        self._control("stopped", f"{self.name} stopped" + (" (draining open connections)" if drain else ""),
                      drain=drain)

    # -- failure injection -----------------------------------------------------------------
    def set_latency(self, seconds: float) -> None:
        self.behaviour.latency = max(0.0, min(float(seconds), 30.0))
        self._control("set_latency", f"{self.name} now adds {self.behaviour.latency * 1000:.0f} ms to every answer",
                      latency_ms=self.behaviour.latency * 1000)

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.behaviour.mode = mode
        words = {"ok": "answers normally", "error": "answers 500 to everything",
                 "close": "closes connections in the middle of responses"}
        self._control("set_mode", f"{self.name} {words[mode]}", mode=mode)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "state": "running" if self.running else "stopped", "host": self._bind.host,
                "port": self._bind.port, "active_connections": len(self._connections),
                "latency_ms": self.behaviour.latency * 1000, "mode": self.behaviour.mode,
                "counters": dict(self.counters)}

    def _control(self, action: str, summary: str, **detail: Any) -> None:
        self.stream.emit(component=self.name, layer=7, kind=Kind.CONTROL, summary=summary, dst=self._bind,
                         detail={"action": action, **detail})


class _BackendProtocol(asyncio.Protocol):
    """Moves bytes between one client socket and its pipeline; owns the timers."""

    def __init__(self, server: BackendServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.pipeline: HttpPipeline | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_kind = ""
        self._busy = False  # a delayed answer is pending: later requests wait their turn
        self.websocket: WebSocketEcho | None = None  # set once a 101 switched the connection
        self._closing = False
        self._started = time.perf_counter()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = typing.cast("asyncio.Transport", transport)  # uvloop transports are not asyncio subclasses
        self.transport = transport
        srv = self.server
        peer = Endpoint.of(transport.get_extra_info("peername"))
        local = Endpoint.of(transport.get_extra_info("sockname"))
        if len(srv._connections) >= srv.max_connections:
            srv.counters["refused"] += 1
            srv.stream.emit(component=srv.name, layer=4, kind=Kind.ERROR, transport="tcp", src=peer, dst=local,
                            summary=f"connection cap {srv.max_connections} reached: 503 and close",
                            detail={"error": "connection_cap", "cap": srv.max_connections})
            transport.write(plain_response(503, "Service Unavailable", b"too many connections\n",
                                           server=SERVER_NAME))
            self._closing = True
            transport.close()
            return
        srv._connections.add(self)
        srv.counters["accepted"] += 1
        srv.stream.emit(component=srv.name, layer=4, kind=Kind.ACCEPT, summary=f"accepted {peer}", src=peer, dst=local,
                        transport="tcp", detail={"active": len(srv._connections)})
        self.pipeline = HttpPipeline(component=srv.name, stream=srv.stream, local=local, peer=peer,
                                     behaviour=srv.behaviour, clock=srv.clock)
        self._arm_timer()

    def data_received(self, data: bytes) -> None:
        if self.pipeline is None or self._closing:
            return
        if self.websocket is not None:
            self._feed_websocket(data)
            return
        self.pipeline.receive_data(data)
        self._pump()

    def eof_received(self) -> bool:
        if self.websocket is not None and not self._closing:
            self._feed_websocket(b"")
            return False
        # Half-close: the client has finished sending but may still read our answers.
        if self.pipeline is not None and not self._closing:
            self.pipeline.receive_data(b"")
            self._pump()
        return True

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self._closing:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._closing = True
        srv = self.server
        if self in srv._connections:
            srv._connections.discard(self)
            assert self.pipeline is not None
            srv.stream.emit(component=srv.name, layer=4, kind=Kind.CLOSE, transport="tcp",
                            summary=f"closed {self.pipeline.peer} after {self.pipeline.requests} request(s)",
                            src=self.pipeline.local, dst=self.pipeline.peer,
                            detail={"requests": self.pipeline.requests,
                                    "duration_ms": round((time.perf_counter() - self._started) * 1000, 3),
                                    "error": str(exc) if exc else None})

    def abort(self) -> None:
        self._closing = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.abort()

    # -- the pump --------------------------------------------------------------------------
    def _pump(self) -> None:
        pipeline = self.pipeline
        assert pipeline is not None
        while not self._busy and not self._closing and self.websocket is None:
            response = pipeline.next_response()
            if response is None:
                break
            self.server.counters["requests"] += 1
            if response.delay > 0:
                self._busy = True
                self._cancel_timer()
                self._timer = asyncio.get_running_loop().call_later(response.delay, self._write_later, response)
                self._timer_kind = "delay"
                return
            self._write(response)
        if self._closing or self.websocket is not None:
            return
        if pipeline.finished and not self._busy:
            self._close()
            return
        self._arm_timer()

    def _write_later(self, response: HttpResponse) -> None:
        self._timer = None
        self._busy = False
        if not self._closing:
            self._write(response)
            if not self._closing:
                self._pump()

    def _write(self, response: HttpResponse) -> None:
        assert self.pipeline is not None and self.transport is not None
        out = self.pipeline.encode(response)
        if out.status >= 400:
            self.server.counters["errors"] += 1
        if out.cut:
            self.transport.write(out.data[: out.head_len + (len(out.data) - out.head_len) // 2])
            self._close()
            return
        self.transport.write(out.data)
        if out.upgraded:
            self.websocket = WebSocketEcho(component=self.server.name, stream=self.server.stream,
                                           local=self.pipeline.local, peer=self.pipeline.peer)
            self._cancel_timer()
            self._timer = asyncio.get_running_loop().call_later(self.server.idle_timeout, self._close)
            leftover = bytes(self.pipeline.decoder.conn.h11.trailing_data[0])
            if leftover:
                self._feed_websocket(leftover)
            return
        if out.close:
            self._close()

    def _feed_websocket(self, data: bytes) -> None:
        """After the 101: frames in, frames out; the idle timer (armed at the switch) still bounds it."""
        assert self.websocket is not None and self.transport is not None
        reply = self.websocket.receive_data(data)
        if reply:
            self.transport.write(reply)
        if self.websocket.finished:
            self._close()

    def _close(self) -> None:
        self._closing = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()

    # -- timers ----------------------------------------------------------------------------
    def _arm_timer(self) -> None:
        """Head timer while a head is arriving (never re-armed per byte: that is the
        slowloris trick), idle timer while nothing is."""
        assert self.pipeline is not None
        wanted = "head" if self.pipeline.head_in_progress else "idle"
        if wanted == "head" and self._timer_kind == "head" and self._timer is not None:
            return
        self._cancel_timer()
        delay = self.server.head_timeout if wanted == "head" else self.server.idle_timeout
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer, wanted)
        self._timer_kind = wanted

    def _on_timer(self, kind: str) -> None:
        self._timer = None
        self._timer_kind = ""
        if self._closing or self.pipeline is None:
            return
        if kind == "head" and self.pipeline.head_in_progress:
            self.server.counters["timeouts"] += 1
            self._write(self.pipeline.timeout_response())
        self._close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_kind = ""
