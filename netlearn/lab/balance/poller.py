"""An epoll of the L4 balancer's own, watched by the lab's event loop as one reader.

Why not one transport (or one ``loop.add_reader``) per socket: an L4 balancer opens two sockets
per client, and the loop's per-socket machinery costs more than the relay itself. Measured with
``strace -c`` under a new connection per request: uvloop's transports fetch the peer and local
names of every socket (two system calls each) and set options, and uvloop's ``add_reader`` makes
a libuv poll handle per file descriptor (an ``ioctl`` and six ``epoll_ctl`` from adding to
removing). Here a socket costs one ``epoll_ctl`` (``ADD``); closing it drops it from the epoll
set without another call. The loop sees a single file descriptor (this epoll's) that becomes
readable whenever any of the balancer's sockets is ready, so everything still runs on the lab's
loop thread, in its callbacks, beside its timers and tasks: no thread, no second loop.

Edge-triggered (``EPOLLET``) with ``EPOLLRDHUP``: an event says "something changed"; a handler
reads until the socket has nothing more (a short read) and learns from ``EPOLLRDHUP`` that the
peer's FIN is already in, which spares the read that would only return the end of stream.
Linux only (``select.epoll``), as the lab's addresses (127.0.2.x) and ``IP_BIND_ADDRESS_NO_PORT``.
"""
from __future__ import annotations

import asyncio
import select
from collections.abc import Callable

#: Read interest: data, the peer's FIN, edge-triggered.
READ = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET
#: Read interest plus "writable again" (a connect in progress, or a write the kernel refused).
READ_WRITE = READ | select.EPOLLOUT
#: Level-triggered read interest, for the listening socket (accepts are batched, not drained).
READ_LEVEL = select.EPOLLIN
#: Events handled per wake-up before the loop gets its turn (its timers, the other servers).
BATCH = 256

Handler = Callable[[int], None]


class Poller:
    """File descriptor → handler(event mask), dispatched from one loop reader."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._epoll = select.epoll()
        self._handlers: dict[int, Handler] = {}
        #: Registered during the current dispatch: this batch's events for such an fd belong to
        #: the socket that had the number before (closed and reused within the batch).
        self._fresh: set[int] = set()
        #: Handled after the batch's other events: a listener, so that connections finishing in
        #: this batch are counted as finished before new ones are accepted (least connections).
        self._last: set[int] = set()
        loop.add_reader(self._epoll.fileno(), self._dispatch)

    def register(self, fd: int, mask: int, handler: Handler, *, last: bool = False) -> None:
        self._handlers[fd] = handler
        if last:
            self._last.add(fd)
        self._fresh.add(fd)
        self._epoll.register(fd, mask)

    def replace(self, fd: int, handler: Handler) -> None:
        """Hand a registered ``fd``'s events to another handler (same interest)."""
        self._handlers[fd] = handler

    def modify(self, fd: int, mask: int) -> None:
        self._epoll.modify(fd, mask)

    def forget(self, fd: int) -> None:
        """Drop ``fd``'s handler; the caller closes the socket next, which removes it from the
        epoll set (no ``epoll_ctl(DEL)`` needed: sockets here are never duplicated)."""
        self._handlers.pop(fd, None)
        self._last.discard(fd)

    def close(self) -> None:
        self._loop.remove_reader(self._epoll.fileno())
        self._handlers.clear()
        self._epoll.close()

    def _dispatch(self) -> None:
        handlers, fresh, last = self._handlers, self._fresh, self._last
        fresh.clear()
        deferred = []
        for fd, mask in self._epoll.poll(0, BATCH):
            if fd in last:
                deferred.append((fd, mask))
                continue
            handler = handlers.get(fd)
            if handler is not None and fd not in fresh:  # None: closed by an earlier handler of this batch
                handler(mask)
        for fd, mask in deferred:
            handler = handlers.get(fd)
            if handler is not None:
                handler(mask)
