"""A time-bounded await whose cancel always sticks, for every ``await`` with a deadline in NetLearn.

Why not ``asyncio.wait_for``: on Python 3.11 it runs the awaitable in a second task and, when the
caller is cancelled just as that task finishes, returns the result and drops the cancel (CPython
gh-86296; 3.12 rewrote ``wait_for`` on ``asyncio.timeout``). A server's connection loop that reads
with a deadline then reads on after its ``stop`` cancelled it, and the stop waits for that read's
deadline, or for ever if the loop has none of its own; a walk cancelled at a deadline keeps
running. This is 3.12's ``wait_for`` on 3.11's ``asyncio.timeout``: the awaitable runs in the
caller's own task, so a cancel reaches whatever it is awaiting. The same bug in redis-py's sends
is handled in ``netlearn.core.redisconf``. ``tests/lab/test_timeouts.py`` cancels at every step
and keeps ``asyncio.wait_for`` out of ``netlearn``.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(awaitable: Awaitable[T], timeout: float | None) -> T:
    """``await awaitable``, raising ``TimeoutError`` after ``timeout`` seconds (``None``: no bound;
    zero or less: only what finishes without waiting)."""
    async with asyncio.timeout(timeout):
        return await awaitable
