"""The pooled-thread ASGI handler (netlearn.core.asgi_handler): sync code of every request runs on
a few long-lived threads, and an overloaded worker turns new requests away at once with a 503."""
from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core import signals
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path
from django.utils import translation

from netlearn.core.asgi_handler import BUSY_RETRY_AFTER, PooledThreadASGIHandler
from tests.waiting import eventually


def _thread_name(request: HttpRequest) -> HttpResponse:
    return HttpResponse(threading.current_thread().name)


def _healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


async def _async_view(request: HttpRequest) -> HttpResponse:
    """An async view (as the walk pages are): Django runs it on the event loop through async_to_sync;
    its sync_to_async calls come back to the request's borrowed thread."""
    outer_loop = asyncio.get_running_loop()
    name = await sync_to_async(lambda: threading.current_thread().name)()
    return HttpResponse(f"{name} {outer_loop is _LOOP[0]}")


def _streaming_in_korean(request: HttpRequest) -> StreamingHttpResponse:
    translation.activate("ko")
    return StreamingHttpResponse(translation.get_language() + f" {n}" for n in range(2))


def _stream_that_fails(request: HttpRequest) -> StreamingHttpResponse:
    def parts() -> Iterator[str]:
        yield "a part"
        raise RuntimeError("the stream failed")

    return StreamingHttpResponse(parts())


def _async_stream(request: HttpRequest) -> StreamingHttpResponse:
    async def parts() -> AsyncIterator[str]:
        for n in range(3):
            await asyncio.sleep(0)
            yield f"a{n}"

    return StreamingHttpResponse(parts())


def _fails(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view failed")


def handler500(request: HttpRequest) -> HttpResponse:
    return HttpResponse("failed", status=500)


_LOOP: list[asyncio.AbstractEventLoop] = []
urlpatterns = [path("thread/", _thread_name), path("healthz", _healthz), path("page/", _thread_name),
               path("lessons/<slug:slug>/<int:number>/", lambda request, slug, number: _thread_name(request)),
               path("async/", _async_view), path("stream/", _streaming_in_korean), path("fails/", _fails),
               path("stream-fails/", _stream_that_fails), path("async-stream/", _async_stream)]


async def _call(handler: PooledThreadASGIHandler, route: str,
                method: str = "GET") -> tuple[int, dict[bytes, bytes], bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": route, "raw_path": route.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    messages: list[dict[str, Any]] = []
    received = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not received.is_set():
            received.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        return {}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await handler(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


@pytest.fixture
def handler(settings) -> PooledThreadASGIHandler:
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.MIDDLEWARE = []
    return PooledThreadASGIHandler(threads=2, max_waiting=0)


def test_sync_code_runs_on_the_pooled_long_lived_threads(handler) -> None:
    async def run() -> set[str]:
        names = set()
        for _ in range(6):
            status, _, body = await _call(handler, "/thread/")
            assert status == 200
            names.add(body.decode())
        return names

    # Six requests, the same two long-lived threads (taken in turn from the pool), not a new
    # thread per request as Django's own handler would start.
    assert asyncio.run(run()) == {"django-sync-0_0", "django-sync-1_0"}


def test_an_async_view_runs_on_the_worker_loop_and_its_sync_calls_on_the_borrowed_thread(handler) -> None:
    """The one hop per request (``_hop``) tells the borrowed thread which loop it serves, as
    asgiref's ``sync_to_async`` did: an async view runs on that loop, not a loop of its own."""
    async def run() -> tuple[int, bytes]:
        _LOOP[:] = [asyncio.get_running_loop()]
        status, _, body = await _call(handler, "/async/")
        return status, body

    status, body = asyncio.run(run())
    assert status == 200
    name, same_loop = body.decode().split()
    assert name.startswith("django-sync-") and same_loop == "True"


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_a_streaming_response_is_sent_in_the_context_the_view_made(handler) -> None:
    """The language a view activated still holds while its streaming content is produced."""
    status, _, body = asyncio.run(_call(handler, "/stream/"))
    assert (status, body) == (200, b"ko 0ko 1")


@pytest.mark.parametrize("route, whole_body", [("/stream/", b"ko 0ko 1"), ("/page/", b"django-sync-0_0")])
def test_a_client_that_reads_nothing_does_not_hold_the_only_thread(handler, route, whole_body) -> None:
    """One thread on SQLite (netlearn/asgi.py): a client that takes none of its answer, streaming
    or not, must leave that thread free for the next learner's page. The thread is given back once
    the answer is made, before it is sent (a sync stream is read on the thread first, as Django's
    own handler reads it into memory); without that, the second page below waits for ever."""
    handler.threads, handler.max_waiting = 1, 100  # the SQLite default (netlearn/asgi.py)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": route, "raw_path": route.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5001), "server": ("testserver", 80)}

    async def run() -> tuple[int, bytes, bool, bytes]:
        reads = asyncio.Event()
        started_body = asyncio.Event()
        asked: list[bool] = []
        first_body: list[bytes] = []

        async def receive() -> dict[str, Any]:
            if not asked:  # a GET's empty body, then a client that never disconnects
                asked.append(True)
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()
            return {}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                started_body.set()
                await reads.wait()  # a client that does not read
                first_body.append(message.get("body", b""))

        first = asyncio.create_task(handler(scope, receive, send))
        await asyncio.wait_for(started_body.wait(), 10)
        status, _, body = await asyncio.wait_for(_call(handler, "/thread/"), 10)
        still_stuck = not first.done()
        reads.set()
        await asyncio.wait_for(first, 10)
        return status, body, still_stuck, b"".join(first_body)

    status, body, still_stuck, first_body = asyncio.run(run())
    assert still_stuck  # the first answer was still waiting on its client ...
    assert status == 200 and body.decode() == "django-sync-0_0"  # ... while the one thread served the next
    assert first_body == whole_body  # and it lost nothing


@contextlib.contextmanager
def _finished_on() -> Iterator[list[str]]:
    """The threads ``request_finished`` ran on, in order, while the block runs."""
    finished: list[str] = []

    def on_finished(**kwargs: Any) -> None:
        finished.append(threading.current_thread().name)

    signals.request_finished.connect(on_finished)
    try:
        yield finished
    finally:
        signals.request_finished.disconnect(on_finished)


def test_a_stream_is_closed_once_on_its_thread_and_a_failing_one_sends_no_header(handler, settings) -> None:
    """A sync stream is read and closed on the request's thread (``request_finished`` once, there).
    One that fails while read fails before a byte is sent, so the server can still answer 500
    (uvicorn does) instead of cutting off an answer whose 200 headers already went out."""
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    with _finished_on() as finished:
        status, _, body = asyncio.run(_call(handler, "/stream/"))
    assert (status, body) == (200, b"ko 0ko 1")
    assert finished == ["django-sync-0_0"]

    sent: list[dict[str, Any]] = []

    async def fail() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/stream-fails/", "raw_path": b"/stream-fails/", "query_string": b"",
                 "root_path": "", "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5000),
                 "server": ("testserver", 80)}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await handler(scope, receive, send)

    with pytest.raises(RuntimeError, match="the stream failed"):
        asyncio.run(fail())
    assert sent == []  # nothing went out: not a 200 cut off after "a part"


def test_an_async_stream_is_sent_and_closed_on_the_borrowed_thread(handler) -> None:
    with _finished_on() as finished:
        status, _, body = asyncio.run(_call(handler, "/async-stream/"))
    assert (status, body) == (200, b"a0a1a2")
    assert len(finished) == 1 and finished[0].startswith("django-sync-")


def test_a_failing_view_is_a_500_and_the_thread_serves_on(handler, settings) -> None:
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False

    async def run() -> list[int]:
        return [(await _call(handler, route))[0] for route in ("/fails/", "/thread/", "/fails/", "/thread/")]

    assert asyncio.run(run()) == [500, 200, 500, 200]


def test_a_queue_older_than_the_delay_limit_turns_new_pages_away(handler) -> None:
    handler.max_waiting, handler.max_queue_delay = 100, 0.3

    async def run() -> None:
        pool = handler._pool()
        lent = [await pool.acquire(False), await pool.acquire(False)]
        first = asyncio.ensure_future(_call(handler, "/page/"))  # queues: the queue is young
        await eventually(lambda: len(handler.waiting) == 1, "the first page waiting for a thread")
        assert not first.done()
        await eventually(lambda: time.monotonic() - handler.waiting[0] > handler.max_queue_delay,
                         "the oldest waiter older than the limit")
        status, _, _ = await asyncio.wait_for(_call(handler, "/page/"), 5)
        assert status == 503
        for executor in lent:
            pool.release(executor)
        status, _, _ = await asyncio.wait_for(first, 5)
        assert status == 200  # the one that queued is still served
        assert not handler.waiting

    asyncio.run(run())


def test_a_full_worker_turns_a_page_away_at_once_but_health_checks_wait(handler) -> None:
    async def run() -> None:
        pool = handler._pool()
        lent = [await pool.acquire(False), await pool.acquire(False)]  # every thread busy, no queue allowed
        status, headers, body = await asyncio.wait_for(_call(handler, "/page/"), 5)
        assert status == 503
        assert headers[b"retry-after"] == b"5" == str(BUSY_RETRY_AFTER).encode()  # README: `Retry-After: 5`
        text = body.decode()
        assert "try again in a few seconds" in text and "다시 시도해 주세요" in text
        health = asyncio.ensure_future(_call(handler, "/healthz"))
        await eventually(lambda: len(handler.waiting) == 1, "the health check waiting for a thread")
        assert not health.done()  # waits for a thread instead of being turned away
        for executor in lent:
            pool.release(executor)
        status, _, body = await asyncio.wait_for(health, 5)
        assert (status, body) == (200, b"ok")
        status, _, _ = await asyncio.wait_for(_call(handler, "/page/"), 5)
        assert status == 200  # threads free again: served

    asyncio.run(run())


def test_lesson_step_pages_are_served_first_and_never_turned_away(handler) -> None:
    async def run() -> None:
        pool = handler._pool()
        lent = [await pool.acquire(False), await pool.acquire(False)]  # every thread busy, no queue allowed
        assert (await asyncio.wait_for(_call(handler, "/page/"), 5))[0] == 503
        finished: list[str] = []
        other = asyncio.ensure_future(_call(handler, "/healthz"))  # waits (never turned away) ...
        other.add_done_callback(lambda _: finished.append("healthz"))
        await asyncio.sleep(0.1)
        step = asyncio.ensure_future(_call(handler, "/lessons/sample-lesson/2/"))  # ... and so does a step page
        step.add_done_callback(lambda _: finished.append("step"))
        await asyncio.sleep(0.1)
        assert finished == []
        pool.release(lent.pop())  # one thread comes back: the step page, though it came later, gets it
        results = await asyncio.wait_for(asyncio.gather(step, other), 5)
        assert [status for status, _, _ in results] == [200, 200]
        assert finished == ["step", "healthz"]
        assert handler.served_on_loop == 0  # this view is not marked onloop.may_run_on_loop: a thread


    asyncio.run(run())


@pytest.mark.parametrize("env, expected", [
    ({}, [1, 256, 2.0]),
    ({"DATABASE_URL": "postgres://netlearn@127.0.0.1:5/netlearn"}, [2, 256, 2.0]),
    ({"NETLEARN_SYNC_THREADS": "3", "NETLEARN_MAX_WAITING": "17", "NETLEARN_MAX_QUEUE_DELAY": "0.5"}, [3, 17, 0.5]),
], ids=["defaults", "postgresql-defaults", "from-the-environment"])
def test_the_worker_takes_its_thread_and_queue_limits_from_the_environment(env, expected) -> None:
    """README "Scale-out": NETLEARN_SYNC_THREADS (default 1 on SQLite, 2 with PostgreSQL),
    NETLEARN_MAX_WAITING (256) and NETLEARN_MAX_QUEUE_DELAY (2 s) configure the handler uvicorn
    serves (netlearn/asgi.py)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NETLEARN_", "DATABASE_URL"))}
    probe = ("import json, netlearn.asgi as a; h = a.django_asgi_app;"
             " print(json.dumps([h.threads, h.max_waiting, h.max_queue_delay]))")
    run = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[2],
                         env={**clean, "NETLEARN_LAB_MODE": "off", **env}, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == expected
