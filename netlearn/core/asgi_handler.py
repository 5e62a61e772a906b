"""Django's ASGI handler, with a bounded pool of long-lived threads for each request's sync code.

Why: Django enters a fresh ``ThreadSensitiveContext`` for every request, so asgiref starts a new
thread for that request's sync code (sync middleware, ORM calls) and joins it at the end. Every
request then pays for a thread and, because Django's database connections belong to a thread,
for a new database connection (SQLite: open it and register Django's SQL functions; PostgreSQL:
a TCP and authentication handshake). Persistent connections (``CONN_MAX_AGE``) cannot help
there: each dead thread's connection would stay open until the process ends (the classroom
benchmark once exhausted PostgreSQL's connection limit that way). Profiled under the classroom
load, opening and closing connections and threads was a third of a step page's cost.

Here each request borrows one of ``NETLEARN_SYNC_THREADS`` long-lived single-thread executors
for its duration and gives it back (asgiref's ``ThreadSensitiveContext(executor=...)``): the sync
code of one request still runs on one thread, as Django requires; connections persist, one per
pooled thread, so a worker holds at most that many database connections; and a request that
arrives while every thread is lent out waits for one (back-pressure instead of a thread storm).
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self, threads: int) -> None:
        super().__init__()
        self.threads = max(1, threads)
        #: One pool per event loop (tests may serve from several loops in one process).
        self._pools: dict[asyncio.AbstractEventLoop, asyncio.Queue[ThreadPoolExecutor]] = {}

    def _pool(self) -> asyncio.Queue[ThreadPoolExecutor]:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            for old in [old for old in self._pools if old.is_closed()]:
                del self._pools[old]  # their threads are idle; they end with the process
            pool = asyncio.Queue()
            for n in range(self.threads):
                pool.put_nowait(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-sync-{n}"))
            self._pools[loop] = pool
        return pool

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        pool = self._pool()
        executor = await pool.get()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            pool.put_nowait(executor)


def get_asgi_application(threads: int) -> PooledThreadASGIHandler:
    """Like ``django.core.asgi.get_asgi_application``, with the pooled handler."""
    import django

    django.setup(set_prefix=False)
    return PooledThreadASGIHandler(threads)
