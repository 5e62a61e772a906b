"""The per-learner walk cap holds under concurrent POSTs (the count and the insert are atomic).

Runs in both passes of ``make test``: SQLite (IMMEDIATE transactions) and PostgreSQL (an
advisory lock), where two READ COMMITTED transactions used to both see room and both start.
"""

from __future__ import annotations

import asyncio

import pytest
from django.test import AsyncClient

from netlearn.lab import control
from netlearn.walks.models import Walk
from netlearn.walks.services import MAX_RUNNING_PER_LEARNER

pytestmark = pytest.mark.django_db(transaction=True)

BURST = 10


@pytest.fixture
def slow_backends(embedded_lab):
    """Every backend answers 5 s late: walks started in the burst are all still running at its end."""
    for n in range(1, 5):
        embedded_lab.submit(
            lambda lab, n=n: control.apply(lab, {"op": "latency", "backend": n, "seconds": 5})
        ).result(5)
    return embedded_lab


async def test_a_burst_of_concurrent_walk_posts_starts_no_more_than_the_cap(slow_backends) -> None:
    client = AsyncClient()
    await client.get("/walk/")  # a session, as a browser has
    session_key = client.cookies["sessionid"].value
    answers = await asyncio.gather(
        *[client.post("/walk/", {"url": "http://shop.netlearn.test/"}) for _ in range(BURST)]
    )
    statuses = sorted(answer.status_code for answer in answers)
    started = await Walk.objects.filter(session_key=session_key).acount()
    assert started == MAX_RUNNING_PER_LEARNER == 2, statuses  # README: at most 2 running walks per learner
    assert statuses == [302] * MAX_RUNNING_PER_LEARNER + [429] * (BURST - MAX_RUNNING_PER_LEARNER)
    busy = next(answer for answer in answers if answer.status_code == 429)
    assert "You already have walks running" in busy.content.decode()


async def test_a_burst_from_many_learners_starts_no_more_than_the_site_cap(
    slow_backends, monkeypatch
) -> None:
    from netlearn.walks import services

    assert services.MAX_RUNNING_TOTAL == 24  # README: 24 per process; 3 here, so 8 learners overflow it
    monkeypatch.setattr(services, "MAX_RUNNING_TOTAL", 3)
    learners = [AsyncClient() for _ in range(8)]
    for learner in learners:
        await learner.get("/walk/")
    answers = await asyncio.gather(
        *[learner.post("/walk/", {"url": "http://shop.netlearn.test/"}) for learner in learners]
    )
    assert await Walk.objects.filter(status=Walk.Status.RUNNING).acount() == 3
    assert sorted(a.status_code for a in answers) == [302] * 3 + [429] * 5
