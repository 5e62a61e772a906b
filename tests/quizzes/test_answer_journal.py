"""Practice answers written behind the page (netlearn.quizzes.answerlog) are never lost and never
counted twice: the journal's batch writes each token once with the schedule the page showed, a
replayed segment changes nothing, a resend before or after the write is a duplicate, readers see
the answers, and a real worker killed between the answer and the write has the answer in the
database after it restarts."""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from netlearn.core.journal import WriteAheadJournal
from netlearn.quizzes import answerlog
from netlearn.quizzes.grading import AnswerError
from netlearn.quizzes.learner import Learner
from netlearn.quizzes.models import Attempt, ReviewState
from netlearn.quizzes.selectors import due_reviews
from netlearn.quizzes.services import answer_submit, attempt_token
from tests.lessons.test_progress_journal import _env, _start_worker
from tests.waiting import eventually_sync

from .conftest import BANK

ROOT = Path(__file__).resolve().parents[2]
ANNA = Learner(anon_id="anna-session")


def _choice(q, correct: bool) -> dict[str, list[str]]:
    return {"choice": [str(q.choices.filter(correct=correct).first().pk)]}


@pytest.fixture
def journal(tmp_path, settings, monkeypatch):
    """Write-behind on, with a journal driven by hand (no thread: flush() writes)."""
    settings.NETLEARN_ANSWERS_WRITE_BEHIND = True
    j = WriteAheadJournal(tmp_path / "answers", answerlog.write, interval=3600, autostart=False)
    monkeypatch.setattr(answerlog, "_journal", j)
    yield j
    j.close()
    answerlog._pending.clear()
    answerlog._cards.clear()


def test_answers_are_written_once_with_the_schedule_the_page_showed(bank, journal) -> None:
    q = bank["tcp-first-segment"]
    token = attempt_token(q)
    first = answer_submit(learner=ANNA, question=q, token=token, data=_choice(q, True))
    assert first.grade.correct and not first.duplicate and first.review is not None
    assert not Attempt.objects.exists() and len(journal.pending()) == 1  # journalled, not written yet
    resend = answer_submit(learner=ANNA, question=q, token=token, data=_choice(q, False))
    assert resend.duplicate and resend.grade.correct  # the journalled answer, not the resent one
    with pytest.raises(AnswerError):  # another learner cannot use the form either
        answer_submit(learner=Learner(anon_id="bob"), question=q, token=token, data=_choice(q, True))
    second = answer_submit(learner=ANNA, question=q, token=attempt_token(q), data=_choice(q, False))
    assert len(journal.pending()) == 2

    records = journal.pending()
    assert journal.flush() == 2
    assert Attempt.objects.filter(anon_id=ANNA.anon_id, question=q).count() == 2
    assert Attempt.objects.get(token=first.attempt.token).picked_choices.get().correct
    state = ReviewState.objects.get(anon_id=ANNA.anon_id, question=q)
    assert state.reps == 2 and state.lapses == second.review.lapses
    assert state.due == second.review.due  # the second answer built on the first, as the page said

    answerlog.write(records)  # a segment applied twice (a worker killed after the commit)
    assert Attempt.objects.count() == 2 and ReviewState.objects.get(question=q).reps == 2
    again = answer_submit(learner=ANNA, question=q, token=token, data=_choice(q, False))
    assert again.duplicate and again.grade.correct and Attempt.objects.count() == 2


def test_a_reader_sees_the_answers_journalled_before_it(bank, journal) -> None:
    q = bank["udp-connectionless"]
    answer_submit(learner=ANNA, question=q, token=attempt_token(q), data=_choice(q, False))
    assert due_reviews(ANNA, now=timezone.now() + timedelta(days=1)).count() == 1  # flushed first
    assert not journal.pending()


def test_an_answer_to_a_deleted_question_does_not_hold_back_the_others(transactional_db, bank, journal) -> None:
    # (committed for real: the foreign keys are checked when the batch commits, as in a worker)
    gone, kept = bank["tcp-first-segment"], bank["udp-connectionless"]
    answer_submit(learner=ANNA, question=gone, token=attempt_token(gone), data=_choice(gone, True))
    answer_submit(learner=ANNA, question=kept, token=attempt_token(kept), data=_choice(kept, True))
    gone.delete()
    assert journal.flush() == 2
    assert list(Attempt.objects.values_list("question_id", flat=True)) == [kept.pk]
    assert not journal.pending() and not list(journal.directory.glob("*.journal"))


# -- a real worker, killed between the answer and the write ---------------------------------------
def test_an_answer_survives_a_worker_killed_before_the_write_and_counts_once(tmp_path) -> None:
    from netlearn.devtools.servers import free_port

    data_dir = tmp_path / "data"
    env = {**_env(data_dir), "NETLEARN_ANSWER_FLUSH_INTERVAL": "3600"}  # no batch before the kill
    bank = tmp_path / "bank.json"
    bank.write_text(json.dumps(BANK))
    for args in (["migrate", "--noinput", "-v", "0"], ["import_content", str(bank)]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True,
                       timeout=300)
    db, port, log = data_dir / "netlearn.sqlite3", free_port(), tmp_path / "worker.log"
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    base = f"http://127.0.0.1:{port}/quizzes/q/tcp-first-segment/"

    def attempts() -> list[tuple[str, str]]:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT token, answer FROM quizzes_attempt").fetchall()

    def post(form: dict[str, str]) -> str:
        request = urllib.request.Request(base + "answer/", data=urllib.parse.urlencode(form).encode(),
                                         headers={"Referer": base})
        with browser.open(request, timeout=30) as response:
            assert response.status == 200
            return response.read().decode()

    worker = _start_worker(env, port, log)
    try:
        with browser.open(base, timeout=30) as response:
            page = response.read().decode()
        form = {name: re.search(rf'name="{name}" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
                for name in ("csrfmiddlewaretoken", "token", "choice")}
        card = post(form)
        assert "Correct!" in card or "Not quite." in card
        assert attempts() == []  # written behind the page: not in the database yet ...
        assert any(p.stat().st_size for p in (data_dir / "answer-journal").glob("*.journal"))  # ... but journalled
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # no shutdown hook runs
        worker.wait(30)

    worker = _start_worker(env, port, log)
    try:
        eventually_sync(attempts, "the journalled answer written at start-up", timeout=60, poll=0.2)
        assert len(attempts()) == 1
        assert "already sent this answer" in post(form)  # the same form once more: a duplicate
        assert len(attempts()) == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
