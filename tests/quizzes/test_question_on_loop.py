"""An anonymous learner's question page (returning, or new: no session yet) is served on the
worker's event loop, without a thread (netlearn.core.onloop), as step pages are: the same status,
headers and body as the pooled-thread path, bar the per-response secrets (CSP nonce, masked CSRF token, attempt token);
the attempt token made there is as good as a thread's; everything else goes to a thread."""
from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from django.core import signing
from django.test import Client

from netlearn.core.asgi_handler import PooledThreadASGIHandler
from netlearn.quizzes import selectors, views
from netlearn.quizzes.models import Attempt
from netlearn.quizzes.services import TOKEN_SALT
from tests.lessons.test_step_on_loop import Tab, _embedded_caches, _normalised  # noqa: F401 (a fixture)

PAGE = "/quizzes/q/tcp-first-segment/"
OTHER = "/quizzes/q/udp-connectionless/"
ORDERING = "/quizzes/q/tcp-handshake-order/"
TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')


@pytest.fixture
def handlers(transactional_db, bank) -> tuple[PooledThreadASGIHandler, PooledThreadASGIHandler]:
    """The worker's handler (tries question pages on the loop) and one that always uses a thread."""
    views.question_pages.clear()
    selectors._displayed.clear()
    return PooledThreadASGIHandler(threads=2), PooledThreadASGIHandler(threads=2, on_loop=False)


def _returning(tab: Tab, client: Client, path: str = PAGE) -> None:
    """Make ``tab`` a returning learner the way the class does: a question seen, an answer posted
    (which gives the anonymous learner their session), so the session lives in the local cache."""
    page = client.get(path).content.decode()
    choice = re.search(r'name="choice"[^>]* value="(\d+)"', page)[1]
    answer = client.post(f"{path}answer/", {"token": TOKEN_RE.search(page)[1], "choice": choice, "mode": "quiz"})
    assert answer.status_code == 200
    tab.cookies["sessionid"] = client.cookies["sessionid"].value
    tab.cookies["csrftoken"] = client.cookies["csrftoken"].value


def _question_pk(body: bytes) -> int:
    """The question an attempt token is for (it must verify: a forged one raises)."""
    return signing.loads(TOKEN_RE.search(body.decode())[1], salt=TOKEN_SALT)["q"]


def _masked(response: tuple[int, list[tuple[bytes, bytes]], bytes]) -> tuple[Any, ...]:
    status, headers, body = response
    return _normalised((status, headers, TOKEN_RE.sub('name="token" value="TOKEN"', body.decode()).encode()))


@pytest.mark.parametrize("headers", [{"accept_language": "en"}, {"accept_language": "ko"},
                                     {"accept_language": "en", "hx_request": "true"}],
                         ids=["english", "korean", "htmx"])
def test_a_returning_learners_question_on_the_loop_is_the_threads_page(handlers, bank, client, headers) -> None:
    on_loop, threaded = handlers
    tab = Tab(**headers)
    _returning(tab, client)

    async def visit() -> tuple[Any, Any]:
        assert (await tab.get(threaded, PAGE))[0] == 200  # the page rendered and kept in this language
        return await tab.get(on_loop, PAGE), await tab.get(threaded, PAGE)

    fast, slow = asyncio.run(visit())
    assert on_loop.served_on_loop == 1
    assert _masked(fast) == _masked(slow)
    assert TOKEN_RE.search(fast[2].decode())[1] != TOKEN_RE.search(slow[2].decode())[1]  # one per view
    assert _question_pk(fast[2]) == bank["tcp-first-segment"].pk
    names = [name for name, _ in _masked(fast)[1]]
    for header in ("content-security-policy", "x-frame-options", "content-language", "vary", "set-cookie"):
        assert header in names, header


def test_the_loops_attempt_token_records_the_answer(handlers, bank, client) -> None:
    """Nothing lost: the token signed on the loop is accepted, and the answer recorded once."""
    on_loop, _ = handlers
    tab = Tab(accept_language="en")
    _returning(tab, client)

    async def visits() -> bytes:
        return (await tab.get(on_loop, PAGE))[2]

    body = asyncio.run(visits())
    assert on_loop.served_on_loop == 1
    before = Attempt.objects.count()
    correct = bank["tcp-first-segment"].choices.get(correct=True)
    answer = client.post(f"{PAGE}answer/", {"token": TOKEN_RE.search(body.decode())[1], "choice": str(correct.pk),
                                            "mode": "quiz"})
    assert answer.status_code == 200
    from netlearn.quizzes import answerlog
    answerlog.flush()
    assert Attempt.objects.count() == before + 1


def test_what_is_not_in_memory_goes_to_a_thread_and_is_served_all_the_same(handlers, bank, client) -> None:
    on_loop, _ = handlers
    tab = Tab(accept_language="en")

    async def first() -> int:
        return (await tab.get(on_loop, PAGE))[0]  # the question not read yet: a thread

    statuses = [asyncio.run(first())]
    assert on_loop.served_on_loop == 0
    _returning(tab, client, OTHER)  # a session now, and OTHER's question kept; PAGE's not yet
    selectors._displayed.pop(("tcp-first-segment", next(iter(selectors._displayed))[1]), None)

    async def visits() -> list[int]:
        statuses = [(await tab.get(on_loop, PAGE))[0]]  # the question from the database: a thread
        statuses.append((await tab.get(on_loop, PAGE, query=b"mode=practice"))[0])  # rendered afresh
        statuses.append((await tab.get(on_loop, ORDERING))[0])  # shuffled per view: a thread
        statuses.append((await tab.get(on_loop, ORDERING))[0])
        statuses.append((await tab.get(on_loop, "/quizzes/q/no-such-question/"))[0])  # a miss: a thread, 404
        assert on_loop.served_on_loop == 0
        statuses.append((await tab.get(on_loop, PAGE))[0])  # all in memory: on the loop
        assert on_loop.served_on_loop == 1
        views.question_pages.clear()
        statuses.append((await tab.get(on_loop, PAGE))[0])  # the page to render: a thread
        assert on_loop.served_on_loop == 1
        return statuses

    assert statuses + asyncio.run(visits()) == [200] * 5 + [404, 200, 200]


def test_a_signed_in_learners_question_goes_to_a_thread(handlers, client, django_user_model) -> None:
    """A signed-in learner's account corner (and anything keyed to the account) reads the database."""
    on_loop, _ = handlers
    client.force_login(django_user_model.objects.create_user("learner", password="pw-learner-123"))
    tab = Tab(accept_language="en")
    tab.cookies["sessionid"] = client.cookies["sessionid"].value

    async def visits() -> list[int]:
        return [(await tab.get(on_loop, PAGE))[0] for _ in range(3)]

    assert asyncio.run(visits()) == [200, 200, 200]
    assert on_loop.served_on_loop == 0


def test_with_redis_caches_a_returning_learners_question_goes_to_a_thread(handlers, client, settings) -> None:
    """With Redis a session or cache read is a network round trip, which must not block the loop."""
    on_loop, _ = handlers
    tab = Tab(accept_language="en")
    _returning(tab, client)
    settings.CACHES = {"default": {"BACKEND": "netlearn.core.cache.FailSoftRedisCache",
                                   "LOCATION": "redis://127.0.0.1:9/0"}}  # nothing listens: every read misses

    async def visits() -> list[int]:
        return [(await tab.get(on_loop, PAGE))[0] for _ in range(2)]

    assert asyncio.run(visits()) == [200, 200]
    assert on_loop.served_on_loop == 0


def test_a_new_learners_question_is_served_on_the_loop_and_gives_no_session(handlers, bank) -> None:
    """No session cookie yet: nothing to read but the question, and the page writes nothing, so it
    is served on the loop (``onloop.anonymous_in_memory``) and browsing still makes no session."""
    on_loop, threaded = handlers
    newcomer = Tab(accept_language="en")

    async def visits() -> tuple[Any, Any]:
        assert (await Tab(accept_language="en").get(threaded, PAGE))[0] == 200  # a classmate: the page kept
        return await newcomer.get(on_loop, PAGE), await Tab(accept_language="en").get(threaded, PAGE)

    fast, slow = asyncio.run(visits())
    assert on_loop.served_on_loop == 1
    assert _masked(fast) == _masked(slow)
    assert "sessionid" not in newcomer.cookies
