"""Finished walks stored and rendered in the worker's finisher process (``netlearn/walks/finisher.py``),
through a real uvicorn server with its lab in a child process, as ``make run`` starts it: the
walk's row is written by the child, both languages' final pages come back with it and are kept for
the walk's sockets, and a finisher that dies costs no walk (the worker stores it itself) and is
started again."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from django.utils import translation

from netlearn.walks import finisher, rendering
from netlearn.walks.models import Walk
from tests.faults.test_lab_restart import _walk_done
from tests.scale.client import Learner
from tests.waiting import eventually_sync


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("lang, other", [("en", "ko"), ("ko", "en")])
def test_a_walk_is_stored_and_rendered_in_its_learners_language_by_the_finisher(
        asgi_live_server_with_finisher, lang: str, other: str) -> None:
    child = finisher.current()
    assert child is not None and child.pid is not None
    assert _parent_of(child.pid) == os.getpid(), "the finisher is a child of the worker"
    document = _walk_done(Learner(asgi_live_server_with_finisher, language=lang))
    assert document["status"] == "done", document
    walk = Walk.objects.get(id=document["id"])
    state = rendering.state_of(walk)
    # Nobody asked for the page yet: the finisher made it, in the language of the learner who
    # started the walk, and it is what the worker would render. (The row is committed just before
    # the child answers: its render arrives a moment later.)
    eventually_sync(lambda: rendering.final_html_in_memory(walk.id, lang, state) is not None,
                    f"the {lang} render kept for the walk's sockets")
    made = rendering.final_html_in_memory(walk.id, lang, state)
    with translation.override(lang):
        assert made == rendering.final_html(walk)
    assert 'id="walk-result"' in made
    if lang == "ko":
        assert any("\uac00" <= ch <= "\ud7a3" for ch in made), "the Korean page is in Korean"
    assert rendering.final_html_in_memory(walk.id, other, state) is None, "only the learner's language made ahead"


def test_a_dead_finisher_costs_no_walk_and_is_started_again(
        asgi_live_server_with_finisher) -> None:
    learner = Learner(asgi_live_server_with_finisher)
    child = finisher.current()
    assert child is not None and child.pid is not None
    old_pid = child.pid
    assert _health(asgi_live_server_with_finisher) == {"mode": "process", "state": "running", "pid": old_pid}
    os.kill(old_pid, signal.SIGKILL)
    eventually_sync(lambda: not child.is_alive(), "the worker noticed its finisher end")
    assert _health(asgi_live_server_with_finisher) == {"mode": "process", "state": "down"}
    document = _walk_done(learner)  # stored by the worker itself meanwhile
    assert document["status"] == "done", document
    eventually_sync(lambda: finisher.current() is not None and finisher.current().pid != old_pid,
                    "a new finisher started")
    assert _health(asgi_live_server_with_finisher) == {"mode": "process", "state": "running",
                                                      "pid": finisher.current().pid}
    assert _walk_done(learner)["status"] == "done"


def _health(base: str) -> dict[str, object]:
    """/healthz's word on the finisher (README: a balancer's health check reads it)."""
    import json
    from urllib.request import urlopen

    with urlopen(f"{base}/healthz", timeout=10) as response:
        return json.load(response)["finisher"]


def test_healthz_says_inline_where_the_worker_stores_its_walks(asgi_live_server_with_lab) -> None:
    assert _health(asgi_live_server_with_lab) == {"mode": "inline"}


PG = "postgres://u@127.0.0.1:5/db"


@pytest.mark.parametrize("env, expected", [
    ({}, "process"), ({"DATABASE_URL": PG}, "inline"),
    ({"DATABASE_URL": PG, "NETLEARN_FINISHER": "process"}, "process"),
], ids=["embedded", "stack", "stack-told"])
def test_the_finisher_is_a_process_for_the_embedded_worker_and_inline_on_the_stack(env, expected) -> None:
    """README "Where a walk is stored": the one embedded worker leaves a core idle for it; the
    stack's workers already share the cores, so it stores inline unless told otherwise."""
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NETLEARN_", "DATABASE_URL", "DJANGO_"))}
    probe = "from django.conf import settings; print(settings.NETLEARN_FINISHER)"
    run = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {probe}"],
                         cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
                         env={**clean, "DJANGO_SETTINGS_MODULE": "netlearn.settings.dev", **env})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == expected


def test_a_stuck_finisher_is_ended_and_its_walk_stored_by_the_worker(
        asgi_live_server_with_finisher, monkeypatch) -> None:
    """A child that stops answering (here: stopped with SIGSTOP) holds no walk for long: past the
    time-out it is ended, the worker stores the walk itself, and a new child starts."""
    monkeypatch.setattr(finisher, "FINISH_TIMEOUT_SECONDS", 1.0)
    learner = Learner(asgi_live_server_with_finisher)
    child = finisher.current()
    assert child is not None and child.pid is not None
    old_pid = child.pid
    os.kill(old_pid, signal.SIGSTOP)
    try:
        document = _walk_done(learner)
    finally:
        try:
            os.kill(old_pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert document["status"] == "done", document
    assert not child.is_alive()
    eventually_sync(lambda: finisher.current() is not None and finisher.current().pid != old_pid,
                    "a new finisher started")
