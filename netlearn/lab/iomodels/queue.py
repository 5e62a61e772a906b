"""One comparison at a time for the whole process, and everyone else told their place.

A comparison saturates the machine on purpose (hundreds of clients, hundreds of threads); two at
once would measure each other. :class:`ComparisonQueue` is a FIFO of tickets guarded by a thread
lock, so it works whichever thread or event loop a caller runs on; a waiter sleeps on an
``asyncio.Event`` of its own loop, set with ``call_soon_threadsafe`` when its turn comes — no
polling. The site keeps one queue per process (the lab is one per process too).
"""
from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class Ticket:
    number: int
    label: str
    _event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)


class ComparisonQueue:
    def __init__(self, *, max_waiting: int = 50) -> None:
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._tickets: list[Ticket] = []  # [0] holds the slot
        self._numbers = itertools.count(1)

    def position(self, number: int) -> int | None:
        """0 = running now, 1 = next, …; None if that ticket is not queued."""
        with self._lock:
            for index, ticket in enumerate(self._tickets):
                if ticket.number == number:
                    return index
        return None

    def status(self) -> dict[str, object]:
        with self._lock:
            return {"running": self._tickets[0].label if self._tickets else None,
                    "waiting": len(self._tickets[1:] if self._tickets else []),
                    "queue": [t.label for t in self._tickets]}

    @asynccontextmanager
    async def slot(self, label: str = "comparison",
                   on_position: Callable[[int], None] | None = None) -> AsyncIterator[Ticket]:
        """Hold the one slot for the duration of the block; ``on_position`` hears the wait."""
        ticket = Ticket(next(self._numbers), label, asyncio.Event(), asyncio.get_running_loop())
        with self._lock:
            if len(self._tickets) > self.max_waiting:
                raise QueueFull(f"{len(self._tickets) - 1} comparisons are already waiting; try again shortly")
            self._tickets.append(ticket)
            position = len(self._tickets) - 1
            if position == 0:
                ticket._event.set()
        if on_position is not None:
            on_position(position)
        try:
            await ticket._event.wait()
            yield ticket
        finally:
            self._release(ticket)

    def _release(self, ticket: Ticket) -> None:
        with self._lock:
            was_first = bool(self._tickets) and self._tickets[0] is ticket
            self._tickets = [t for t in self._tickets if t is not ticket]
            following = self._tickets[0] if (was_first and self._tickets) else None
        if following is not None and following._loop is not None and not following._loop.is_closed():
            following._loop.call_soon_threadsafe(following._event.set)


class QueueFull(RuntimeError):
    """Too many comparisons waiting: a clear refusal rather than an unbounded queue."""
