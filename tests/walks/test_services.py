"""walk_start: vetting, refusal without sockets, limits, and the stored record."""
from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from netlearn.walks import bridge
from netlearn.walks.models import Walk
from netlearn.walks.services import LabUnavailable, create_walk, start_from_thread, walk_start

pytestmark = pytest.mark.django_db(transaction=True)


async def _finished(walk_id, timeout: float = 15.0) -> Walk:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        walk = await Walk.objects.aget(id=walk_id)
        if walk.is_finished:
            return walk
        assert asyncio.get_running_loop().time() < deadline, "the walk did not finish"
        await asyncio.sleep(0.05)


async def test_refused_url_is_stored_without_touching_the_lab(connect_watch) -> None:
    walk = await walk_start(url="http://169.254.169.254/latest/meta-data/", session_key="s1")
    assert walk.status == Walk.Status.REFUSED and walk.code == "ip_literal"
    assert connect_watch.destinations == []


async def test_without_a_lab_a_valid_url_is_reported_unavailable() -> None:
    with pytest.raises(LabUnavailable):
        await walk_start(url="http://shop.netlearn.test/", session_key="s1")


async def test_a_walk_is_stored_with_its_events_and_topology(embedded_lab) -> None:
    walk = await walk_start(url="http://shop.netlearn.test/", session_key="s1")
    walk = await _finished(walk.id)
    assert walk.status == Walk.Status.DONE
    assert walk.backends and walk.backends[0].startswith("backend-")
    assert {e["component"] for e in walk.events} >= {"client", "resolver", "root", "tld", "authoritative", "l4"}
    assert walk.detail["topology"][embedded_lab.lab.config.client_host] == "client"
    assert walk.duration_ms > 0


async def test_a_learner_sees_only_their_own_walks(embedded_lab) -> None:
    mine = await walk_start(url="http://nope.netlearn.test/", session_key="mine")
    await walk_start(url="http://nope.netlearn.test/", session_key="theirs")
    visible = [w.id async for w in Walk.objects.for_learner(user=None, session_key="mine")]
    assert visible == [mine.id]


async def test_a_walk_created_on_a_thread_is_launched_on_the_site_loop_before_the_thread_returns(
        embedded_lab) -> None:
    """What a sync view does: the walk's launch is queued to the site's loop ahead of the view's
    answer, so its live buffer is open by the time the browser could ask for its socket."""
    created = await sync_to_async(lambda: start_from_thread(create_walk(url="http://shop.netlearn.test/",
                                                                         session_key="t")))()
    assert created.id.hex in bridge._live, "the live buffer opened before the view's answer reached the loop"
    walk = await _finished(created.id)
    assert walk.status == Walk.Status.DONE and walk.events


async def test_a_walk_whose_site_loop_is_gone_fails_at_once_instead_of_running_forever(
        embedded_lab, monkeypatch) -> None:
    closed = asyncio.new_event_loop()
    closed.close()
    monkeypatch.setattr(bridge, "_site_loop", closed)
    walk = await sync_to_async(lambda: start_from_thread(create_walk(url="http://shop.netlearn.test/",
                                                                      session_key="t")))()
    assert walk.status == Walk.Status.FAILED and walk.code == "lab_error"
    assert walk.id.hex not in bridge._live
