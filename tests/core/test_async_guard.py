"""Django's async-safety guard is on in the tests and in every server the tests start.

A lazy ORM access on an event loop raises ``SynchronousOnlyOperation`` in production; if the
tests lifted the guard, such a bug would pass CI. Only a Playwright test's own thread lifts it
(``tests/conftest.py``; browser tests run last).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import SynchronousOnlyOperation

from netlearn.devtools.stack import worker_env
from netlearn.lessons.models import Track

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_orm_call_on_the_event_loop_raises() -> None:
    with pytest.raises(SynchronousOnlyOperation):
        Track.objects.count()
    await Track.objects.acreate(slug="async-guard", order=1, title_en="Async", title_ko="비동기")
    assert await Track.objects.acount() == 1  # the async API is the way


def test_server_processes_never_inherit_a_lifted_guard(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    env = worker_env(database_url="postgresql://x@127.0.0.1:1/x", redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path)
    assert "DJANGO_ALLOW_ASYNC_UNSAFE" not in env
