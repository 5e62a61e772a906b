"""Lesson steps' "try it" actions, through the site: POST, run in the embedded lab, result rendered."""
from __future__ import annotations

import pytest
from django.test import AsyncClient

from netlearn.lessons.models import Lesson, Step, Track
from netlearn.walks.models import Walk

from .test_services import _finished

pytestmark = pytest.mark.django_db(transaction=True)

ACTIONS = [
    ({"kind": "walk", "url": "http://shop.netlearn.test/"}, "walk-steps"),
    ({"kind": "dns_query", "name": "shop.netlearn.test", "type": "A", "server": "root"}, "RD=0"),
    ({"kind": "lb_distribution", "balancer": "l4", "algorithm": "round_robin", "requests": 8}, "bar-chart"),
    ({"kind": "backend_fault", "backend": 1, "fault": "error"}, "until the balancer marked it down"),
    ({"kind": "ha_failover"}, "failover gap"),
    ({"kind": "io_models", "clients": 10}, "EpollSelector"),
]


def _step(spec: dict, *, published: bool = True) -> Step:
    track, _ = Track.objects.get_or_create(slug="t", defaults={"title_en": "T", "title_ko": "T"})
    lesson, _ = Lesson.objects.get_or_create(slug=f"l-{published}", defaults={
        "track": track, "published": published, "title_en": "L", "title_ko": "L"})
    return Step.objects.create(lesson=lesson, number=lesson.steps.count() + 1, title_en="S", title_ko="S",
                               body_en="b", body_ko="b", lab_action=spec)


@pytest.mark.parametrize("spec, marker", ACTIONS, ids=[a[0]["kind"] for a in ACTIONS])
async def test_each_action_runs_for_real_and_renders_its_result(embedded_lab, spec, marker) -> None:
    from asgiref.sync import sync_to_async

    step = await sync_to_async(_step)(spec)
    client = AsyncClient()
    response = await client.post(f"/lab/try/{step.pk}/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    walk = await Walk.objects.filter(step_id=step.pk).afirst()
    assert walk is not None and walk.kind == spec["kind"]
    walk = await _finished(walk.id, timeout=30)
    assert walk.status == Walk.Status.DONE, (walk.code, walk.detail)
    assert walk.events, "an action leaves the events it really caused"
    if spec["kind"] == "walk":  # README: every lesson "try it" walk starts cold
        assert walk.params["cache"] == "cold" and walk.detail["capture"]["cache"] == "cold"
    page = await client.get(walk.get_absolute_url())
    assert page.status_code == 200
    assert marker in page.content.decode()


async def test_try_it_on_an_unpublished_lesson_is_404_for_learners(embedded_lab) -> None:
    from asgiref.sync import sync_to_async

    step = await sync_to_async(_step)({"kind": "ha_failover"}, published=False)
    response = await AsyncClient().post(f"/lab/try/{step.pk}/")
    assert response.status_code == 404
    assert await Walk.objects.acount() == 0


async def test_try_it_needs_post() -> None:
    response = await AsyncClient().get("/lab/try/1/")
    assert response.status_code == 405
