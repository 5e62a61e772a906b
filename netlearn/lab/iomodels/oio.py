"""OIO: blocking sockets, one thread per connection (Netty's OioEventLoopGroup, Java's old IO).

Theory of operation
-------------------
An acceptor thread blocks in ``accept()``; each accepted socket gets a thread of its own that
blocks in ``recv()``, runs the same :class:`~.pipeline.Pipeline`, and *sleeps* through a ``SLOW``
reply — simple code, and a whole thread (stack, scheduler entry) parked per idle client, which is
what the comparison and ``bench/c10k.py`` make visible.

Threads are bounded by ``max_threads``: at the cap the acceptor waits for a thread to end before
accepting again, so further clients wait in the kernel's backlog — the honest way such servers
degrade (a thread pool with a full queue). Stopping shuts the sockets down, which wakes every
thread blocked on them.
"""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from .common import ServerCounters, ThreadEmitter, listening_socket
from .pipeline import Pipeline

COMPONENT = "oio"


class _Connection:
    __slots__ = ("sock", "peer", "busy", "lock")

    def __init__(self, sock: socket.socket, peer: Endpoint) -> None:
        self.sock = sock
        self.peer = peer
        self.busy = False
        self.lock = threading.Lock()


class ThreadPerConnectionServer:
    model = "oio"

    def __init__(self, *, stream: EventStream, host: str, port: int = 0, max_threads: int = 1024,
                 backlog: int = 128, max_frame: int = 1024, component: str = COMPONENT,
                 trace_budget: int = 20, correlation_id: str | None = None) -> None:
        self.stream = stream
        self.host, self.port = host, port
        self.max_threads = max_threads
        self.backlog = backlog
        self.max_frame = max_frame
        self.counters = ServerCounters()
        self.emitter = ThreadEmitter(stream, component, trace_budget=trace_budget, correlation_id=correlation_id)
        self.peak_threads = 0
        self.state = "stopped"
        self._listener: socket.socket | None = None
        self._slots = threading.Semaphore(max_threads)
        self._connections: dict[int, _Connection] = {}
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._stopping = False
        self._acceptor: threading.Thread | None = None
        self._bound: Endpoint | None = None

    @property
    def address(self) -> Endpoint:
        return self._bound or Endpoint(self.host, self.port)

    @property
    def threads(self) -> int:
        """The acceptor plus one per live connection."""
        with self._lock:
            return 1 + len(self._threads)

    async def start(self) -> None:
        self.emitter.attach(asyncio.get_running_loop())
        listener = listening_socket(self.host, self.port, self.backlog)
        self._listener = listener
        self._bound = Endpoint.of(listener.getsockname())
        self._acceptor = threading.Thread(target=self._accept_loop, name="oio-acceptor", daemon=True)
        self._acceptor.start()
        self.state = "running"
        self.emitter.emit(Kind.CONTROL, f"OIO server listening: a thread per connection (cap {self.max_threads})",
                          src=self.address, detail={"max_threads": self.max_threads})

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping:
            self._slots.acquire()
            if self._stopping:
                self._slots.release()
                return
            try:
                sock, peer = self._listener.accept()
            except OSError:  # the listener was shut down: we are stopping
                self._slots.release()
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(sock, Endpoint.of(peer))
            self.counters.opened()
            thread = threading.Thread(target=self._serve, args=(connection,), name="oio-conn", daemon=True)
            with self._lock:
                self._connections[id(connection)] = connection
                self._threads.add(thread)
                self.peak_threads = max(self.peak_threads, 1 + len(self._threads))
            self.emitter.trace(Kind.ACCEPT, f"accepted {connection.peer}: new thread", src=connection.peer,
                               dst=self.address)
            thread.start()

    def _serve(self, connection: _Connection) -> None:
        pipeline = Pipeline(max_frame=self.max_frame)
        sock = connection.sock
        try:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                with connection.lock:
                    connection.busy = True
                replies = pipeline.feed(data)
                self.counters.add(requests=len(replies))
                for reply in replies:
                    if reply.delay > 0:
                        time.sleep(reply.delay)  # the thread is parked: that is the OIO model
                    sock.sendall(pipeline.encode(reply))
                    self.counters.add(replies=1)
                    if reply.close:
                        return
                with connection.lock:
                    connection.busy = False
                    if self._stopping:
                        return
        except OSError:
            return
        finally:
            sock.close()
            self.counters.closed()
            with self._lock:
                self._connections.pop(id(connection), None)
                self._threads.discard(threading.current_thread())
            self._slots.release()

    async def shutdown_gracefully(self, *, timeout: float = 5.0) -> dict[str, Any]:
        """Stop accepting; idle connections close now, busy ones after their reply."""
        started = time.perf_counter()
        in_flight = self._begin_stop(graceful=True)
        drained = await asyncio.to_thread(self._join, timeout)
        self.state = "stopped"
        return {"in_flight_at_start": in_flight, "drained": drained,
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)}

    async def stop(self) -> None:
        if self.state == "stopped" and self._listener is None:
            return
        self._begin_stop(graceful=False)
        await asyncio.to_thread(self._join, 5.0)
        self.state = "stopped"

    def _begin_stop(self, *, graceful: bool) -> int:
        self._stopping = True
        self.state = "stopping"
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            self._listener.close()
        if self._acceptor_waiting():
            self._slots.release()  # wake an acceptor parked at the thread cap
        in_flight = 0
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            with connection.lock:
                if connection.busy and graceful:
                    in_flight += 1
                    continue
                try:
                    connection.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        return in_flight

    def _acceptor_waiting(self) -> bool:
        with self._lock:
            return len(self._threads) >= self.max_threads

    def _join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if self._acceptor is not None:
            self._acceptor.join(max(0.0, deadline - time.monotonic()))
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return True
            if time.monotonic() >= deadline:
                for connection in list(self._connections.values()):
                    try:
                        connection.sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return False
            threads[0].join(min(0.2, max(0.0, deadline - time.monotonic())))

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "state": self.state, "address": list(self.address), "threads": self.threads,
                "peak_threads": self.peak_threads, "max_threads": self.max_threads, **self.counters.as_dict()}
