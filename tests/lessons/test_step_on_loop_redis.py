"""On the scaled-out stack (the cache in Redis) a returning anonymous learner's step page is served on
the event loop after its cache entries are read ahead (``netlearn.core.loopcache``): the same answer
as the thread's, its write (a first view's seen set) in Redis, and anything not read ahead served on
a thread all the same. Against a real Redis (``services``: ``make test``'s second pass)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.core.cache import caches
from django.core.exceptions import SynchronousOnlyOperation

from netlearn.core import loopcache, sessions
from netlearn.core.asgi_handler import PooledThreadASGIHandler
from netlearn.core.sessions import SessionStore
from netlearn.lessons import pagecache, progress, services
from netlearn.lessons.models import Step, StepView

from .test_step_on_loop import EACH_TAB, STEP2, STEP3, Tab, _normalised, returning_visit, seen_by

pytestmark = pytest.mark.services


@pytest.fixture
def handlers(transactional_db, content, redis_caches) -> tuple[PooledThreadASGIHandler, PooledThreadASGIHandler]:
    """The worker's handler and one that always uses a thread, with the cache (and so the sessions,
    seen sets and content version) in Redis."""
    pagecache.pages.clear()
    return PooledThreadASGIHandler(threads=2), PooledThreadASGIHandler(threads=2, on_loop=False)


def _visitor_seen(tab: Tab) -> Any:
    """The visitor's seen set as Redis holds it (read on this thread, as any page on a thread would)."""
    visitor = SessionStore(tab.cookies["sessionid"]).load()[services.VISITOR_SESSION_KEY]
    return caches["default"].get(progress.Learner("v", visitor).cache_key)


@EACH_TAB
def test_a_returning_visitors_page_read_ahead_is_served_on_the_loop_and_is_the_threads_page(handlers, headers) -> None:
    on_loop, threaded = handlers
    fast, slow = returning_visit(on_loop, threaded, headers)
    assert on_loop.served_on_loop == 1
    assert fast[0] == 200 and _normalised(fast) == _normalised(slow)
    assert b"The resolver walks from the root." in fast[2] or headers["accept_language"] == "ko"


def test_a_first_view_on_the_loop_writes_the_seen_set_to_redis_and_the_progress_to_the_journal(
        handlers, progress_written_behind) -> None:
    """As a worker runs (the test settings write progress in the request, which needs a thread)."""
    on_loop, threaded = handlers
    tab = Tab(accept_language="en")
    step3 = Step.objects.get(lesson__slug="sample-lesson", number=3)

    async def visits() -> list[int]:
        statuses = [(await Tab(accept_language="en").get(threaded, STEP3))[0]]  # a classmate: page rendered
        statuses.append((await tab.get(threaded, STEP2))[0])
        statuses.append((await tab.get(on_loop, STEP3))[0])  # this learner's first view of step 3, on the loop
        return statuses

    assert asyncio.run(visits()) == [200, 200, 200]
    assert on_loop.served_on_loop == 1
    assert step3.pk in _visitor_seen(tab)  # written after the page, before its answer
    progress.flush()
    assert StepView.objects.filter(step=step3).exclude(visitor="").exists()


def test_on_the_loop_the_cache_answers_from_the_read_ahead_keeps_writes_and_refuses_the_rest(redis_caches) -> None:
    cache = caches["default"]
    cache.set("a", "in redis")
    read_ahead = loopcache.ReadAhead({"a": "read ahead", "b": None})
    token = loopcache.serving(read_ahead)
    try:
        assert cache.get("a") == "read ahead"  # not Redis's newer value: no round trip
        assert cache.get("b", "default") == "default" and cache.get_many(["a", "b"]) == {"a": "read ahead"}
        cache.set("c", {1, 2}, 60)
        assert cache.get("c") == {1, 2}  # the page reads its own write
        for refused in (lambda: cache.get("never read"), lambda: cache.add("d", 1), lambda: cache.incr("a"),
                        lambda: cache.delete("a"), lambda: cache.get("a", version=2)):
            with pytest.raises(SynchronousOnlyOperation):
                refused()
    finally:
        loopcache.done_serving(token)
    assert cache.get("c") is None  # kept, not sent yet
    asyncio.run(loopcache.write_behind(read_ahead))
    assert cache.get("c") == {1, 2} and cache.get("a") == "in redis"


def test_a_read_of_an_entry_not_read_ahead_sends_the_page_to_a_thread_which_serves_it(
        handlers, monkeypatch, caplog) -> None:
    """The safety net: a view that reads on the loop a key nobody read ahead (here the seen set, its
    source unregistered and the view's own check fooled) is refused, and the request is served
    again on a thread, correctly, rather than blocking the loop or answering 500."""
    on_loop, threaded = handlers
    monkeypatch.setattr(loopcache, "_session_key_sources", [])
    monkeypatch.setattr(services, "progress_in_memory", lambda **kwargs: True)
    tab = Tab(accept_language="en")

    async def visits() -> list[int]:
        statuses = [(await Tab(accept_language="en").get(threaded, STEP3))[0]]  # the page rendered
        statuses.append((await tab.get(threaded, STEP2))[0])
        statuses.append((await tab.get(on_loop, STEP3))[0])
        return statuses

    assert asyncio.run(visits()) == [200, 200, 200]
    assert on_loop.served_on_loop == 0
    assert "was not read ahead" in caplog.text  # the refusal, logged by Django as the net caught it
    assert Step.objects.get(lesson__slug="sample-lesson", number=3).pk in _visitor_seen(tab)  # the thread wrote it


def test_a_session_cookie_redis_does_not_hold_reads_nothing_ahead_and_the_page_goes_to_a_thread(handlers) -> None:
    """The session may be in the database only (evicted from Redis): a thread loads it."""
    on_loop, _ = handlers
    tab = Tab(accept_language="en")
    tab.cookies["sessionid"] = "nosuchsessionkeyatallxxxxxxxxxxx"

    async def visits() -> list[int]:
        return [(await tab.get(on_loop, STEP2))[0], (await tab.get(on_loop, STEP2))[0]]

    assert asyncio.run(visits()) == [200, 200]
    assert on_loop.served_on_loop == 1  # the first made a new session (a thread), the second read it ahead


@pytest.mark.parametrize("cookie", [None, "bad!"], ids=["no-cookie", "malformed-cookie"])
def test_a_new_learners_first_page_is_served_on_the_loop_with_the_session_in_redis_before_the_answer(
        handlers, progress_written_behind, cookie, monkeypatch) -> None:
    """Only the content version is read ahead; the new session goes to Redis before the answer
    (the next page, on any worker, must find it) and to the database through its journal."""
    from django.contrib.sessions.models import Session

    on_loop, threaded = handlers
    sent_before_answer: list[bool] = []
    send_response = on_loop.send_response

    async def watched(response: Any, send: Any) -> None:
        cookie = response.cookies.get("sessionid")
        if cookie is not None:  # what another worker would find while the answer is on its way
            sent_before_answer.append(caches["default"].get(SessionStore(cookie.value).cache_key) is not None)
        await send_response(response, send)

    monkeypatch.setattr(on_loop, "send_response", watched)
    headers = {"accept_language": "en"}
    tab = Tab(**headers)
    if cookie is not None:
        tab.cookies["sessionid"] = cookie

    async def visits() -> tuple[Any, Any, Any]:
        assert (await Tab(**headers).get(threaded, STEP3))[0] == 200  # both pages rendered
        slow = await Tab(**headers).get(threaded, STEP2)
        return await tab.get(on_loop, STEP2), slow, await tab.get(on_loop, STEP3)

    fast, slow, after = asyncio.run(visits())
    assert on_loop.served_on_loop == 2 and after[0] == 200
    assert _normalised(fast) == _normalised(slow)
    assert sent_before_answer == [True]
    assert not Session.objects.filter(session_key=tab.cookies["sessionid"]).exists()  # journalled ...
    sessions.journal().flush()
    assert Session.objects.filter(session_key=tab.cookies["sessionid"]).exists()  # ... and written by its flush
    assert seen_by(tab) == {2, 3}
