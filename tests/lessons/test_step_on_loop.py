"""A returning anonymous learner's cached step page is served on the worker's event loop, without a
thread (netlearn.core.onloop): the same status, headers and body as the pooled-thread path, bar the
per-response secrets (CSP nonce, masked CSRF token); everything else goes to a thread."""
from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from django.core.cache import cache

from netlearn.core.asgi_handler import PooledThreadASGIHandler
from netlearn.lessons import pagecache, progress, services
from netlearn.lessons.models import StepView

STEP2 = "/lessons/sample-lesson/2/"
STEP3 = "/lessons/sample-lesson/3/"


class Tab:
    """One browser tab: its cookies, and each request's status, headers and body."""

    def __init__(self, **headers: str) -> None:
        self.cookies: dict[str, str] = {}
        self.headers = {k.lower().replace("_", "-").encode(): v.encode() for k, v in headers.items()}

    async def get(self, handler: PooledThreadASGIHandler, path: str,
                  query: bytes = b"") -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        headers = [(b"host", b"testserver"), *self.headers.items()]
        if self.cookies:
            headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()).encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
                 "headers": headers, "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await handler(scope, receive, send)
        start = sent[0]
        for name, value in start["headers"]:
            if name.lower() == b"set-cookie":
                cookie, _, _ = value.decode().partition(";")
                key, _, val = cookie.partition("=")
                self.cookies[key.strip()] = val
        return start["status"], start["headers"], b"".join(m.get("body", b"") for m in sent[1:])


def _normalised(response: tuple[int, list[tuple[bytes, bytes]], bytes]) -> tuple[Any, ...]:
    """The response with this response's own secrets and clock replaced by placeholders."""
    status, headers, body = response
    text = body.decode()
    csp = dict((k.lower(), v) for k, v in headers)[b"content-security-policy"].decode()
    for nonce in set(re.findall(r"'nonce-([^']+)'", csp)):
        text = text.replace(nonce, "NONCE")
    text = re.sub(r"\b[A-Za-z0-9]{64}\b", "CSRF-TOKEN", text)  # a masked token: 64 letters and digits
    shown = []
    for name, value in headers:
        value_text = re.sub(r"'nonce-[^']+'", "'nonce-NONCE'", value.decode())
        value_text = re.sub(r"(csrftoken|sessionid)=[A-Za-z0-9]+", r"\1=SECRET", value_text)
        value_text = re.sub(r"expires=[^;]+", "expires=DATE", value_text)
        shown.append((name.decode().lower(), value_text))
    return status, shown, text


@pytest.fixture(autouse=True)
def _embedded_caches(settings) -> None:
    """The embedded defaults' local-memory caches (with Redis the page's entries are read ahead
    first: test_step_on_loop_redis.py). ``make test``'s second pass sets ``REDIS_URL``; these tests
    pin the embedded caches either way."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "step-on-loop-tests", "OPTIONS": {"MAX_ENTRIES": 50_000}}}


def test_with_redis_caches_the_loop_needs_the_entries_read_ahead(settings) -> None:
    """With Redis a sync cache read would block the loop: a page may run there only with its
    entries read ahead (``netlearn.core.loopcache``; served so in test_step_on_loop_redis.py)."""
    from netlearn.core import loopcache, onloop

    assert onloop.local_caches_only() and onloop.caches_in_memory()
    settings.CACHES = {"default": {"BACKEND": "netlearn.core.cache.FailSoftRedisCache",
                                   "LOCATION": "redis://127.0.0.1:9/0"}}
    assert not onloop.local_caches_only() and not onloop.caches_in_memory()
    assert loopcache.applies()
    token = loopcache.serving(loopcache.ReadAhead({}))
    try:
        assert onloop.caches_in_memory()
    finally:
        loopcache.done_serving(token)


@pytest.fixture
def handlers(transactional_db, content) -> tuple[PooledThreadASGIHandler, PooledThreadASGIHandler]:
    """The worker's handler (tries step pages on the loop) and one that always uses a thread."""
    pagecache.pages.clear()
    return PooledThreadASGIHandler(threads=2), PooledThreadASGIHandler(threads=2, on_loop=False)


#: A tab in English, one in Korean, and htmx asking for the fragment.
EACH_TAB = pytest.mark.parametrize("headers", [{"accept_language": "en"}, {"accept_language": "ko"},
                                               {"accept_language": "en", "hx_request": "true"}],
                                   ids=["english", "korean", "htmx-fragment"])


def returning_visit(on_loop: PooledThreadASGIHandler, threaded: PooledThreadASGIHandler,
                    headers: dict[str, str]) -> tuple[Any, Any]:
    """A returning visitor's step page as the loop's handler and the thread's answer it (the first
    visit, which makes the session, the visitor and the seen set, on a thread)."""
    tab = Tab(**headers)

    async def visit() -> tuple[Any, Any]:
        assert (await tab.get(threaded, STEP2))[0] == 200
        fast = await tab.get(on_loop, STEP2)
        slow = await tab.get(threaded, STEP2)
        return fast, slow

    return asyncio.run(visit())


@EACH_TAB
def test_a_returning_visitors_page_on_the_loop_is_the_threads_page(handlers, headers) -> None:
    on_loop, threaded = handlers
    fast, slow = returning_visit(on_loop, threaded, headers)
    assert on_loop.served_on_loop == 1
    assert _normalised(fast) == _normalised(slow)
    names = [name for name, _ in _normalised(fast)[1]]
    for header in ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy",
                   "cross-origin-opener-policy", "content-language", "vary", "set-cookie"):
        assert header in names, header
    assert b"The resolver walks from the root." in fast[2] or headers["accept_language"] == "ko"


def first_visits(on_loop: PooledThreadASGIHandler, threaded: PooledThreadASGIHandler,
                 headers: dict[str, str]) -> tuple[Tab, Any, Any, Any]:
    """A new learner's first step page from the loop's handler, a classmate's from the thread's, and
    the new learner's next page (another step) from the loop's; both pages rendered before."""
    tab = Tab(**headers)

    async def visit() -> tuple[Any, Any, Any]:
        classmate = Tab(**headers)
        assert (await classmate.get(threaded, STEP3))[0] == 200  # both pages rendered
        slow = await Tab(**headers).get(threaded, STEP2)
        fast = await tab.get(on_loop, STEP2)
        after = await tab.get(on_loop, STEP3)
        return fast, slow, after

    return (tab, *asyncio.run(visit()))


def seen_by(tab: Tab) -> frozenset[int]:
    """The steps this tab's learner has seen, as the database holds them after the journals' flush
    (a new session's row, journalled when progress is, and the views)."""
    from django.contrib.sessions.models import Session

    from netlearn.core import sessions

    if sessions.write_behind():
        sessions.journal().flush()
    visitor = Session.objects.get(session_key=tab.cookies["sessionid"]).get_decoded()[services.VISITOR_SESSION_KEY]
    progress.flush()
    return frozenset(StepView.objects.filter(visitor=visitor).values_list("step__number", flat=True))


@EACH_TAB
def test_a_new_learners_first_page_is_served_on_the_loop_and_their_session_reaches_the_database(
        handlers, progress_written_behind, headers) -> None:
    """No session yet: it is made in memory, its row journalled (``netlearn.core.sessions``); the
    page is the thread's, and the learner's next page finds both."""
    from django.contrib.sessions.models import Session

    on_loop, threaded = handlers
    tab, fast, slow, after = first_visits(on_loop, threaded, headers)
    assert on_loop.served_on_loop == 2  # the first page and the next
    assert fast[0] == 200 and _normalised(fast) == _normalised(slow)
    assert "sessionid" in tab.cookies and after[0] == 200
    assert not Session.objects.filter(session_key=tab.cookies["sessionid"]).exists()  # in the journal only
    assert seen_by(tab) == {2, 3}


def test_what_is_not_in_memory_goes_to_a_thread_and_is_served_all_the_same(handlers, learner) -> None:
    on_loop, _ = handlers
    tab = Tab(accept_language="en")

    async def visits() -> list[int]:
        statuses = [(await tab.get(on_loop, STEP2))[0]]  # no session yet: one is written
        assert on_loop.served_on_loop == 0
        statuses.append((await tab.get(on_loop, STEP3))[0])  # a first view, written in the request here
        assert on_loop.served_on_loop == 0
        statuses.append((await tab.get(on_loop, STEP2, query=b"x=1"))[0])  # a query string: rendered afresh
        assert on_loop.served_on_loop == 0
        statuses.append((await tab.get(on_loop, STEP2))[0])  # all in memory: on the loop
        assert on_loop.served_on_loop == 1
        pagecache.pages.clear()
        statuses.append((await tab.get(on_loop, STEP2))[0])  # the page to render: a thread
        statuses.append((await tab.get(on_loop, STEP2))[0])
        assert on_loop.served_on_loop == 2
        return statuses

    assert asyncio.run(visits()) == [200] * 6


def test_a_signed_in_learners_page_goes_to_a_thread(handlers, learner, client) -> None:
    on_loop, _ = handlers
    client.force_login(learner)
    tab = Tab(accept_language="en")
    tab.cookies["sessionid"] = client.cookies["sessionid"].value

    async def visits() -> list[int]:
        return [(await tab.get(on_loop, STEP2))[0] for _ in range(3)]

    assert asyncio.run(visits()) == [200, 200, 200]
    assert on_loop.served_on_loop == 0


def test_a_database_query_on_the_loop_sends_the_request_to_a_thread(handlers, monkeypatch, caplog) -> None:
    """The safety net: were a view to reach the database on the loop anyway, Django refuses
    (SynchronousOnlyOperation) and the request is served again on a thread, not answered with 500."""
    on_loop, _ = handlers
    tab = Tab(accept_language="en")

    async def visits() -> list[int]:
        statuses = [(await tab.get(on_loop, STEP2))[0], (await tab.get(on_loop, STEP2))[0]]
        assert on_loop.served_on_loop == 1
        cache.clear()  # the seen set (and the session) now only in the database...
        monkeypatch.setattr(services, "progress_in_memory", lambda **kwargs: True)  # ...and the check fooled
        monkeypatch.setattr("netlearn.core.sessions.SessionStore.cached_only", lambda self: True)
        statuses.append((await tab.get(on_loop, STEP2))[0])
        return statuses

    assert asyncio.run(visits()) == [200, 200, 200]
    assert on_loop.served_on_loop == 1
    assert "SynchronousOnlyOperation" in caplog.text  # the net caught it (Django logs the refusal)


def test_a_visitor_key_given_by_any_app_comes_with_an_empty_seen_set_in_the_cache(progress_written_behind) -> None:
    """A learner whose first act was an answer (the quizzes give the visitor key too): their first
    step page needs no query to learn they have seen nothing, so it too can be served on the loop."""
    from netlearn.core import anonymous

    session: dict[str, str] = {}
    anonymous.give_ids(session)
    visitor = session[services.VISITOR_SESSION_KEY]
    assert cache.get(progress.learner_of(user=None, visitor=visitor).cache_key) == frozenset()
    assert services.progress_in_memory(step_id=1, visitor=visitor)
