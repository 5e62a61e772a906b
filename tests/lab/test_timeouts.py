"""``netlearn.lab.timeouts.wait_for``: a cancel always sticks, and the deadline works as
``asyncio.wait_for``'s does. No sockets: an ``asyncio.Event`` set by the test is what is awaited.

The cancel is sent after 0, 1, 2, ... turns of the loop, while the awaited thing finishes, so it
lands at each point on the way, including the one where Python 3.11's ``asyncio.wait_for`` returns
the result and drops the cancel (CPython gh-86296). ``asyncio.wait_for`` is the control: on this
Python it drops the cancel at some step, or the test would prove nothing.
"""
from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from netlearn.lab.timeouts import wait_for
from tests.cancels import steps_where_a_cancel_was_dropped

#: Turns of the loop before the cancel: the awaited thing finishes after the first.
STEPS = 6

WaitFor = Callable[[Awaitable[Any], float | None], Awaitable[Any]]


async def _steps_where_a_cancel_was_dropped(bounded: WaitFor) -> list[int]:
    @asynccontextmanager
    async def waiting() -> AsyncIterator[asyncio.Future[str]]:
        ready = asyncio.Event()

        async def waiter() -> str:
            await bounded(ready.wait(), 10)
            return "ran on"

        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(0)  # the waiter is now waiting
        ready.set()
        yield task

    return await steps_where_a_cancel_was_dropped(STEPS, waiting)


async def test_asyncio_wait_for_drops_a_cancel_on_this_python() -> None:
    if sys.version_info >= (3, 12):
        pytest.skip("asyncio.wait_for no longer drops a cancel (gh-86296): the control cannot show it")
    assert await _steps_where_a_cancel_was_dropped(asyncio.wait_for) != []


async def test_ours_keeps_the_cancel_at_every_step() -> None:
    assert await _steps_where_a_cancel_was_dropped(wait_for) == []


async def test_it_returns_what_finished_in_time() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await wait_for(answer(), 5) == 42
    assert await wait_for(answer(), None) == 42


async def test_it_raises_timeout_error_and_cancels_what_it_waited_for() -> None:
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        await wait_for(forever(), 0.01)
    assert cancelled.is_set()


async def test_a_zero_deadline_still_gives_what_needs_no_wait() -> None:
    async def at_once() -> str:
        return "done"

    assert await wait_for(at_once(), 0) == "done"
    with pytest.raises(TimeoutError):
        await wait_for(asyncio.sleep(1), 0)


def test_no_module_of_netlearn_calls_asyncio_wait_for() -> None:
    """Read from the source: ``asyncio.wait_for(...)`` or ``wait_for`` imported from asyncio."""
    import ast
    from pathlib import Path

    import netlearn

    root = Path(netlearn.__file__).resolve().parent
    callers = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            called = (isinstance(node, ast.Attribute) and node.attr == "wait_for"
                      and isinstance(node.value, ast.Name) and node.value.id == "asyncio")
            imported = (isinstance(node, ast.ImportFrom) and node.module == "asyncio"
                        and any(alias.name == "wait_for" for alias in node.names))
            if called or imported:
                callers.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert callers == [], "use netlearn.lab.timeouts.wait_for"
