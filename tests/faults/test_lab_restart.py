"""Crash the embedded lab of a real ASGI server: the site keeps teaching, then the lab comes back."""
from __future__ import annotations

import json
import time

from netlearn.core import labstate
from netlearn.walks import supervisor as lab_supervisor
from tests.scale.client import Learner

BANNER = "The lab is restarting…"


def _health(learner: Learner) -> dict:
    answer = learner.get("/healthz")
    assert answer.status == 200
    return json.loads(answer.body)["lab"]


def _wait_for(predicate, timeout: float, what: str):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def _walk_done(learner: Learner, timeout: float = 15.0) -> dict:
    walk_id, _ = learner.start_walk("http://shop.netlearn.test/")

    def finished() -> dict | None:
        document = json.loads(learner.get(f"/walk/{walk_id}.json").body)
        return document if document["status"] != "running" else None

    return _wait_for(finished, timeout, "the walk finished")


def test_a_crashed_lab_shows_the_banner_while_lessons_and_quizzes_keep_working(
        asgi_live_server_with_lab, sample_course) -> None:
    learner = Learner(asgi_live_server_with_lab)
    assert BANNER not in learner.get("/lessons/sample-lesson/1/").body
    supervisor = lab_supervisor.current()
    assert supervisor is not None
    old_lab = labstate.get_lab()
    supervisor.hold_restarts()
    try:
        old_lab.crash_for_test()
        _wait_for(lambda: not old_lab.is_alive(), 5, "the lab thread ended")
        assert isinstance(old_lab.error, RuntimeError)
        assert _wait_for(lambda: _health(learner)["state"] == "restarting", 5, "healthz says restarting")
        for path in ("/lessons/sample-lesson/1/", "/quizzes/", "/"):
            answer = learner.get(path)
            assert answer.status == 200, path
            assert BANNER in answer.body, path
        korean = Learner(asgi_live_server_with_lab)  # the banner is translated too
        korean.opener.addheaders = [("Accept-Language", "ko")]
        assert "실습실을 다시 시작하는 중입니다" in korean.get("/lessons/sample-lesson/1/").body
    finally:
        supervisor.hold_restarts(False)
    _wait_for(lambda: _health(learner)["state"] == "running", 10, "the lab runs again")
    assert labstate.get_lab() is not old_lab
    assert BANNER not in learner.get("/quizzes/").body
    assert supervisor.restarts == 1


def test_the_lab_restarts_by_itself_within_seconds_and_walks_stream_again(
        asgi_live_server_with_lab, sample_course) -> None:
    learner = Learner(asgi_live_server_with_lab)
    assert _walk_done(learner)["status"] == "done"
    old_lab = labstate.get_lab()
    old_lab.crash_for_test()
    _wait_for(lambda: labstate.get_lab() is not old_lab and labstate.get_lab().is_alive()
              and _health(learner)["state"] == "running", 5, "a new lab within 5 s")
    document = _walk_done(learner)
    assert document["status"] == "done", document
    # The bridge is attached to the new lab: its events reached the stored walk, DNS to close.
    kinds = {step["kind"] for step in document["steps"]}
    assert "query" in kinds and len(document["steps"]) > 10


def test_a_walk_in_flight_when_the_lab_crashes_fails_clearly_instead_of_hanging(
        asgi_live_server_with_lab, sample_course) -> None:
    from netlearn.lab import control

    learner = Learner(asgi_live_server_with_lab)
    lab = labstate.get_lab()
    for backend in (1, 2, 3, 4):  # every backend answers late: the walk is surely in flight
        lab.submit(lambda l, n=backend: control.apply(l, {"op": "latency", "backend": n, "seconds": 5})).result(5)
    walk_id, _ = learner.start_walk("http://shop.netlearn.test/")
    time.sleep(0.5)
    lab.crash_for_test()
    document = _wait_for(lambda: (d := json.loads(learner.get(f"/walk/{walk_id}.json").body))["status"]
                         != "running" and d, 4, "the walk in flight ended (well before the backends' 5 s)")
    assert document["status"] == "failed"
    assert document["code"] == "lab_error"
