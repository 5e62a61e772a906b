"""Lost walks: a running walk whose worker process died ends as ``worker_lost``, with an explanation.

Real database, real processes: the "dead worker" is a real Python process that set Django up,
reported its ``worker_identity()`` and was then killed.
"""
from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient
from django.utils import timezone

from netlearn.asgi import application
from netlearn.lab import calls
from netlearn.walks import services
from netlearn.walks.models import Walk
from netlearn.walks.services import (
    LOST_AFTER_SECONDS,
    WORKER_LOST,
    mark_lost_walks,
    walk_finish,
    worker_gone,
    worker_identity,
)
from netlearn.walks.supervisor import LabSupervisor

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
HEADERS = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]


@pytest.fixture
def other_worker():
    """Another real process that computed its own identity; ``kill()`` leaves it a zombie, as a
    SIGKILLed uvicorn worker is until its parent reaps it."""
    code = ("import os, sys, time, django; django.setup(); "
            "from netlearn.walks.services import worker_identity; print(worker_identity(), flush=True); "
            "time.sleep(120)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "netlearn.settings.test"}
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    identity = process.stdout.readline().strip()
    assert identity, "the other process did not report its identity"
    process.identity = identity
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def _running(worker: str = "", **fields) -> Walk:
    return Walk.objects.create(url="http://shop.netlearn.test/", session_key="s", worker=worker, **fields)


def test_the_identity_names_this_process_and_it_is_alive() -> None:
    me = worker_identity()
    assert me.endswith(f"/{os.getpid()}/" + me.rsplit("/", 1)[1]) and me.count("/") == 4
    assert not worker_gone(me)
    # Another machine, another PID namespace, nothing recorded: cannot be told from here.
    assert not worker_gone("elsewhere/0000/4026531836/1/1")
    assert not worker_gone("")
    # This pid with another start time: the pid was reused, the recorded process is gone.
    assert worker_gone(me.rsplit("/", 1)[0] + "/1")


def test_a_walk_of_a_killed_worker_is_marked_lost_and_explained(other_worker) -> None:
    walk = _running(other_worker.identity)
    mine = _running(worker_identity())
    assert mark_lost_walks() == []  # both processes alive
    other_worker.send_signal(signal.SIGKILL)
    other_worker.wait(10)  # reaped: gone from /proc
    assert mark_lost_walks() == [walk.id.hex]
    walk.refresh_from_db()
    assert (walk.status, walk.code) == (Walk.Status.FAILED, WORKER_LOST)
    assert walk.detail["reason"] == "process_gone" and walk.finished_at is not None
    mine.refresh_from_db()
    assert mine.status == Walk.Status.RUNNING
    assert mark_lost_walks() == []  # once


def test_a_zombie_worker_counts_as_gone(other_worker) -> None:
    walk = _running(other_worker.identity)
    os.kill(other_worker.pid, signal.SIGKILL)  # not reaped yet: /proc still lists it, state Z
    for _ in range(200):
        if worker_gone(other_worker.identity):
            break
        time.sleep(0.02)
    assert mark_lost_walks() == [walk.id.hex]


def test_a_walk_past_every_deadline_is_lost_whoever_runs_it() -> None:
    old = _running("another-host/abcd1234/1/42/7")
    young = _running("another-host/abcd1234/1/42/7")
    Walk.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(seconds=LOST_AFTER_SECONDS + 1))
    assert LOST_AFTER_SECONDS > services.WALK_DEADLINE_SECONDS
    assert mark_lost_walks() == [old.id.hex]
    old.refresh_from_db()
    assert old.detail["reason"] == "deadline"
    young.refresh_from_db()
    assert young.status == Walk.Status.RUNNING


def test_finished_walks_are_never_touched(other_worker) -> None:
    done = _running(other_worker.identity, status=Walk.Status.DONE)
    other_worker.kill()
    other_worker.wait()
    assert mark_lost_walks() == []
    done.refresh_from_db()
    assert done.status == Walk.Status.DONE and done.code == ""


async def test_a_late_real_record_replaces_the_worker_lost_verdict(embedded_lab) -> None:
    lost = await Walk.objects.acreate(url="http://shop.netlearn.test/", session_key="s")
    failed = await Walk.objects.acreate(url="http://shop.netlearn.test/", session_key="s")

    walk = functools.partial(calls.walk_and_topology, url="http://shop.netlearn.test/", correlation_id=lost.id.hex)
    record, topology = await asyncio.wrap_future(embedded_lab.submit(walk))
    await Walk.objects.filter(id=lost.id).aupdate(status=Walk.Status.FAILED, code=WORKER_LOST)
    await Walk.objects.filter(id=failed.id).aupdate(status=Walk.Status.FAILED, code="lab_error")
    for cid in (lost.id.hex, failed.id.hex):
        await services.in_thread(walk_finish, cid, record=record, topology=topology)  # no crash
    lost = await Walk.objects.aget(id=lost.id)
    assert (lost.status, lost.code) == (Walk.Status.DONE, "") and lost.events  # the record wins
    failed = await Walk.objects.aget(id=failed.id)
    assert (failed.status, failed.code, failed.events) == (Walk.Status.FAILED, "lab_error", [])  # kept


async def test_the_supervisor_sweeps_and_an_open_socket_shows_the_explanation(other_worker) -> None:
    walk = await Walk.objects.acreate(url="http://shop.netlearn.test/", session_key="s",
                                      worker=other_worker.identity)
    communicator = WebsocketCommunicator(application, f"/ws/walk/{walk.id}/?lang=ko", headers=HEADERS)
    connected, _ = await communicator.connect()
    assert connected
    supervisor = LabSupervisor(lambda: None, sweep_interval=0.1).start()
    try:
        other_worker.kill()
        await asyncio.to_thread(other_worker.wait)
        message = await communicator.receive_from(timeout=10)
    finally:
        await supervisor.stop()
        await communicator.disconnect()
    assert 'id="walk-result"' in message and "이 요청을 처리하던 서버 프로세스가 멈췄습니다" in message
    assert supervisor.walks_lost == 1
    walk = await Walk.objects.aget(id=walk.id)
    assert walk.code == WORKER_LOST


async def test_the_walk_page_explains_a_lost_walk_in_english_and_korean() -> None:
    walk = await Walk.objects.acreate(url="http://shop.netlearn.test/", session_key="s",
                                      status=Walk.Status.FAILED, code=WORKER_LOST, finished_at=timezone.now())
    english = (await AsyncClient().get(walk.get_absolute_url())).content.decode()
    assert "The server process running this walk stopped" in english and "start the walk again" in english
    korean = (await AsyncClient().get(walk.get_absolute_url(), headers={"accept-language": "ko"})).content.decode()
    assert "이 요청을 처리하던 서버 프로세스가 멈췄습니다" in korean and "다시" in korean
    assert 'class="ws-status"' not in english  # finished: no socket, nothing to report


async def test_a_running_walk_page_has_the_polite_connection_status() -> None:
    walk = await Walk.objects.acreate(url="http://shop.netlearn.test/", session_key="s", worker=worker_identity())
    page = (await AsyncClient().get(walk.get_absolute_url())).content.decode()
    assert 'class="ws-status" role="status" aria-live="polite"' in page
    assert "Connection lost — reconnecting…" in page
    korean = (await AsyncClient().get(walk.get_absolute_url(), headers={"accept-language": "ko"})).content.decode()
    assert "연결이 끊겼습니다 — 다시 연결하는 중…" in korean
