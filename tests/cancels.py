"""Cancel a task after 0, 1, 2, ... turns of the event loop and see whether the cancel stuck.

Shared by the tests of ``netlearn.lab.timeouts.wait_for`` (an awaited event) and of
``netlearn.core.redisconf`` (a send to a real Redis): both look for the step at which Python 3.11's
``asyncio.wait_for`` drops a cancel (CPython gh-86296), which is only found by trying every step.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

#: Gives the task for one step, started; tidies up after it (a connection to close, say).
Started = Callable[[], AbstractAsyncContextManager["asyncio.Future[Any]"]]


async def steps_where_a_cancel_was_dropped(steps: int, started: Started) -> list[int]:
    """The steps (loop turns before the cancel) at which the task took the cancel (``cancel()``
    returned True) and yet did not end cancelled."""
    dropped = []
    for step in range(steps):
        async with started() as task:
            for _ in range(step):
                await asyncio.sleep(0)
            took_the_cancel = task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                continue
            if took_the_cancel:
                dropped.append(step)
    return dropped
