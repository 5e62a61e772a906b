"""Korean everywhere, for every event: each try-it step of each shipped lesson runs for real in the
embedded lab, and its result (the panel the lesson shows, the full page and every step's inspector)
holds no English sentence on a Korean page. So does an HTTP/3 walk, whose QUIC events no lesson's
try-it produces.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from netlearn.lab import calls
from netlearn.walks import bridge
from netlearn.walks.models import Walk
from netlearn.walks.services import _insert_running, _run, walk_finish
from tests.i18n_check import english_sentences

from .test_services import _finished

pytestmark = pytest.mark.django_db(transaction=True)
KO = {"accept-language": "ko"}


async def _english_on(client: AsyncClient, path: str, **headers: str) -> list[str]:
    response = await client.get(path, headers={**KO, **headers})
    assert response.status_code == 200, path
    return [f"{path}: {s}" for s in english_sentences(response.content.decode())]


def _shape(event: dict) -> tuple:
    """What decides an event's sentences: its kind, who emitted it (backends are alike) and the
    message keys of its detail. One inspector per shape covers every sentence the walk can show."""
    detail = event.get("detail") or {}
    who = "backend" if event["component"].startswith("backend-") else event["component"]
    keys = tuple(str(detail.get(k)) for k in ("step", "handler", "action", "event", "direction", "encrypted",
                                              "algorithm", "cookie", "state", "cause", "mode", "ok", "changed"))
    return event["kind"], who, keys, tuple(sorted(detail))


async def _english_in_walk(client: AsyncClient, walk: Walk) -> list[str]:
    """The walk's full page (every step's summary), the panel a lesson swaps in, and the inspector
    of one step of each shape (``tests/walks/test_korean_pages.py`` opens every inspector of a walk)."""
    url = walk.get_absolute_url()
    found = await _english_on(client, url)
    found += await _english_on(client, url, **{"HX-Request": "true"})
    shapes: set[tuple] = set()
    for seq, event in enumerate(walk.events):
        if _shape(event) not in shapes:
            shapes.add(_shape(event))
            found += await _english_on(client, f"{url}step/{seq}/")
    return found


def _shipped_try_its() -> dict[str, list[str]]:
    """Each distinct try-it action of the shipped lessons, with the steps ("slug/number") that carry it.
    Read from the content files at collection time so that each action is its own test."""
    found: dict[str, list[str]] = {}
    for path in sorted((Path(__file__).resolve().parents[2] / "fixtures" / "content").glob("*.json")):
        for lesson in json.loads(path.read_text()).get("lessons", []):
            for number, step in enumerate(lesson.get("steps", []), start=1):
                if step.get("lab_action"):
                    key = json.dumps(step["lab_action"], sort_keys=True)
                    found.setdefault(key, []).append(f"{lesson['slug']}/{step.get('number', number)}")
    return found


TRY_ITS = _shipped_try_its()


def test_the_shipped_course_has_try_its_of_every_kind() -> None:
    assert sum(len(steps) for steps in TRY_ITS.values()) >= 40
    assert {json.loads(spec)["kind"] for spec in TRY_ITS} == {
        "walk", "dns_query", "lb_distribution", "backend_fault", "ha_failover", "io_models", "http_exchange"}


def _step_carrying(spec: dict) -> int:
    from netlearn.lessons.models import Lesson, Step, Track

    track, _ = Track.objects.get_or_create(slug="t", defaults={"title_en": "T", "title_ko": "T"})
    lesson, _ = Lesson.objects.get_or_create(slug="l", defaults={"track": track, "published": True,
                                                                  "title_en": "L", "title_ko": "L"})
    return Step.objects.create(lesson=lesson, number=lesson.steps.count() + 1, title_en="S", title_ko="S",
                               body_en="b", body_ko="b", lab_action=spec).pk


@pytest.mark.timeout(300)
@pytest.mark.parametrize("spec", list(TRY_ITS), ids=[" ".join(steps) for steps in TRY_ITS.values()])
async def test_every_try_it_of_every_lesson_in_korean(embedded_lab, spec: str) -> None:
    """The real action, started as the lesson's button starts it, rendered in Korean."""
    pk = await sync_to_async(_step_carrying)(json.loads(spec))
    client = AsyncClient(headers=KO)
    response = await client.post(f"/lab/try/{pk}/", headers={**KO, "HX-Request": "true"})
    assert response.status_code == 200, response.content[:300]
    found = [f"(started): {s}" for s in english_sentences(response.content.decode())]
    walk = await Walk.objects.filter(step_id=pk).afirst()
    assert walk is not None
    walk = await _finished(walk.id, timeout=90)
    assert walk.status == Walk.Status.DONE, (walk.code, walk.detail)
    assert walk.events, "the action left the events it caused"
    found += await _english_in_walk(client, walk)
    assert not found, f"English in the Korean result of {TRY_ITS[spec]}:\n" + "\n".join(sorted(set(found))[:120])


async def test_an_http3_walk_in_korean(embedded_lab) -> None:
    """No page starts an HTTP/3 walk on its own (the compare page walks it and keeps numbers), so
    this one is started as the site starts any walk, with the lab's ``protocol="h3"`` option."""
    url = "https://shop.netlearn.test/"
    walk = await sync_to_async(_insert_running)(dict(url=url, worker="test", step_id=None, params={"cache": "cold"},
                                                     user=None, session_key="ko"))
    bridge.register_live(walk.id.hex)
    work = functools.partial(calls.walk_and_topology, url=url, correlation_id=walk.id.hex, cold=True, protocol="h3")
    await _run(walk.id.hex, embedded_lab, work, walk_finish)
    walk = await _finished(walk.id)
    assert walk.status == Walk.Status.DONE, (walk.code, walk.detail)
    assert any(e["kind"] == "packet" for e in walk.events), "the walk went over QUIC"
    found = await _english_in_walk(AsyncClient(headers=KO), walk)
    assert not found, "English on a Korean HTTP/3 walk:\n" + "\n".join(sorted(set(found))[:80])
