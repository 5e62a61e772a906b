"""Ending the tasks a lab server started for its connections."""
from __future__ import annotations

import asyncio
from collections.abc import Collection


async def cancel_and_wait(tasks: Collection[asyncio.Task[object]]) -> None:
    """Cancel every task and wait until each has ended, so their ``finally`` blocks (closing a
    socket, counting a closed connection) have run when a server's ``stop`` returns. What a task
    raised on its way out is dropped: a stopping server must stop, whatever one connection did.
    A snapshot is taken first because finishing tasks remove themselves from the server's set."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
