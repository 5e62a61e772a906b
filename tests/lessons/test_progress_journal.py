"""Progress written behind the page is never lost: the journal (netlearn.core.journal) applies
what it holds, a dead process's segments are recovered, and a real worker killed between the view
and the flush has the progress in the database after it restarts."""
from __future__ import annotations

import http.cookiejar
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from netlearn.core.journal import WriteAheadJournal
from netlearn.lessons import progress
from netlearn.lessons.models import Step, StepView
from tests.waiting import eventually_sync

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).with_name("sample_content.json")


@pytest.fixture
def journal(tmp_path, transactional_db):
    j = WriteAheadJournal(tmp_path / "journal", progress._upsert, interval=3600, autostart=False)
    yield j
    j.close()


def test_the_journal_writes_views_once_even_when_applied_twice(journal, content, learner) -> None:
    step = Step.objects.get(lesson__slug="sample-lesson", number=2)
    journal.append(("u", str(learner.pk), str(step.pk)))
    journal.append(("v", "visitor-key-1", str(step.pk)))
    journal.append(("u", str(learner.pk), str(step.pk)))  # the same learner in two tabs
    assert list(journal.directory.glob("*.journal")) and not StepView.objects.exists()
    assert journal.flush() == 3
    assert StepView.objects.filter(step=step, user=learner).count() == 1
    assert StepView.objects.filter(step=step, visitor="visitor-key-1").count() == 1
    assert not list(journal.directory.glob("*.journal"))  # applied: the segment is gone
    progress._upsert([("u", str(learner.pk), str(step.pk))])  # a replay changes nothing
    assert StepView.objects.count() == 2


def test_a_dead_processs_segment_is_recovered_and_a_live_one_is_left_alone(journal, content, learner) -> None:
    step = Step.objects.get(lesson__slug="sample-lesson", number=1)
    journal.directory.mkdir(parents=True)
    # What a worker killed mid-run leaves: whole lines, then a line cut short; nobody holds its lock.
    (journal.directory / "4242-dead.journal").write_bytes(f"u\t{learner.pk}\t{step.pk}\nv\tcut-sh".encode())
    journal.append(("v", "live-visitor", str(step.pk)))  # this process's own segment, locked
    assert journal.recover() == 1
    assert StepView.objects.filter(step=step, user=learner).exists()
    assert not StepView.objects.filter(visitor__startswith="cut").exists()
    assert not (journal.directory / "4242-dead.journal").exists()
    assert not StepView.objects.filter(visitor="live-visitor").exists()  # still pending, not stolen
    assert journal.flush() == 1 and StepView.objects.filter(visitor="live-visitor").exists()


def test_views_of_a_deleted_step_do_not_block_the_others(journal, content, learner) -> None:
    kept, gone = Step.objects.filter(lesson__slug="sample-lesson").order_by("number")[:2]
    journal.append(("u", str(learner.pk), str(gone.pk)))
    journal.append(("u", str(learner.pk), str(kept.pk)))
    gone.delete()
    assert journal.flush() == 2
    assert list(StepView.objects.values_list("step_id", flat=True)) == [kept.pk]


# -- a real worker, killed between the view and the flush --------------------------------------
def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "NETLEARN_", "DATABASE_URL", "REDIS_URL"))}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update({"DJANGO_SETTINGS_MODULE": "netlearn.settings.prod", "DJANGO_SECRET_KEY": "journal-test-" + "x" * 40,
                "NETLEARN_HTTPS": "0", "NETLEARN_DATA_DIR": str(data_dir), "NETLEARN_LAB_MODE": "off",
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "NETLEARN_PROGRESS_FLUSH_INTERVAL": "3600"})  # no batch before the kill
    return env


def _start_worker(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    from netlearn.devtools.servers import wait_for_healthy

    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "netlearn.asgi:application", "--host", "127.0.0.1",
                             "--port", str(port), "--lifespan", "on", "--no-access-log"],
                            cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_for_healthy(f"http://127.0.0.1:{port}/healthz", proc, log, timeout=60)
    return proc


def _views(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT step_id, visitor FROM lessons_stepview").fetchall()


def _seeded_site(tmp_path: Path):
    """A data folder migrated and holding the sample lesson, its environment (a flush interval of
    an hour: only a reader or the shutdown writes), its database, a free port, a log file and a
    cookie-keeping client: (data_dir, env, db, port, log, browser)."""
    from netlearn.devtools.servers import free_port

    data_dir = tmp_path / "data"
    env = _env(data_dir)
    for args in (["migrate", "--noinput", "-v", "0"], ["import_content", str(SAMPLE)]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True,
                       timeout=300)
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    return data_dir, env, data_dir / "netlearn.sqlite3", free_port(), tmp_path / "worker.log", browser


def test_progress_survives_a_worker_killed_before_the_flush(tmp_path) -> None:
    data_dir, env, db, port, log, browser = _seeded_site(tmp_path)

    worker = _start_worker(env, port, log)
    try:
        # The pages rendered ahead (netlearn.background.WarmPages): the new learner's first page is
        # then served on the loop, which makes their session there (journalled, not yet written).
        eventually_sync(lambda: "page warm-up:" in log.read_text(errors="replace"), "the pages rendered ahead")
        with browser.open(f"http://127.0.0.1:{port}/lessons/sample-lesson/2/", timeout=30) as response:
            assert response.status == 200
        assert _views(db) == []  # written behind the page: not in the database yet ...
        assert list((data_dir / "progress-journal").glob("*.journal"))  # ... but in the journal
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # no shutdown hook runs
        worker.wait(30)

    worker = _start_worker(env, port, log)
    try:
        eventually_sync(lambda: _views(db), "the journal's view written at start-up", timeout=60, poll=0.2)
        rows = _views(db)
        assert len(rows) == 1 and rows[0][1]  # the anonymous visitor's view of step 2
        with browser.open(f"http://127.0.0.1:{port}/lessons/sample-lesson/", timeout=30) as response:
            lesson_page = response.read().decode()
        # The view the journal kept is the one the page shows: the new learner's session, made on the
        # loop, was journalled too and is theirs after the kill.
        assert "1 of 3 steps seen" in lesson_page
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)


def test_a_reader_of_progress_flushes_first_and_a_stopping_worker_flushes(tmp_path) -> None:
    """README: every other reader of progress (the lesson page here) flushes the worker's journal
    first, and on shutdown the worker flushes what its journal still holds."""
    data_dir, env, db, port, log, browser = _seeded_site(tmp_path)  # flushes only when read or stopped
    base = f"http://127.0.0.1:{port}/lessons/sample-lesson/"
    worker = _start_worker(env, port, log)
    try:
        with browser.open(base + "2/", timeout=30) as response:
            assert response.status == 200
        assert _views(db) == []
        with browser.open(base, timeout=30) as response:
            assert response.status == 200
        assert [step for step, _ in _views(db)] == [_step_id(db, 2)]  # the lesson page flushed first
        with browser.open(base + "3/", timeout=30) as response:
            assert response.status == 200
        assert len(_views(db)) == 1  # step 3's view is still only in the journal
    finally:
        worker.send_signal(signal.SIGTERM)
        status = worker.wait(30)
    assert status in (0, -signal.SIGTERM), log.read_text(errors="replace")[-3000:]
    assert sorted(step for step, _ in _views(db)) == [_step_id(db, 2), _step_id(db, 3)]


def _step_id(db: Path, number: int) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT s.id FROM lessons_step s JOIN lessons_lesson l ON s.lesson_id = l.id"
                            " WHERE l.slug = 'sample-lesson' AND s.number = ?", (number,)).fetchone()[0]
