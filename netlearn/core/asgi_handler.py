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

Overload: when ``NETLEARN_MAX_WAITING`` requests already wait for a thread, or the oldest of
them has waited ``NETLEARN_MAX_QUEUE_DELAY`` seconds (a limit on time adapts to how fast the
machine is: measured, a queue of 256 meant 10 s waits on 2 busy cores), a new one is answered at
once with 503 and ``Retry-After`` (a short page in English and Korean, built without
Django so it costs next to nothing) instead of joining a queue it would leave only after the
browser gave up. ``/healthz`` and static files are never turned away: a balancer must not take a
busy worker for a dead one. Lesson step pages (GET ``/lessons/<slug>/<n>/``) are never turned
away either, and get the next free thread before any other waiting request: they come from a cache
and cost ~2 ms, so under overload a learner who is mid-lesson keeps reading while heavier pages wait
or are refused.

One hop per request: the middleware chain is loaded in *sync* mode and a request's whole Django
part (``request_started``, the middleware, the view, ``response.close()`` and so
``request_finished``) runs in one call on the borrowed thread; only reading the body and sending
the answer stay on the event loop. Django's own async mode would hop to a thread and back twice
for every ``MiddlewareMixin`` (``process_request`` and ``process_response``), once more for each
signal and once for the closing: profiled on the step page, ~26 hops and 4–6 ms of CPU a request
before any view code ran. Async views still work: Django calls them through ``async_to_sync``,
which runs them on this event loop (asgiref remembers it for the borrowed thread), and their
``sync_to_async`` calls come back to the same borrowed thread. The thread is given back once the
answer is made, before it is sent, so a client that reads slowly (or not at all) holds no thread:
a sync stream is read into memory on the thread first (Django's own handler does the same, with
``sync_to_async(list)``); an async stream (none here) keeps its thread until it is sent and closed.
The hop itself is ``_hop``: asgiref's ``sync_to_async`` minus its per-call machinery (see there).

No hop at all for an anonymous learner's cached step page or question page, returning or new: it is
tried on the loop first (``netlearn.core.onloop``: the same chain, run right here, when everything it
needs is in memory; a new learner's session row is written on a pooled thread after the answer),
and goes to a thread only when its view says so or it touched the database.
"""
from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import os
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, cast

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted, SynchronousOnlyOperation
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections
from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import set_script_prefix

from netlearn.core import loopcache, onloop

log = logging.getLogger("netlearn.asgi")

#: Seconds a turned-away browser is asked to wait before trying again.
BUSY_RETRY_AFTER = 5
#: Paths that wait for a thread however long the queue is.
NEVER_TURNED_AWAY = ("/healthz", "/static/")
#: Served first and never turned away: lesson step pages (cached, cheap; netlearn.lessons.pagecache).
FIRST_SERVED = re.compile(r"/lessons/[\w-]+/\d+/\Z")
#: Tried on the event loop first (``netlearn.core.onloop``): lesson step pages and single question
#: pages, which a returning anonymous learner gets from memory. A question page that needs a
#: thread after all queues like any other page (it is not served first).
TRIED_ON_LOOP = re.compile(r"/lessons/[\w-]+/\d+/\Z|/quizzes/q/[\w-]+/\Z")
BUSY_PAGE = ("""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>NetLearn is busy</title></head>
<body><main><h1>NetLearn is very busy right now</h1>
<p>Too many learners at once: nothing was lost. Please try again in a few seconds.</p>
<h1 lang="ko">지금 NetLearn 사용자가 매우 많습니다</h1>
<p lang="ko">동시에 접속한 학습자가 너무 많습니다. 잃어버린 것은 없으니 몇 초 뒤에 다시 시도해 주세요.</p>
<p><a href="">Try again · 다시 시도</a></p></main></body></html>""").encode()


class _ThreadPool:
    """Long-lived single-thread executors lent to one request at a time; waiting requests get them
    in order, lesson step pages first."""

    def __init__(self, threads: int) -> None:
        self.free = deque(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-sync-{n}")
                          for n in range(threads))  # taken in turn: every thread's connection stays warm
        self.first: deque[asyncio.Future[ThreadPoolExecutor]] = deque()
        self.rest: deque[asyncio.Future[ThreadPoolExecutor]] = deque()

    def empty(self) -> bool:
        return not self.free

    async def acquire(self, first: bool) -> ThreadPoolExecutor:
        if self.free:
            return self.free.popleft()
        waiter: asyncio.Future[ThreadPoolExecutor] = asyncio.get_running_loop().create_future()
        queue = self.first if first else self.rest
        queue.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # handed over just as the request went away
            else:
                try:
                    queue.remove(waiter)
                except ValueError:
                    pass
            raise

    def release(self, executor: ThreadPoolExecutor) -> None:
        for queue in (self.first, self.rest):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(executor)
                    return
        self.free.append(executor)


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self, threads: int, max_waiting: int = 256, max_queue_delay: float = 2.0,
                 on_loop: bool = True) -> None:
        super().__init__()
        #: Try lesson step pages and question pages on the event loop first (``netlearn.core.onloop``).
        self.on_loop = on_loop
        #: Requests answered on the loop without a thread (tests and benches read it).
        self.served_on_loop = 0
        self.threads = max(1, threads)
        self.max_waiting = max(0, max_waiting)
        self.max_queue_delay = max_queue_delay
        #: When each waiting request started to wait, oldest first.
        self.waiting: deque[float] = deque()
        #: One pool per event loop (tests may serve from several loops in one process).
        self._pools: dict[asyncio.AbstractEventLoop, _ThreadPool] = {}

    def load_middleware(self, is_async: bool = False) -> None:
        """Always the sync chain: it runs in one hop on a borrowed thread (see the module's doc)."""
        super().load_middleware(is_async=False)

    def _pool(self) -> _ThreadPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            for old in [old for old in self._pools if old.is_closed()]:
                del self._pools[old]  # their threads are idle; they end with the process
            pool = self._pools[loop] = _ThreadPool(self.threads)
        return pool

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        pool = self._pool()
        path = scope["path"]
        get = scope["method"] == "GET"
        first = get and FIRST_SERVED.match(path) is not None
        body_file = None
        if get and self.on_loop and not scope.get("query_string") and TRIED_ON_LOOP.match(path):
            in_memory = onloop.local_caches_only()
            read_ahead = None if in_memory else await loopcache.read_ahead(scope)
            if in_memory or read_ahead is not None:
                try:
                    body_file = await self.read_body(receive)
                except RequestAborted:
                    return
                if isinstance(body_file, io.BytesIO):
                    body = body_file.getvalue()
                    if await self._served_on_loop(scope, body_file, send, read_ahead):
                        return
                    body_file = io.BytesIO(body)  # the first try's request closed its copy
        if pool.empty() and not first and self.overloaded() and not path.startswith(NEVER_TURNED_AWAY):
            await self.turn_away(send)
            return
        since = time.monotonic()
        self.waiting.append(since)
        try:
            executor = await pool.acquire(first)
        finally:
            self.waiting.remove(since)
        answer: _Answer | None = None
        try:
            async with ThreadSensitiveContext(executor=executor):
                answer = await self.respond(scope, receive, executor, body_file)
                if answer is not None and answer.needs_thread:
                    await self.send_answer(answer, send)  # an async stream: closed on the thread
                    answer = None
        finally:
            pool.release(executor)  # before sending: a slow client does not hold the thread
        if answer is not None:
            await self.send_answer(answer, send)

    async def _served_on_loop(self, scope: dict[str, Any], body_file: Any, send: Any,
                              read_ahead: loopcache.ReadAhead | None = None) -> bool:
        """Run the request's sync chain right here on the loop (``netlearn.core.onloop``), its cache
        reads answered from ``read_ahead`` when given; False, with nothing sent, when the view asked
        for a thread or touched the database or a cache entry not read ahead. The database work it
        left for after the answer (``onloop.after_answer``: a new learner's session row) then runs
        on a pooled thread, and its cache writes go before the answer instead of after it."""
        run, token = onloop.enter()
        cache_token = loopcache.serving(read_ahead) if read_ahead is not None else None
        try:
            response = self._respond(scope, body_file)
        except SynchronousOnlyOperation:  # with DEBUG_PROPAGATE_EXCEPTIONS Django re-raises it
            run.failed = True
        finally:
            if cache_token is not None:
                loopcache.done_serving(cache_token)
            onloop.leave(token)
        if run.failed or not run.agreed or isinstance(response, onloop.ThreadNeeded) or response.streaming:
            return False
        self.served_on_loop += 1
        # Writes after the answer, off its latency (loopcache's doc); before it when the database
        # has yet to catch up (a new session's row, journalled or after the answer): the learner's
        # next request may come first.
        writes_first = run.writes_first
        if read_ahead is not None and writes_first:
            await loopcache.write_behind(read_ahead)
        try:
            await self.send_response(response, send)
        except asyncio.CancelledError:
            pass  # the client went away while we answered
        finally:
            body_file.close()
        if read_ahead is not None and not writes_first:
            await loopcache.write_behind(read_ahead)
        if run.after_answer:
            await self._run_after_answer(run.after_answer)
        return True

    async def _run_after_answer(self, work: list[Callable[[], None]]) -> None:
        """``work`` on a pooled thread, queued behind lesson step pages like any other request; a
        failure is logged (the answer is sent: there is no one to tell but the log)."""
        pool = self._pool()
        executor = await pool.acquire(first=False)
        try:
            await _hop(executor, contextvars.copy_context(), _run_logged, work)
        finally:
            pool.release(executor)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any,
                     executor: ThreadPoolExecutor | None = None, body_file: Any = None) -> None:
        """Django's ``ASGIHandler.handle`` with the request's sync part in one hop (``_respond``)."""
        answer = await self.respond(scope, receive, executor, body_file)
        if answer is not None:
            await self.send_answer(answer, send)

    async def respond(self, scope: dict[str, Any], receive: Any, executor: ThreadPoolExecutor | None = None,
                      body_file: Any = None) -> _Answer | None:
        """The request's answer, made (None: the client left before its body was read). Whatever
        of it needs the request's thread has run when this returns, unless ``needs_thread`` says
        otherwise (an async stream), so the caller can give the thread back before sending."""
        if body_file is None:
            try:
                body_file = await self.read_body(receive)
            except RequestAborted:
                return None
        try:
            if executor is None:  # called without a borrowed thread (Django's own entry points)
                response = await sync_to_async(self._respond_whole, thread_sensitive=True)(scope, body_file)
                return _Answer(response, None)
            context = contextvars.copy_context()
            return _Answer(await _hop(executor, context, self._respond_whole, scope, body_file), context)
        finally:
            body_file.close()

    async def send_answer(self, answer: _Answer, send: Any) -> None:
        if answer.needs_thread and answer.context is not None:
            # An async stream, sent from the context the response was made in (the language it
            # activated and the like), as asgiref's hop would have copied back.
            await asyncio.get_running_loop().create_task(self._send(answer.response, send), context=answer.context)
        else:
            await self._send(answer.response, send)

    async def _send(self, response: HttpResponseBase, send: Any) -> None:
        try:
            await self.send_response(response, send)
        except asyncio.CancelledError:
            pass  # the client went away while we answered
        if not response.closed:  # an async stream: closed once sent, as Django does
            await sync_to_async(response.close, thread_sensitive=True)()

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response = error_response if request is None else self.get_response(request)
        assert response is not None  # create_request gives a request or an error response
        response._handler_class = self.__class__  # type: ignore[attr-defined]  # as Django's own handler does
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            response.close()  # request_finished: this thread's database connection is checked here
        return response

    def _respond_whole(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """``_respond``, and a sync stream's content read while still on the request's thread:
        what Django's own handler does with one (``sync_to_async(list)``, then sent from memory),
        done before the thread is given back, so that no client, however slow, holds it. The
        stream becomes an async one over the parts, closed here (``request_finished`` on this
        thread, as for any other answer). Not on the loop's first try (``_served_on_loop``): a
        stream goes to a thread there anyway."""
        response = self._respond(scope, body_file)
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            try:
                parts = list(cast("Iterator[bytes]", response.streaming_content))  # fails: a 500, not a cut answer
            finally:
                response.close()
            response.streaming_content = _replayed_parts(parts)
        return response

    async def read_body(self, receive: Any) -> Any:
        """The body in memory when it is small (every page view: no temporary file a request);
        Django's spooled file for uploads."""
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestAborted()
        body = message.get("body", b"")
        if not message.get("more_body", False) and len(body) <= settings.FILE_UPLOAD_MAX_MEMORY_SIZE:
            return io.BytesIO(body)
        body_file = await super().read_body(_replay(message, receive))
        return body_file

    def overloaded(self) -> bool:
        if len(self.waiting) >= self.max_waiting:
            return True
        return bool(self.waiting) and time.monotonic() - self.waiting[0] >= self.max_queue_delay

    @staticmethod
    async def turn_away(send: Any) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(BUSY_PAGE)).encode()),
            (b"retry-after", str(BUSY_RETRY_AFTER).encode()), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": BUSY_PAGE})


def _run_logged(work: list[Callable[[], None]]) -> None:
    """Each of ``work`` in turn, on a pooled thread, as a request's would: its database connection
    checked afterwards (``request_finished`` closes one that is broken or too old)."""
    try:
        for item in work:
            try:
                item()
            except Exception:
                log.exception("work left for after an answer failed")
    finally:
        close_old_connections()


async def _hop(executor: ThreadPoolExecutor, context: contextvars.Context, func: Any, *args: Any) -> Any:
    """``func(*args)`` run in ``context`` on the borrowed thread, awaited: what
    ``sync_to_async(thread_sensitive=True)`` does inside a ``ThreadSensitiveContext``, for the one
    call every request makes, without its per-call machinery (a wrapper object, the executor
    look-up, a chained future, and every context variable copied across and back, twice: ~0.3 ms of
    a step page's ~1.5 ms in process, profiled). Kept from it: the thread learns this event loop and
    where to register an async view's task, so ``async_to_sync`` (Django calling an async view from
    the sync chain) runs the view on this loop and a cancelled request cancels it; the call runs in
    a copy of the caller's context; a cancelled request waits for its thread's call to end (the
    thread is lent to it until then)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()
    task_context: list[asyncio.Task[Any]] = []

    def settle(ok: bool, value: Any) -> None:
        if done.cancelled():
            return
        if ok:
            done.set_result(value)
        else:
            done.set_exception(value)

    def run() -> None:
        local = SyncToAsync.threadlocal
        local.main_event_loop, local.main_event_loop_pid, local.task_context = loop, os.getpid(), task_context
        try:
            value, ok = context.run(func, *args), True
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request as is
            value, ok = exc, False
        loop.call_soon_threadsafe(settle, ok, value)

    executor.submit(run)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        for view_task in task_context:
            view_task.cancel()
        while not done.done():
            try:
                await asyncio.shield(done)
            except asyncio.CancelledError:
                continue
            except BaseException:  # noqa: BLE001 - the cancelled request no longer wants it
                break
        raise


class _Answer(NamedTuple):
    """A response made, and the context it was made in (None: made outside a borrowed thread)."""

    response: HttpResponseBase
    context: contextvars.Context | None

    @property
    def needs_thread(self) -> bool:
        """An async stream's content is produced while it is sent, and then closed on the thread."""
        return self.response.streaming and not self.response.closed


async def _replayed_parts(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _replay(first: dict[str, Any], receive: Any) -> Any:
    """``receive`` that answers ``first`` once more before reading on."""
    pending = [first]

    async def replayed() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replayed


def get_asgi_application(threads: int, max_waiting: int = 256, max_queue_delay: float = 2.0,
                         on_loop: bool = True) -> PooledThreadASGIHandler:
    """Like ``django.core.asgi.get_asgi_application``, with the pooled handler."""
    import django

    django.setup(set_prefix=False)
    return PooledThreadASGIHandler(threads, max_waiting, max_queue_delay, on_loop)
