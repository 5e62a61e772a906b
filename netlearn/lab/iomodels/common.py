"""What the io-model servers share: reporting from their own threads, counters, process figures.

The OIO and NIO servers run on plain threads (that is the point of them), but the event stream
is published on the lab's loop. :class:`ThreadEmitter` hands each event to that loop with
``call_soon_threadsafe`` and spends a *trace budget*: the first connections are reported one by
one, the rest only in totals, so 500 clients cannot flood a learner's page.
"""
from __future__ import annotations

import asyncio
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream


class ThreadEmitter:
    """Emits on the stream from any thread, via the loop captured at start."""

    def __init__(self, stream: EventStream, component: str, *, trace_budget: int = 20,
                 correlation_id: str | None = None) -> None:
        self.stream = stream
        self.component = component
        self.correlation_id = correlation_id
        self._loop: asyncio.AbstractEventLoop | None = None
        self._budget = trace_budget
        self._lock = threading.Lock()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def emit(self, kind: Kind, summary: str, *, src: Endpoint | None = None, dst: Endpoint | None = None,
             detail: dict[str, Any] | None = None, data: bytes = b"") -> None:
        stream, component, cid = self.stream, self.component, self.correlation_id
        layer = 4 if kind in (Kind.ACCEPT, Kind.CLOSE) else 7

        def publish() -> None:
            stream.emit(component=component, layer=layer, kind=kind, summary=summary, src=src, dst=dst, data=data,
                        detail=detail, correlation_id=cid, transport="tcp")

        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if _running_loop() is loop:
                publish()
            else:
                loop.call_soon_threadsafe(publish)
        except RuntimeError:  # the loop closed under us while stopping: nothing left to tell
            pass

    def trace(self, kind: Kind, summary: str, **kwargs: Any) -> None:
        """Like :meth:`emit`, while the per-connection trace budget lasts."""
        with self._lock:
            if self._budget <= 0:
                return
            self._budget -= 1
        self.emit(kind, summary, **kwargs)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@dataclass
class ServerCounters:
    """Thread-safe enough counters: each is only incremented under ``lock``."""

    accepted: int = 0
    rejected: int = 0
    active: int = 0
    peak_active: int = 0
    requests: int = 0
    replies: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def opened(self) -> None:
        with self.lock:
            self.accepted += 1
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)

    def closed(self) -> None:
        with self.lock:
            self.active -= 1

    def add(self, *, requests: int = 0, replies: int = 0) -> None:
        with self.lock:
            self.requests += requests
            self.replies += replies

    def as_dict(self) -> dict[str, int]:
        return {"accepted": self.accepted, "rejected": self.rejected, "active": self.active,
                "peak_active": self.peak_active, "requests": self.requests, "replies": self.replies}


def rss_bytes() -> int:
    """This process's resident set size, from ``/proc`` (0 where there is none)."""
    try:
        with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def thread_count() -> int:
    """OS threads of this process (``threading`` does not see threads it did not start)."""
    try:
        return len(os.listdir(f"/proc/{os.getpid()}/task"))
    except OSError:
        return threading.active_count()


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A bound, listening TCP socket (closed again if binding fails): both the thread-per-
    connection and the selector servers accept from one, with the learner-visible backlog."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(backlog)
    except OSError:
        listener.close()
        raise
    return listener
