"""Every write of the quizzes app: attempts, review schedules, mock interviews, merges.

Each public function runs in one transaction, so an attempt and the review schedule it moves
are saved together or not at all. Idempotency comes from the per-render token: the database's
unique constraint, not a check-then-write, decides that a double submission is a duplicate,
so two racing requests still record one attempt.
"""
from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import answerlog
from .grading import AnswerError, Grade, grade, parse_answer
from .learner import Learner
from .models import Attempt, MockInterview, Question, Quiz, ReviewState
from .scheduling import rating_for, review

TOKEN_SALT = "netlearn.quizzes.attempt"
TOKEN_MAX_AGE = 60 * 60 * 24 * 7


class StaleQuestion(AnswerError):
    """The form was rendered for an older version of the question."""


@dataclass(frozen=True)
class AttemptResult:
    attempt: Attempt
    grade: Grade
    review: ReviewState | None  # None: a duplicate answer for a question never scheduled
    duplicate: bool = False


def attempt_token(question: Question) -> str:
    """A signed, single-use token for one rendering of a question's form."""
    return signing.dumps({"q": question.pk, "v": question.version, "n": secrets.token_urlsafe(16)}, salt=TOKEN_SALT)


def _check_token(question: Question, token: str) -> str:
    try:
        data = signing.loads(token or "", salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise StaleQuestion(_("This form is too old. Here is the question again.")) from None
    except signing.BadSignature:
        raise AnswerError(_("This form was altered. Please reload the question and try again.")) from None
    if not isinstance(data, dict) or data.get("q") != question.pk or not isinstance(data.get("n"), str):
        raise AnswerError(_("This form belongs to another question. Please reload the page."))
    if data.get("v") != question.version:
        raise StaleQuestion(_("This question was edited since you opened it. Here is the current version."))
    return data["n"]


def answer_submit(*, learner: Learner, question: Question, token: str, data: Mapping[str, Any],
                  quiz: Quiz | None = None, mode: str = "quiz") -> AttemptResult:
    """The answer view's :func:`attempt_submit`: the same checks, grade and schedule, the attempt
    journalled and written behind the page in batches (``answerlog``). ``result.attempt`` is
    not saved yet (the feedback reads its answer); ``result.review`` is the schedule as it will
    be stored. Raises ``AnswerError`` (nothing journalled) like ``attempt_submit``; ``OSError``
    when the journal cannot be written (a full disk: nothing journalled either)."""
    if not learner.is_known:
        raise AnswerError(_("Your session has expired. Please reload the page."))
    nonce = _check_token(question, token)
    waiting = answerlog.pending(nonce)
    if waiting is not None:
        return _pending_result(waiting, question, learner)
    existing = _existing(nonce, learner)
    if existing is not None:
        return existing
    answer = parse_answer(question, data)
    result = grade(question, answer)
    rating = int(rating_for(result))
    now = timezone.now()
    state = answerlog.record(learner=learner, question=question, token=nonce, answer=answer, result=result,
                             rating=rating, quiz=quiz, mode=mode, now=now)
    if isinstance(state, answerlog.Pending):  # the same form sent twice at once: the other one counts
        return _pending_result(state, question, learner)
    attempt = Attempt(**learner.owner(), question=question, quiz=quiz, token=nonce, answer=answer,
                      correct=result.correct, score=result.score, question_version=question.version, mode=mode)
    return AttemptResult(attempt, result, state)


def _pending_result(waiting: answerlog.Pending, question: Question, learner: Learner) -> AttemptResult:
    if waiting.learner != learner:
        raise AnswerError(_("This form was already used. Please reload the question."))
    result = grade(question, waiting.answer)
    attempt = Attempt(**learner.owner(), question=question, answer=waiting.answer, correct=result.correct,
                      score=result.score)
    return AttemptResult(attempt, result, waiting.review, duplicate=True)


def attempt_submit(*, learner: Learner, question: Question, token: str, data: Mapping[str, Any],
                   quiz: Quiz | None = None, mode: str = "quiz", mock: MockInterview | None = None,
                   duration_ms: int | None = None, passed: bool = False) -> AttemptResult:
    """Grade a submission, record one attempt and reschedule the question for this learner.

    Raises ``AnswerError`` (nothing written) for a tampered, stale or empty submission.
    """
    if not learner.is_known:
        raise AnswerError(_("Your session has expired. Please reload the page."))
    nonce = _check_token(question, token)
    answerlog.flush()  # the schedule moves from the one the answers journalled before left
    existing = _existing(nonce, learner)
    if existing is not None:
        return existing
    answer = {"passed": True} if passed else parse_answer(question, data)
    result = grade(question, answer) if not passed else Grade(False, 0.0, {})
    now = timezone.now()
    try:
        with transaction.atomic():
            attempt = Attempt.objects.create(
                **learner.owner(), question=question, quiz=quiz, mock=mock, token=nonce, answer=answer,
                correct=result.correct, score=result.score, passed=passed, question_version=question.version,
                duration_ms=duration_ms, mode=mode,
            )
            choices = answer.get("choices")
            if isinstance(choices, list) and choices:  # one INSERT (``set()`` reads the rows first)
                picked = Attempt.picked_choices.through
                picked.objects.bulk_create([picked(attempt_id=attempt.pk, choice_id=c) for c in choices])
            state = _reschedule(learner, question, rating_for(result, passed=passed), now=now)
    except IntegrityError:
        # Lost a race with the same token (a double click reaching two workers).
        existing = _existing(nonce, learner)
        if existing is None:
            raise
        return existing
    return AttemptResult(attempt, result, state)


def _existing(nonce: str, learner: Learner) -> AttemptResult | None:
    """The attempt already recorded under this form's token, if any; more queries only for a duplicate."""
    if not _token_used(nonce):
        return None
    attempt = Attempt.objects.select_related("question").get(token=nonce)
    mine = (attempt.user_id == learner.user_id if learner.user_id is not None
            else attempt.user_id is None and attempt.anon_id == learner.anon_id)  # learner.q(), in Python
    if not mine:
        raise AnswerError(_("This form was already used. Please reload the question."))
    state = ReviewState.objects.filter(learner.q(), question_id=attempt.question_id).first()
    answer = attempt.answer
    result = Grade(False, 0.0, {}) if attempt.passed else grade(attempt.question, answer)
    return AttemptResult(attempt, result, state, duplicate=True)


# Two reads every answer makes, in SQL of their own: each is one indexed row, and building it
# through the ORM (filter, compile, order) cost ~0.5 ms of CPU apiece, more than the database.
def _token_used(nonce: str) -> bool:
    connection = connections[Attempt.objects.db]
    table = connection.ops.quote_name(Attempt._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE token = %s", [nonce])  # the unique index
        return cursor.fetchone() is not None


def _schedule_of(learner: Learner, question: Question) -> ReviewState | None:
    """The learner's schedule for the question, locked until the transaction ends where the
    database locks rows (``learner.q()`` and ``select_for_update()``, written out)."""
    connection = connections[ReviewState.objects.db]
    table = connection.ops.quote_name(ReviewState._meta.db_table)
    owner, params = learner.sql()
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    found = ReviewState.objects.raw(f"SELECT * FROM {table} WHERE question_id = %s AND {owner}{lock}",
                                    [question.pk, *params])
    return next(iter(found), None)


def _reschedule(learner: Learner, question: Question, rating: Any, *, now: Any) -> ReviewState:
    state = _schedule_of(learner, question)
    if state is None:
        # First review: on PostgreSQL two tabs can both find no row and both insert; the loser's
        # insert fails inside this savepoint, and it then reschedules the winner's row instead.
        try:
            with transaction.atomic():
                return _apply_review(ReviewState(**learner.owner(), question=question), rating, now=now)
        except IntegrityError:
            state = _schedule_of(learner, question)
            if state is None:
                raise
    return _apply_review(state, rating, now=now)


def _apply_review(state: ReviewState, rating: Any, *, now: Any) -> ReviewState:
    scheduled = review(state.card if state.pk else None, rating, now=now)
    state.card = scheduled.card
    state.due = scheduled.due
    state.reps += 1
    state.lapses += int(scheduled.lapsed)
    state.last_rating = scheduled.rating
    state.last_review = now
    state.save()
    return state


def attempt_preview(*, question: Question, data: Mapping[str, Any]) -> Grade:
    """Grade without recording anything: the admin's preview."""
    return grade(question, parse_answer(question, data))


@transaction.atomic
def progress_merge(*, user_id: int, anon_id: str) -> int:
    """Hand an anonymous learner's attempts, schedules and mock interviews to an account.

    Where both already have a schedule for a question, the more recently reviewed one wins.
    Returns the number of attempts moved.
    """
    if not anon_id:
        return 0
    answerlog.flush()  # the answers journalled before the log-in are handed over too
    anon = Learner(anon_id=anon_id)
    moved = Attempt.objects.filter(anon.q()).update(user_id=user_id, anon_id="")
    MockInterview.objects.filter(anon.q()).update(user_id=user_id, anon_id="")
    for state in ReviewState.objects.select_for_update().filter(anon.q()):
        mine = ReviewState.objects.filter(user_id=user_id, question_id=state.question_id).first()
        if mine is None:
            state.user_id, state.anon_id = user_id, ""
            state.save(update_fields=["user", "anon_id"])
        elif (state.last_review or state.due) > (mine.last_review or mine.due):
            mine.delete()
            state.user_id, state.anon_id = user_id, ""
            state.save(update_fields=["user", "anon_id"])
        else:
            state.delete()
    return moved


# --- Mock interviews ---------------------------------------------------------------------

def draw_questions(*, learner: Learner, count: int, topics: Iterable[str] = (),
                   rng: random.Random | None = None) -> list[Question]:
    """Random questions across topics, weighted toward the learner's weak topics."""
    from .selectors import topic_mastery_map

    rng = rng or random.Random()
    pool = list(Question.objects.prefetch_related("topics"))
    wanted = set(topics)
    if wanted:
        pool = [q for q in pool if wanted & {t.slug for t in q.topics.all()}]
    mastery = topic_mastery_map(learner)
    weights = []
    for q in pool:
        slugs = [t.slug for t in q.topics.all()] or [""]
        weakest = min(mastery.get(s, 0.0) for s in slugs)
        weights.append(1.0 + 3.0 * (1.0 - weakest))
    chosen: list[Question] = []
    while pool and len(chosen) < count:
        i = rng.choices(range(len(pool)), weights=weights)[0]
        chosen.append(pool.pop(i))
        weights.pop(i)
    return chosen


@transaction.atomic
def mock_start(*, learner: Learner, count: int = 8, seconds_per_question: int = 120,
               topics: Iterable[str] = ()) -> MockInterview:
    questions = draw_questions(learner=learner, count=count, topics=topics)
    if not questions:
        raise AnswerError(_("There are no questions to draw from yet."))
    first, *rest = questions
    return MockInterview.objects.create(**learner.owner(), seconds_per_question=seconds_per_question,
                                        plan=[q.pk for q in rest], current=first)


def mock_serve(*, mock: MockInterview) -> MockInterview:
    """Start the current question's clock the first time it is shown (not on a reload)."""
    if mock.current_id and mock.current_served_at is None:
        MockInterview.objects.filter(pk=mock.pk, current_served_at__isnull=True).update(
            current_served_at=timezone.now())
        mock.refresh_from_db()
    return mock


def mock_answer(*, learner: Learner, mock: MockInterview, question: Question, token: str,
                data: Mapping[str, Any], passed: bool = False) -> AttemptResult:
    """Record the answer (or a pass) to the current question and move to the next one."""
    with transaction.atomic():
        locked = MockInterview.objects.select_for_update().get(pk=mock.pk)
        nonce_attempt = _existing(_check_token(question, token), learner)
        if nonce_attempt is not None:
            return nonce_attempt
        if locked.current_id != question.pk:
            raise AnswerError(_("This question is no longer the current one in this interview."))
        started = locked.current_served_at or timezone.now()
        duration = int((timezone.now() - started).total_seconds() * 1000)
        result = attempt_submit(learner=learner, question=question, token=token, data=data, mode="mock",
                                mock=locked, duration_ms=duration, passed=passed)
        asked = set(locked.attempts.values_list("question_id", flat=True)) | set(locked.plan)
        follow = question.follow_up_id
        plan = list(locked.plan)
        if follow and not passed and follow not in asked:
            plan.insert(0, follow)
        locked.current_id = plan.pop(0) if plan else None
        locked.plan = plan
        locked.current_served_at = None
        if locked.current_id is None:
            locked.finished_at = timezone.now()
        locked.save()
    mock.refresh_from_db()
    return result


@transaction.atomic
def mock_finish(*, mock: MockInterview) -> MockInterview:
    """End early: the rest of the plan is dropped, the summary covers what was answered."""
    MockInterview.objects.filter(pk=mock.pk, finished_at__isnull=True).update(
        finished_at=timezone.now(), current=None, plan=[])
    mock.refresh_from_db()
    return mock

