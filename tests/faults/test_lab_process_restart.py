"""The same faults with the lab in a child process (``NETLEARN_LAB_MODE = "process"``): the child
exits at once (``LabProcess.crash_for_test``), the site notices its socket close, keeps teaching,
fails the walk in flight clearly, and its supervisor starts a new child."""
from __future__ import annotations

import functools
import operator

from netlearn.core import labstate
from netlearn.lab import control
from netlearn.lab.process import LabProcess
from netlearn.walks import supervisor as lab_supervisor
from netlearn.walks.models import Walk
from tests.faults.test_lab_restart import BANNER, _health, _walk_document, _walk_done
from tests.scale.client import Learner
from tests.waiting import eventually_sync


def test_the_site_runs_its_lab_in_a_child_and_walks_stream_from_it(
        asgi_live_server_with_lab_process, sample_course) -> None:
    learner = Learner(asgi_live_server_with_lab_process)
    lab = labstate.get_lab()
    assert isinstance(lab, LabProcess)
    health = _health(learner)
    assert health["state"] == "running" and health["process"] == lab.pid
    document = _walk_done(learner)
    assert document["status"] == "done", document
    kinds = {step["kind"] for step in document["steps"]}
    assert "query" in kinds and len(document["steps"]) > 10


def test_a_crashed_lab_process_is_replaced_and_the_walk_in_flight_fails_clearly(
        asgi_live_server_with_lab_process, sample_course) -> None:
    learner = Learner(asgi_live_server_with_lab_process)
    supervisor = lab_supervisor.current()
    assert supervisor is not None
    lab = labstate.get_lab()
    for backend in (1, 2, 3, 4):  # every backend answers late: the walk will surely be in flight
        command = {"op": "latency", "backend": backend, "seconds": 10}
        lab.submit(functools.partial(control.apply, command=command)).result(5)
    walk_id, _ = learner.start_walk("http://shop.netlearn.test/")

    def waiting_at_a_backend() -> bool:
        components = lab.call(operator.methodcaller("describe"))["components"]
        return sum(b["active_connections"] for b in components["backends"]) > 0

    eventually_sync(waiting_at_a_backend, "the walk's request waiting at a backend")
    supervisor.hold_restarts()
    try:
        lab.crash_for_test()
        eventually_sync(lambda: not lab.is_alive(), "the site noticed its lab's process end")
        eventually_sync(lambda: _walk_document(learner, walk_id)["status"] != "running", "the walk in flight ended")
        document = _walk_document(learner, walk_id)
        assert document["status"] == "failed" and document["code"] == "lab_error"
        assert Walk.objects.get(id=walk_id).detail["error"] == "the lab crashed during the walk; it restarts by itself"
        eventually_sync(lambda: _health(learner)["state"] == "restarting", "healthz says restarting")
        answer = learner.get("/lessons/sample-lesson/1/")
        assert answer.status == 200 and BANNER in answer.body
    finally:
        supervisor.hold_restarts(False)
    eventually_sync(lambda: _health(learner)["state"] == "running", "a new lab process, started by the supervisor")
    new = labstate.get_lab()
    assert new is not lab and isinstance(new, LabProcess) and new.pid != lab.pid
    assert lab._process is not None and lab._process.poll() is not None  # the old child is gone
    assert _walk_done(learner)["status"] == "done"
