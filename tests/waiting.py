"""Wait for a state, not for a time: poll a predicate until it holds, with a generous deadline.

Tests never sleep to synchronise (a sleep is either too short on a loaded machine or wasted on
a quiet one) and never bound how long something took; they wait for what they need to see and
fail only if it has not happened after ``DEADLINE`` seconds.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

DEADLINE = 20.0


async def eventually(predicate: Callable[[], object], what: str, *, timeout: float = DEADLINE,
                     poll: float = 0.01) -> None:
    """Until ``predicate()`` is true (checked on this event loop between polls)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(poll)


async def eventually_async(predicate: Callable[[], Awaitable[object]], what: str, *, timeout: float = DEADLINE,
                           poll: float = 0.02) -> None:
    """The same for a predicate that must be awaited (it asks a server, say)."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(poll)


def eventually_sync(predicate: Callable[[], object], what: str, *, timeout: float = DEADLINE,
                    poll: float = 0.05) -> None:
    """The same for code without an event loop (a thread, a Playwright test)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(poll)
