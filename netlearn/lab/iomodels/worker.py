"""One NIO worker loop: a selector, the channels it owns, and a timer heap.

Replies are kept per channel in request order: a ``SLOW`` reply is a timer on this loop, and an
``ECHO`` sent right after it must still be answered after it (HTTP/1.1 pipelining has the same
rule). Writes that do not fit in the socket buffer wait for ``EVENT_WRITE``.
"""
from __future__ import annotations

import collections
import heapq
import itertools
import selectors
import socket
import threading
import time

from ..events import Endpoint, Kind
from .common import ServerCounters, ThreadEmitter
from .pipeline import Pipeline, Reply


class Channel:
    __slots__ = ("sock", "peer", "pipeline", "out", "queue", "closing")

    def __init__(self, sock: socket.socket, pipeline: Pipeline) -> None:
        self.sock = sock
        self.peer = Endpoint.of(sock.getpeername())
        self.pipeline = pipeline
        self.out = bytearray()
        #: Replies in request order; ``[reply, ready]``: a delayed one becomes ready on its timer.
        self.queue: collections.deque[list] = collections.deque()
        self.closing = False


class NioWorker:
    def __init__(self, index: int, counters: ServerCounters, emitter: ThreadEmitter, *, max_frame: int) -> None:
        self.index = index
        self.counters = counters
        self.emitter = emitter
        self.max_frame = max_frame
        self.channels: dict[int, Channel] = {}
        self.drained = True
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._incoming: collections.deque[socket.socket] = collections.deque()
        self._timers: list[tuple[float, int, Channel, list]] = []
        self._order = itertools.count()
        self._shutdown: tuple[bool, float] | None = None
        self._thread = threading.Thread(target=self._loop, name=f"nio-worker-{index}", daemon=True)

    @property
    def in_flight(self) -> int:
        """Requests read whose reply has not been fully written yet."""
        return sum(len(ch.queue) + (1 if ch.out else 0) for ch in list(self.channels.values()))

    def start(self) -> None:
        # Created here, not in __init__, so a server that never starts holds no descriptors.
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def adopt(self, sock: socket.socket) -> None:
        """Called from the boss thread: queue the socket and wake this loop."""
        self._incoming.append(sock)
        self._wake()

    def shutdown(self, *, graceful: bool, deadline: float) -> None:
        self._shutdown = (graceful, deadline)
        self._wake()

    def _wake(self) -> None:
        try:
            if self._wake_w is not None:
                self._wake_w.send(b"x")
        except OSError:
            pass

    # -- the loop --------------------------------------------------------------------------
    def _loop(self) -> None:
        assert self._selector is not None and self._wake_r is not None and self._wake_w is not None
        try:
            while not self._should_exit():
                timeout = None
                if self._timers:
                    timeout = max(0.0, self._timers[0][0] - time.monotonic())
                if self._shutdown is not None:
                    timeout = 0.01 if timeout is None else min(timeout, 0.01)
                for key, mask in self._selector.select(timeout):
                    if key.data is None:
                        self._drain_wake()
                    else:
                        self._on_ready(key.data, mask)
                self._run_timers()
        finally:
            for channel in list(self.channels.values()):
                self._close(channel)
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()
            while self._incoming:  # adopted after we decided to stop: close, never leak
                self._incoming.popleft().close()

    def _should_exit(self) -> bool:
        if self._shutdown is None:
            return False
        graceful, deadline = self._shutdown
        if not graceful:
            self.drained = self.in_flight == 0
            return True
        if self.in_flight == 0:
            self.drained = True
            return True
        if time.monotonic() >= deadline:
            self.drained = False
            return True
        return False

    def _drain_wake(self) -> None:
        try:
            assert self._wake_r is not None
            self._wake_r.recv(4096)
        except OSError:
            pass
        assert self._selector is not None
        while self._incoming:
            sock = self._incoming.popleft()
            try:
                channel = Channel(sock, Pipeline(max_frame=self.max_frame))
            except OSError:  # the peer reset before we got to it
                sock.close()
                self.counters.closed()
                continue
            self.channels[sock.fileno()] = channel
            self._selector.register(sock, selectors.EVENT_READ, channel)

    def _on_ready(self, channel: Channel, mask: int) -> None:
        assert self._selector is not None
        if mask & selectors.EVENT_READ and not channel.closing:
            try:
                data = channel.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self._close(channel)
                return
            if data == b"":
                self._close(channel)
                return
            if data:
                self._on_data(channel, data)
        if channel.sock.fileno() >= 0 and channel.out:
            self._flush(channel)

    def _on_data(self, channel: Channel, data: bytes) -> None:
        replies = channel.pipeline.feed(data)
        self.counters.add(requests=len(replies))
        for reply in replies:
            entry = [reply, reply.delay <= 0]
            channel.queue.append(entry)
            if not entry[1]:
                heapq.heappush(self._timers, (time.monotonic() + reply.delay, next(self._order), channel, entry))
            if reply.close:
                channel.closing = True  # read nothing more; answer what we have
                break
        self._move_ready(channel)

    def _run_timers(self) -> None:
        now = time.monotonic()
        touched = []
        while self._timers and self._timers[0][0] <= now:
            _, _, channel, entry = heapq.heappop(self._timers)
            entry[1] = True
            touched.append(channel)
        for channel in touched:
            if channel.sock.fileno() >= 0:
                self._move_ready(channel)

    def _move_ready(self, channel: Channel) -> None:
        close_after = False
        while channel.queue and channel.queue[0][1]:
            reply: Reply = channel.queue.popleft()[0]
            channel.out += channel.pipeline.encode(reply)
            self.counters.add(replies=1)
            if reply.close:
                close_after = True
                channel.queue.clear()
                break
        self._flush(channel)
        if close_after and not channel.out and channel.sock.fileno() >= 0:
            self._close(channel)

    def _flush(self, channel: Channel) -> None:
        if channel.out:
            try:
                sent = channel.sock.send(channel.out)
                del channel.out[:sent]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._close(channel)
                return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if channel.out else 0)
        selector = self._selector
        if selector is None:  # the loop has stopped
            return
        try:
            if selector.get_key(channel.sock).events != want:
                selector.modify(channel.sock, want, channel)
        except (KeyError, ValueError):
            return
        if channel.closing and not channel.out and not channel.queue:
            self._close(channel)

    def _close(self, channel: Channel) -> None:
        fileno = channel.sock.fileno()
        if fileno < 0:
            return
        try:
            if self._selector is not None:
                self._selector.unregister(channel.sock)
        except (KeyError, ValueError):
            pass
        self.channels.pop(fileno, None)
        channel.queue.clear()
        channel.out.clear()
        channel.sock.close()
        self.counters.closed()
        self.emitter.trace(Kind.CLOSE, f"worker {self.index} closed {channel.peer}", src=channel.peer)
