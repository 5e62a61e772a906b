"""A returning learner's question page on the scaled-out stack (the cache in Redis) is served on the
event loop after its session and the content version are read ahead (``netlearn.core.loopcache``),
the same page as the thread's. Against a real Redis (``services``: ``make test``'s second pass)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from netlearn.core.asgi_handler import PooledThreadASGIHandler
from netlearn.quizzes import selectors, views
from tests.lessons.test_step_on_loop import Tab

from .test_question_on_loop import PAGE, _masked, _question_pk, _returning

pytestmark = pytest.mark.services


def test_a_returning_learners_question_page_read_ahead_is_served_on_the_loop_and_is_the_threads_page(
        transactional_db, bank, redis_caches, client) -> None:
    views.question_pages.clear()
    selectors._displayed.clear()
    on_loop, threaded = PooledThreadASGIHandler(threads=2), PooledThreadASGIHandler(threads=2, on_loop=False)
    tab = Tab(accept_language="ko")
    _returning(tab, client)  # its session written through to Redis

    async def visit() -> tuple[Any, Any]:
        assert (await tab.get(threaded, PAGE))[0] == 200  # the page rendered and kept
        return await tab.get(on_loop, PAGE), await tab.get(threaded, PAGE)

    fast, slow = asyncio.run(visit())
    assert on_loop.served_on_loop == 1
    assert _masked(fast) == _masked(slow)
    assert _question_pk(fast[2]) == bank["tcp-first-segment"].pk
