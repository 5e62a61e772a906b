"""NIO: one boss selector loop accepts, N worker selector loops serve (Netty's NioEventLoopGroup).

Theory of operation
-------------------
Each loop is a plain thread running ``selectors.DefaultSelector`` (epoll on Linux) — not asyncio,
so what the lesson shows is the bare mechanism. The boss owns the listening socket; it accepts and
hands each new socket to a worker, round robin, through a queue plus a wake-up socketpair (the
trick every selector loop uses to be woken from ``select()``). A worker owns its channels for
life: it reads, runs the :class:`~.pipeline.Pipeline`, keeps replies *in request order* per
channel (a ``SLOW`` reply is a timer on the loop, never a sleep), and writes with back-pressure
(``EVENT_WRITE`` only while an output buffer is non-empty).

``pause_accepting()`` takes the listening socket out of the boss's selector: connections then
wait in the kernel's accept queue (bounded by ``SO_BACKLOG``), which is what the backlog demo
observes. ``shutdown_gracefully()`` is Netty's: the boss closes the listener first (new
connections are refused), workers finish every request already read, then close and stop.
"""
from __future__ import annotations

import asyncio
import itertools
import selectors
import socket
import threading
import time
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from .common import ServerCounters, ThreadEmitter, listening_socket
from .worker import NioWorker

COMPONENT = "nio"


class NioServer:
    """Boss + ``workers`` selector loops serving the line pipeline on ``host:port``."""

    model = "nio"

    def __init__(self, *, stream: EventStream, host: str, port: int = 0, workers: int = 2, backlog: int = 128,
                 max_connections: int = 2048, max_frame: int = 1024, component: str = COMPONENT,
                 trace_budget: int = 20, correlation_id: str | None = None) -> None:
        self.stream = stream
        self.host, self.port = host, port
        self.backlog = backlog
        self.max_connections = max_connections
        self.counters = ServerCounters()
        self.emitter = ThreadEmitter(stream, component, trace_budget=trace_budget, correlation_id=correlation_id)
        self.workers = [NioWorker(i, self.counters, self.emitter, max_frame=max_frame) for i in range(workers)]
        self.selector_name = selectors.DefaultSelector.__name__
        self._listener: socket.socket | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._commands: list[str] = []
        self._boss: threading.Thread | None = None
        self._next_worker = itertools.cycle(self.workers)
        self._accepting = threading.Event()
        self._bound: Endpoint | None = None
        self.state = "stopped"

    @property
    def address(self) -> Endpoint:
        return self._bound or Endpoint(self.host, self.port)

    @property
    def threads(self) -> int:
        return 1 + len(self.workers)

    async def start(self) -> None:
        self.emitter.attach(asyncio.get_running_loop())
        listener = listening_socket(self.host, self.port, self.backlog)
        listener.setblocking(False)
        self._listener = listener
        self._wake_r, self._wake_w = socket.socketpair()
        self._bound = Endpoint.of(listener.getsockname())
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._accepting.set()
        for worker in self.workers:
            worker.start()
        self._boss = threading.Thread(target=self._boss_loop, name="nio-boss", daemon=True)
        self._boss.start()
        self.state = "running"
        self.emitter.emit(Kind.CONTROL, f"NIO server listening: 1 boss + {len(self.workers)} worker loops "
                          f"({self.selector_name})", src=self.address,
                          detail={"backlog": self.backlog, "workers": len(self.workers),
                                  "selector": self.selector_name})

    # -- the boss loop ---------------------------------------------------------------------
    def _boss_loop(self) -> None:
        assert self._selector is not None
        running = True
        while running:
            for key, _ in self._selector.select():
                if key.data == "wake":
                    running = self._run_commands()
                elif key.data == "accept":
                    self._accept_some()
        self._selector.close()

    def _accept_some(self) -> None:
        assert self._listener is not None
        for _ in range(256):  # bounded per wake-up so commands are never starved
            try:
                sock, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if self.counters.active >= self.max_connections:
                with self.counters.lock:
                    self.counters.rejected += 1
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.counters.opened()
            worker = next(self._next_worker)
            self.emitter.trace(Kind.ACCEPT, f"boss accepted {Endpoint.of(peer)} → worker {worker.index}",
                               src=Endpoint.of(peer), dst=self.address, detail={"worker": worker.index})
            worker.adopt(sock)

    def _run_commands(self) -> bool:
        try:
            assert self._wake_r is not None
            self._wake_r.recv(4096)
        except OSError:
            pass
        commands, self._commands = self._commands, []
        assert self._selector is not None and self._listener is not None
        for command in commands:
            if command == "pause" and self._accepting.is_set():
                self._selector.unregister(self._listener)
                self._accepting.clear()
            elif command == "resume" and not self._accepting.is_set():
                self._selector.register(self._listener, selectors.EVENT_READ, "accept")
                self._accepting.set()
            elif command == "stop":
                self._listener.close()  # from now on the kernel refuses new connections
                return False
        return True

    def _command(self, command: str) -> None:
        self._commands.append(command)
        try:
            if self._wake_w is not None:
                self._wake_w.send(b"x")
        except OSError:
            pass

    # -- control ---------------------------------------------------------------------------
    def pause_accepting(self) -> None:
        """Stop calling ``accept()``: new connections queue in the kernel, up to the backlog."""
        self._command("pause")

    def resume_accepting(self) -> None:
        self._command("resume")

    async def shutdown_gracefully(self, *, timeout: float = 5.0) -> dict[str, Any]:
        """Refuse new connections, finish every request already read, then stop the loops."""
        if self.state != "running":
            return {"in_flight_at_start": 0, "drained": True}
        self.state = "draining"
        started = time.perf_counter()
        in_flight = sum(w.in_flight for w in self.workers)
        self._command("stop")
        await asyncio.to_thread(self._join_boss)
        self.emitter.emit(Kind.CONTROL, f"shutdownGracefully: listener closed, {in_flight} request(s) in flight",
                          src=self.address, detail={"in_flight": in_flight})
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            worker.shutdown(graceful=True, deadline=deadline)
        await asyncio.to_thread(self._join_workers, timeout + 1)
        drained = all(w.drained for w in self.workers)
        elapsed = time.perf_counter() - started
        self.emitter.emit(Kind.CONTROL, f"all loops stopped after {elapsed * 1000:.0f} ms "
                          f"({'every in-flight request answered' if drained else 'timed out'})",
                          detail={"drained": drained, "elapsed_ms": round(elapsed * 1000, 1)})
        self._close_wake()
        self.state = "stopped"
        return {"in_flight_at_start": in_flight, "drained": drained, "elapsed_ms": round(elapsed * 1000, 1)}

    async def stop(self) -> None:
        """Hard stop: close the listener and every connection now."""
        if self.state == "stopped":
            self._close_wake()
            return
        self.state = "stopping"
        self._command("stop")
        for worker in self.workers:
            worker.shutdown(graceful=False, deadline=time.monotonic())
        await asyncio.to_thread(self._join_boss)
        await asyncio.to_thread(self._join_workers, 5.0)
        self._close_wake()
        self.state = "stopped"

    def _join_boss(self) -> None:
        if self._boss is not None:
            self._boss.join(5.0)
        if self._listener is not None:
            self._listener.close()

    def _join_workers(self, timeout: float) -> None:
        for worker in self.workers:
            worker.join(timeout)

    def _close_wake(self) -> None:
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "state": self.state, "address": list(self.address),
                "selector": self.selector_name, "threads": self.threads, "backlog": self.backlog,
                "accepting": self._accepting.is_set(), **self.counters.as_dict()}
