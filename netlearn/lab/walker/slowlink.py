"""The client's slow link (compare mode): what the browser sends arrives ``delay`` seconds later.

Why a class: a delayed send is a timer on the loop, and a timer can outlive the connection it
writes to. The walk closes its connection as soon as the last answer is in, while the client's
last flight (an ACK-like TLS record, an HTTP/2 SETTINGS ACK, a QUIC ACK or CONNECTION_CLOSE) may
still be "on the wire"; a bare ``call_later(delay, writer.write, ...)`` then fires on a closed
transport and uvloop logs ``RuntimeError: unable to perform operation on <TCPTransport
closed=True ...>`` for every comparison. Here each send is tracked: :meth:`drained` lets the
connection wait for what is still on the wire before it closes (the bytes really arrive, as on
a real slow link), and a send that comes due after the transport closed anyway (a failed walk
tearing down early) is dropped instead of raising on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..timeouts import wait_for


class SlowLink:
    def __init__(self, delay: float, *, closing: Callable[[], bool]) -> None:
        """``closing``: true once the transport may no longer be written to."""
        self.delay = max(0.0, delay)
        self._closing = closing
        self._in_flight = 0
        self._idle: asyncio.Event | None = None

    def send(self, write: Callable[..., Any], *args: Any) -> None:
        """``write(*args)`` now, or ``delay`` seconds from now (in order: timers of one delay keep
        their order, so a flight of several writes is delayed once, not once per write)."""
        if not self.delay:
            if not self._closing():
                write(*args)
            return
        self._in_flight += 1
        if self._idle is not None:
            self._idle.clear()
        asyncio.get_running_loop().call_later(self.delay, self._arrive, write, args)

    def _arrive(self, write: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._in_flight -= 1
        try:
            if not self._closing():
                write(*args)
        finally:
            if self._in_flight == 0 and self._idle is not None:
                self._idle.set()

    @property
    def in_flight(self) -> int:
        """Sends scheduled and not yet delivered."""
        return self._in_flight

    async def drained(self, timeout: float = 2.0) -> None:
        """Wait until every scheduled send has arrived (at most ``timeout``: closing must not hang)."""
        if self._in_flight == 0:
            return
        if self._idle is None:
            self._idle = asyncio.Event()
        try:
            await wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            pass
