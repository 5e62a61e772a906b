"""Group commit for answers: the answers a worker receives within a few milliseconds are written
in one transaction, and each participant is acknowledged once that transaction has committed.

Why: recording an answer alone costs a few queries and a commit; a room of 1,000 answering at once
queued a thousand of those in each worker (9–12 s before the last was acknowledged). A batch costs
about the same as one answer, so the time to record a room grows with the number of *batches*:
while one batch commits, the next one gathers everything that arrives meanwhile.

Nothing is acknowledged before it is stored (the caller awaits the commit), so a worker restart
loses no acknowledged answer; an answer that was not yet acknowledged is resent by the page.
"""
from __future__ import annotations

import asyncio
import weakref

from channels.db import database_sync_to_async
from django.conf import settings

from . import services

#: How long the first answer of a batch waits for others. Small beside a commit; a lone answer
#: barely notices it.
GATHER_SECONDS = 0.005
MAX_BATCH = 500


class AnswerBatcher:
    """One per event loop (per worker; tests run several loops): one writer, batches in turn."""

    def __init__(self) -> None:
        self._queue: list[tuple[services.AnswerRequest, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def submit(self, request: services.AnswerRequest) -> services.AnswerOutcome:
        """Queue an answer; returns once it is committed, or raises the reason it was refused."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_all())
        outcome = await future
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _write_all(self) -> None:
        await asyncio.sleep(GATHER_SECONDS)
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                outcomes = await _record([request for request, _future in batch])
            except Exception as exc:  # noqa: BLE001 - the database failed: every waiting socket hears of it
                outcomes = [exc] * len(batch)
            for (_request, future), outcome in zip(batch, outcomes):
                if not future.done():  # its socket may have gone meanwhile
                    future.set_result(outcome)


#: SQLite takes one writer at a time, so there batches go through Channels' one database thread;
#: on PostgreSQL a worker thread of its own (the writer is one task, so one batch at a time).
_record = database_sync_to_async(services.answers_record,
                                 thread_sensitive=settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"))

_BATCHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AnswerBatcher] = weakref.WeakKeyDictionary()


def batcher() -> AnswerBatcher:
    """This event loop's batcher (keyed by the loop itself: a closed test loop's never serves a new one)."""
    loop = asyncio.get_running_loop()
    found = _BATCHERS.get(loop)
    if found is None:
        found = _BATCHERS[loop] = AnswerBatcher()
    return found
