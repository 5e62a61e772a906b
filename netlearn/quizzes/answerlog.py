"""Practice answers written behind the page: the answer view journals an attempt and the batch
writer stores it, so an answer does not pay a transaction of its own.

Why: recording one answer in the request (an attempt, its picked choices, the review schedule,
a commit) was most of an answer's CPU, and a classroom sends dozens a second. Here the request
grades the answer, works out the new schedule (the feedback card shows it), and appends one line
to a write-ahead journal (``netlearn.core.journal``: ``os.write`` to an ``O_APPEND`` file in
``DATA_DIR/answer-journal/``, kept by the kernel if the worker is killed); the journal's thread
writes what gathered every ``NETLEARN_ANSWER_FLUSH_INTERVAL`` seconds (default 0.25) in ONE
transaction: one INSERT of the attempts, one of their picked choices, one read of the schedules
they move, one write of them. A killed worker's segments are written at the next start. An
answer the page calls recorded is on disk; a full disk refuses it (507) and records nothing.

Once, whatever happens: the attempt's token is unique. A token already stored, or pending in
this process, is answered as a duplicate; a batch skips tokens already stored (a replayed
segment changes nothing) and, when a row is refused (two workers raced on the same token or
schedule, a question or account deleted meanwhile), writes its records one at a time instead,
dropping only what can no longer be stored.

Readers see their own answers: every reader of attempts and schedules (the review queue, the
progress page, a log-in's merge, mock interviews) flushes this process's journal first. With
several workers, another worker's newest answers reach the database within one flush interval.
An attempt's ``created_at`` is when its batch was written (within that interval of the answer);
its schedule uses the moment of the answer. ``NETLEARN_ANSWERS_WRITE_BEHIND = False`` (the test
settings) writes each answer at once, in the request, through the same batch writer.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connections, transaction
from django.db.models import Field, Q

from netlearn.core.journal import Record, WriteAheadJournal, process_journal

from .grading import Grade
from .learner import Learner
from .models import Attempt, Question, Quiz, ReviewState
from .scheduling import review

log = logging.getLogger("netlearn.quizzes.answers")


@dataclass(frozen=True)
class Pending:
    """An answer journalled by this process and not written yet: enough to answer a resend."""

    learner: Learner
    question_id: int
    answer: dict[str, Any]
    review: ReviewState


_lock = threading.Lock()
_pending: dict[str, Pending] = {}  # by attempt token
#: The newest schedule of a (learner, question) whose answer is pending, so a second answer before
#: the flush builds on the first, as the batch writer will: (token, its unsaved ReviewState).
_cards: dict[tuple[int | None, str, int], tuple[str, ReviewState]] = {}


def write_behind() -> bool:
    return bool(getattr(settings, "NETLEARN_ANSWERS_WRITE_BEHIND", True))


def _key(learner: Learner, question_id: int) -> tuple[int | None, str, int]:
    return (learner.user_id, "" if learner.user_id is not None else learner.anon_id, question_id)


def pending(token: str) -> Pending | None:
    with _lock:
        return _pending.get(token)


def record(*, learner: Learner, question: Question, token: str, answer: dict[str, Any], result: Grade,
           rating: int, quiz: Quiz | None, mode: str, now: datetime) -> ReviewState | Pending:
    """Journal one new answer; returns its schedule as the batch writer will store it (unsaved),
    or the ``Pending`` answer already journalled under this token (a resend racing this one)."""
    key = _key(learner, question.pk)
    read = key not in _cards
    stored = _stored_card(learner, question.pk) if read else None  # outside the lock: a query
    with _lock:  # one thread at a time: a resend in another thread finds this one pending
        if token in _pending:
            return _pending[token]
        # (when a pending answer's schedule was written meanwhile, what it stored is read now)
        before = _cards[key][1] if key in _cards else stored if read else _stored_card(learner, question.pk)
        scheduled = review(before.card if before else None, rating, now=now)
        state = ReviewState(**learner.owner(), question=question, card=scheduled.card, due=scheduled.due,
                            reps=(before.reps if before else 0) + 1,
                            lapses=(before.lapses if before else 0) + int(scheduled.lapsed),
                            last_rating=scheduled.rating, last_review=now)
        line = json.dumps({"u": learner.user_id, "a": learner.anon_id if learner.user_id is None else "",
                           "q": question.pk, "z": quiz.pk if quiz else None, "t": token, "ans": answer,
                           "c": result.correct, "s": result.score, "v": question.version, "m": mode,
                           "r": rating, "at": now.isoformat()})
        if write_behind():
            journal().append((line,))  # OSError (a full disk) propagates: nothing is pending
            _pending[token] = Pending(learner, question.pk, answer, state)
            _cards[key] = (token, state)
    if not write_behind():
        write([(line,)])
    return state


def _stored_card(learner: Learner, question_id: int) -> ReviewState | None:
    """The stored schedule's FSRS card and counts (unsaved: all the next review needs): one indexed
    row, read in SQL of its own (through the ORM the query cost more CPU than the database)."""
    connection = connections[ReviewState.objects.db]
    table = connection.ops.quote_name(ReviewState._meta.db_table)
    owner, params = learner.sql()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT card, reps, lapses FROM {table} WHERE question_id = %s AND {owner}",
                       [question_id, *params])
        row = cursor.fetchone()
    if row is None:
        return None
    card = row[0] if isinstance(row[0], dict) or row[0] is None else json.loads(row[0])
    return ReviewState(card=card or {}, reps=row[1], lapses=row[2])


# -- the batch writer -----------------------------------------------------------------------------
def write(records: Sequence[Record]) -> None:
    """Store journalled answers: the batch in one transaction, else one at a time."""
    rows = []
    for record in records:
        try:
            rows.append(json.loads(record[0]))
        except (IndexError, ValueError):  # not a line this module wrote: it must not block the others
            log.error("answer journal: unreadable record %.80r skipped", record)
    try:
        with transaction.atomic():
            _write_batch(rows)
    except IntegrityError:
        for row in rows:
            _write_one(row)
    _forget(rows)


def _forget(rows: list[dict[str, Any]]) -> None:
    with _lock:
        for row in rows:
            _pending.pop(row["t"], None)
            key = (row["u"], row["a"], row["q"])
            if key in _cards and _cards[key][0] == row["t"]:
                del _cards[key]


def _write_one(row: dict[str, Any]) -> None:
    try:
        with transaction.atomic():
            _write_batch([row])
        return
    except IntegrityError:
        pass
    if Attempt.objects.filter(token=row["t"]).exists():
        return  # stored by another worker meanwhile: once is enough
    gone = (not Question.objects.filter(pk=row["q"]).exists()
            or (row["u"] is not None and not get_user_model().objects.filter(pk=row["u"]).exists()))
    if gone:
        log.warning("answer %s dropped: its question or account was deleted before it was written", row["t"][:8])
        return
    with transaction.atomic():  # the quiz deleted meanwhile, or a schedule another worker just made
        _write_batch([{**row, "z": row["z"] if Quiz.objects.filter(pk=row["z"]).exists() else None}])


def _write_batch(rows: list[dict[str, Any]]) -> None:
    stored = set(Attempt.objects.filter(token__in={row["t"] for row in rows}).values_list("token", flat=True))
    fresh: list[dict[str, Any]] = []
    for row in rows:
        if row["t"] not in stored:
            stored.add(row["t"])
            fresh.append(row)
    if not fresh:
        return
    attempts = Attempt.objects.bulk_create([
        Attempt(user_id=row["u"], anon_id=row["a"], question_id=row["q"], quiz_id=row["z"], token=row["t"],
                answer=row["ans"], correct=row["c"], score=row["s"], question_version=row["v"], mode=row["m"])
        for row in fresh])
    picked = Attempt.picked_choices.through
    picked.objects.bulk_create([picked(attempt_id=attempt.pk, choice_id=choice)
                                for attempt, row in zip(attempts, fresh)
                                for choice in row["ans"].get("choices") or ()])
    _reschedule(fresh)


def _reschedule(rows: list[dict[str, Any]]) -> None:
    """Each answer moves its (learner, question) schedule, in the order they were given."""
    users = {row["u"] for row in rows if row["u"] is not None}
    anons = {row["a"] for row in rows if row["u"] is None}
    states = {(s.user_id, s.anon_id if s.user_id is None else "", s.question_id): s
              for s in ReviewState.objects.select_for_update().order_by()
              .filter(Q(user_id__in=users) | Q(user__isnull=True, anon_id__in=anons),
                      question_id__in={row["q"] for row in rows})}
    changed: dict[tuple[int | None, str, int], ReviewState] = {}
    for row in rows:
        key = (row["u"], row["a"], row["q"])
        state = changed.get(key) or states.get(key) or ReviewState(user_id=row["u"], anon_id=row["a"],
                                                                   question_id=row["q"])
        now = datetime.fromisoformat(row["at"])
        scheduled = review(state.card or None, row["r"], now=now)
        state.card, state.due, state.last_rating, state.last_review = (scheduled.card, scheduled.due,
                                                                       scheduled.rating, now)
        state.reps += 1
        state.lapses += int(scheduled.lapsed)
        changed[key] = state
    ReviewState.objects.bulk_create([s for s in changed.values() if s.pk is None])
    _update([s for s in changed.values() if s.pk is not None])


_MOVED = ("card", "due", "reps", "lapses", "last_rating", "last_review")


def _update(states: list[ReviewState]) -> None:
    """One UPDATE statement run for every moved schedule (``bulk_update`` builds a CASE per column
    and row: for a batch, more CPU than the database spends)."""
    if not states:
        return
    connection = connections[ReviewState.objects.db]
    fields = [cast(Field, ReviewState._meta.get_field(name)) for name in _MOVED]  # their columns: the names
    columns = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in _MOVED)
    table = connection.ops.quote_name(ReviewState._meta.db_table)
    rows = [[f.get_db_prep_save(getattr(s, name), connection) for f, name in zip(fields, _MOVED)] + [s.pk]
            for s in states]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {columns} WHERE id = %s", rows)


# -- the journal ----------------------------------------------------------------------------------
_journal: WriteAheadJournal | None = None


def journal() -> WriteAheadJournal:
    global _journal
    if _journal is None:
        _journal = process_journal(settings.DATA_DIR / "answer-journal", write,
                                   interval=float(getattr(settings, "NETLEARN_ANSWER_FLUSH_INTERVAL", 0.25)))
    return _journal


def flush() -> None:
    """Write this process's pending answers now: before any reader asks the database."""
    if _journal is not None:
        _journal.flush()
