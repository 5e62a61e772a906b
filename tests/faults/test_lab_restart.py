"""Crash the embedded lab of a real ASGI server: the site keeps teaching, then the lab comes back.

The crash is real (``LabThread.crash_for_test``): the lab's loop stops dead with every task
suspended, none of the lab's orderly stop runs (its parts still say "running"), and the thread
ends with an error. The supervisor must notice a dead thread and build a new lab.
"""
from __future__ import annotations

import asyncio
import json

from netlearn.core import labstate
from netlearn.walks import supervisor as lab_supervisor
from tests.scale.client import Learner
from tests.waiting import eventually_sync

BANNER = "The lab is restarting…"


def _health(learner: Learner) -> dict:
    answer = learner.get("/healthz")
    assert answer.status == 200
    return json.loads(answer.body)["lab"]


def _walk_document(learner: Learner, walk_id: str) -> dict:
    return json.loads(learner.get(f"/walk/{walk_id}.json").body)


def _walk_done(learner: Learner) -> dict:
    walk_id, _ = learner.start_walk("http://shop.netlearn.test/")
    eventually_sync(lambda: _walk_document(learner, walk_id)["status"] != "running", "the walk finished")
    return _walk_document(learner, walk_id)


def _crashed(old_lab) -> None:
    """The thread died with the crash's error, and the orderly stop never ran."""
    eventually_sync(lambda: not old_lab.is_alive(), "the lab thread ended")
    assert isinstance(old_lab.error, RuntimeError) and "crash_for_test" in str(old_lab.error)
    assert old_lab.lab.state == "running" and old_lab.lab.web is not None  # Lab.stop() never ran


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
        _crashed(old_lab)
        eventually_sync(lambda: _health(learner)["state"] == "restarting", "healthz says restarting")
        for path in ("/lessons/sample-lesson/1/", "/quizzes/", "/"):
            answer = learner.get(path)
            assert answer.status == 200, path
            assert BANNER in answer.body, path
        korean = Learner(asgi_live_server_with_lab)  # the banner is translated too
        korean.opener.addheaders = [("Accept-Language", "ko")]
        assert "실습실을 다시 시작하는 중입니다" in korean.get("/lessons/sample-lesson/1/").body
    finally:
        supervisor.hold_restarts(False)
    eventually_sync(lambda: _health(learner)["state"] == "running", "the lab runs again")
    assert labstate.get_lab() is not old_lab
    assert BANNER not in learner.get("/quizzes/").body
    assert supervisor.restarts == 1


def test_the_lab_restarts_by_itself_within_seconds_and_walks_stream_again(
        asgi_live_server_with_lab, sample_course) -> None:
    learner = Learner(asgi_live_server_with_lab)
    assert _walk_done(learner)["status"] == "done"
    old_lab = labstate.get_lab()
    old_lab.crash_for_test()
    _crashed(old_lab)
    eventually_sync(lambda: labstate.get_lab() is not old_lab and labstate.get_lab().is_alive()
                    and _health(learner)["state"] == "running", "a new lab, started by the supervisor")
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
    for backend in (1, 2, 3, 4):  # every backend answers late: the walk will surely be in flight
        lab.submit(lambda lab, n=backend: control.apply(lab, {"op": "latency", "backend": n, "seconds": 10})).result(5)
    walk_id, _ = learner.start_walk("http://shop.netlearn.test/")
    eventually_sync(lambda: lab.call(lambda lab: sum(b.describe()["active_connections"] for b in lab.web.backends)),
                    "the walk's request waiting at a backend")
    lab.crash_for_test()
    _crashed(lab)
    # The walk's call into the dead lab was cancelled: it fails clearly instead of hanging for
    # the backend's 10 s (or the walk's 30 s deadline).
    eventually_sync(lambda: _walk_document(learner, walk_id)["status"] != "running", "the walk in flight ended")
    document = _walk_document(learner, walk_id)
    assert document["status"] == "failed"
    assert document["code"] == "lab_error"
    from netlearn.walks.models import Walk

    # Cancelled by the crash (not the walk's deadline running out): the explanation says so.
    assert Walk.objects.get(id=walk_id).detail["error"] == "the lab crashed during the walk; it restarts by itself"
    # Nothing of the dead loop is left suspended for the garbage collector to finish later, at a
    # random moment, with an "Exception ignored in …" warning in the site's log (runner._abandon).
    left = [task for task in asyncio.all_tasks(lab.loop) if task.get_coro().cr_frame is not None]
    assert left == []
