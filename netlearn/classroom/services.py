"""Every write of a live session: open/end, join/rename/remove, push a stage, ask/close/reveal a
question, record an answer. Consumers and views call these; they hold no rules themselves.

Each function checks *who* asks (the session's instructor, or a participant known by the secret
token in their own Django session) before it writes anything, and raises ``ClassroomError`` with
a message fit to show that person.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from netlearn.quizzes.grading import AnswerError, Grade, grade, parse_answer
from netlearn.quizzes.learner import Learner
from netlearn.quizzes.models import Question
from netlearn.quizzes.services import attempt_submit, attempt_token

from .models import LiveAnswer, LiveSession, Participant, QuestionRun
from .rules import ClassroomError, clean_display_name, is_well_formed_code, new_code, normalise_code

INSTRUCTORS_GROUP = "Instructors"
SESSION_HOURS = 12
STAGE_KINDS = {"lobby", "step", "walk", "compare", "question", "free", "ended"}


def capacity() -> int:
    """The room's cap, ``NETLEARN_CLASSROOM_CAPACITY`` (default 2,000)."""
    return int(getattr(settings, "NETLEARN_CLASSROOM_CAPACITY", 2000))


def is_instructor(user: Any) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return bool(user.is_superuser or user.groups.filter(name=INSTRUCTORS_GROUP).exists())


def _require_owner(session: LiveSession, user: Any) -> None:
    if user is None or not user.is_authenticated or user.pk != session.owner_id:
        raise ClassroomError(_("Only the session's instructor can do that."), code="not_instructor")


# --- Sessions -------------------------------------------------------------------------------

def session_open(*, user: Any, title: str = "") -> LiveSession:
    if not is_instructor(user):
        raise ClassroomError(_("Only instructors can open a live session."), code="not_instructor")
    for _attempt in range(10):
        try:
            with transaction.atomic():
                return LiveSession.objects.create(
                    code=new_code(), owner=user, title=(title or "").strip()[:120], capacity=capacity(),
                    expires_at=timezone.now() + timedelta(hours=SESSION_HOURS), stage={"kind": "lobby"})
        except IntegrityError:
            continue  # a code already in use: draw another
    raise ClassroomError(_("Could not find a free join code; try again."), code="no_code")


def session_for_code(raw_code: str) -> LiveSession:
    """The live session a code names, or a clear refusal (malformed, unknown, ended, expired)."""
    code = normalise_code(raw_code)
    if not is_well_formed_code(code):
        raise ClassroomError(_("A join code has 6 letters and digits, like K7QM2X. Check it and try again."),
                             code="bad_code")
    session = LiveSession.objects.filter(code=code).first()
    if session is None:
        raise ClassroomError(_("No live session has the code %(code)s. Check it with your instructor.")
                             % {"code": code}, code="unknown_code")
    if session.ended_at is not None or session.expires_at <= timezone.now():
        raise ClassroomError(_("The session %(code)s has ended.") % {"code": code}, code="ended")
    return session


def session_end(*, session: LiveSession, user: Any) -> LiveSession:
    _require_owner(session, user)
    LiveSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(ended_at=timezone.now())
    QuestionRun.objects.filter(session=session, closed_at__isnull=True).update(closed_at=timezone.now())
    return _set_stage(session, {"kind": "ended"})


def take_control(*, session: LiveSession, user: Any, channel: str) -> str:
    """This instructor tab now drives the room; returns the channel of the tab it replaces."""
    _require_owner(session, user)
    with transaction.atomic():
        locked = LiveSession.objects.select_for_update().get(pk=session.pk)
        previous = locked.controller
        locked.controller = channel
        locked.save(update_fields=["controller"])
    return previous if previous != channel else ""


def require_control(*, session_id: int, user: Any, channel: str) -> LiveSession:
    session = LiveSession.objects.get(pk=session_id)
    _require_owner(session, user)
    if session.controller != channel:
        raise ClassroomError(_("Another tab now drives this session. Use “Take over here” to drive from this one."),
                             code="not_in_control")
    if session.ended_at is not None:
        raise ClassroomError(_("This session has ended."), code="ended")
    return session


# --- Participants ---------------------------------------------------------------------------

def _new_token() -> str:
    return secrets.token_urlsafe(24)


def participant_join(*, session: LiveSession, display_name: str = "", user: Any = None,
                     token: str = "") -> Participant:
    """Join, or rejoin as the same participant (same token in the browser's session, or same
    account). A removed participant stays out; a full room refuses newcomers, never rejoiners."""
    known = Participant.objects.filter(session=session, token=token).first() if token else None
    signed_in = user is not None and user.is_authenticated
    if known is None and signed_in:
        known = Participant.objects.filter(session=session, user=user).first()
    if known is not None:
        if known.is_removed:
            raise ClassroomError(_("The instructor removed you from this session."), code="removed")
        return known
    name = clean_display_name(display_name or (user.get_username() if signed_in else ""))
    if Participant.objects.filter(session=session, removed_at__isnull=True).count() >= session.capacity:
        raise ClassroomError(_("This room is full (%(n)d people). Ask your instructor.") % {"n": session.capacity},
                             code="full")
    try:
        with transaction.atomic():
            return Participant.objects.create(session=session, user=user if signed_in else None,
                                              display_name=name, token=_new_token())
    except IntegrityError:  # the same account joined from two tabs at once
        return Participant.objects.get(session=session, user=user)


def participant_for_token(*, session: LiveSession, token: str) -> Participant | None:
    if not token:
        return None
    return Participant.objects.filter(session=session, token=token, removed_at__isnull=True).first()


def _participant_of(session: LiveSession, participant_id: Any) -> Participant:
    try:
        return Participant.objects.get(session=session, pk=int(participant_id))
    except (TypeError, ValueError, Participant.DoesNotExist):
        raise ClassroomError(_("That participant is not in this session."), code="no_participant") from None


def participant_rename(*, session: LiveSession, user: Any, participant_id: Any, name: str) -> Participant:
    _require_owner(session, user)
    participant = _participant_of(session, participant_id)
    participant.display_name = clean_display_name(name)
    participant.save(update_fields=["display_name"])
    return participant


def participant_remove(*, session: LiveSession, user: Any, participant_id: Any) -> Participant:
    _require_owner(session, user)
    participant = _participant_of(session, participant_id)
    Participant.objects.filter(pk=participant.pk, removed_at__isnull=True).update(removed_at=timezone.now())
    participant.refresh_from_db()
    return participant


# --- The stage ------------------------------------------------------------------------------

def _set_stage(session: LiveSession, stage: dict[str, Any]) -> LiveSession:
    """One UPDATE: the stage and its version move together, whatever worker writes."""
    assert stage.get("kind") in STAGE_KINDS, stage
    LiveSession.objects.filter(pk=session.pk).update(stage=stage, stage_version=F("stage_version") + 1)
    session.refresh_from_db(fields=["stage", "stage_version"])
    return session


def stage_push_step(*, session: LiveSession, lesson: str, number: Any) -> LiveSession:
    from netlearn.lessons.models import Step

    try:
        step = Step.objects.select_related("lesson").get(lesson__slug=str(lesson), number=int(number))
    except (TypeError, ValueError, Step.DoesNotExist):
        raise ClassroomError(_("There is no such lesson step."), code="no_step") from None
    return _set_stage(session, {"kind": "step", "step": step.pk})


def stage_push_walk(*, session: LiveSession, walk_id: str) -> LiveSession:
    return _set_stage(session, {"kind": "walk", "walk": walk_id})


def stage_push_compare(*, session: LiveSession, result: dict[str, Any]) -> LiveSession:
    return _set_stage(session, {"kind": "compare", **result})


def stage_free(*, session: LiveSession) -> LiveSession:
    """Let the room browse on its own; ``stage_call_back`` brings everyone back."""
    return _set_stage(session, {"kind": "free", "back": session.stage if session.stage.get("kind") != "free" else {}})


def stage_call_back(*, session: LiveSession) -> LiveSession:
    back = session.stage.get("back") if session.stage.get("kind") == "free" else None
    return _set_stage(session, back or {"kind": "lobby"})


# --- Questions and answers ------------------------------------------------------------------

def question_open(*, session: LiveSession, key: str) -> QuestionRun:
    question = Question.objects.filter(key=str(key or "")).first()
    if question is None:
        raise ClassroomError(_("There is no question with that key."), code="no_question")
    with transaction.atomic():
        QuestionRun.objects.filter(session=session, closed_at__isnull=True).update(closed_at=timezone.now())
        run = QuestionRun.objects.create(session=session, question=question)
        _set_stage(session, {"kind": "question", "run": run.pk, "state": "open"})
    return run


def _current_run(session: LiveSession) -> QuestionRun:
    run_id = session.stage.get("run") if session.stage.get("kind") == "question" else None
    run = QuestionRun.objects.filter(session=session, pk=run_id).first() if run_id else None
    if run is None:
        raise ClassroomError(_("No question is on the screen."), code="no_run")
    return run


def question_close(*, session: LiveSession) -> QuestionRun:
    run = _current_run(session)
    QuestionRun.objects.filter(pk=run.pk, closed_at__isnull=True).update(closed_at=timezone.now())
    _set_stage(session, {"kind": "question", "run": run.pk, "state": "closed"})
    run.refresh_from_db()
    return run


def question_reveal(*, session: LiveSession) -> QuestionRun:
    run = _current_run(session)
    now = timezone.now()
    QuestionRun.objects.filter(pk=run.pk, closed_at__isnull=True).update(closed_at=now)
    QuestionRun.objects.filter(pk=run.pk).update(revealed_at=now)
    _set_stage(session, {"kind": "question", "run": run.pk, "state": "revealed"})
    run.refresh_from_db()
    return run


@dataclass(frozen=True)
class AnswerOutcome:
    answer: LiveAnswer
    duplicate: bool


@dataclass(frozen=True)
class AnswerRequest:
    """One answer as a socket received it: who (from the server side), to which run, what."""
    participant: Participant
    run_id: Any
    data: Mapping[str, Any]


def answer_submit(*, participant: Participant, run_id: Any, data: Mapping[str, Any]) -> AnswerOutcome:
    """Record one participant's answer to the open question, once (see ``answers_record``)."""
    [outcome] = answers_record([AnswerRequest(participant, run_id, data)])
    if isinstance(outcome, ClassroomError):
        raise outcome
    return outcome


def answers_record(requests: list[AnswerRequest]) -> list[AnswerOutcome | ClassroomError]:
    """Record a batch of answers in ONE transaction; one outcome (or refusal) per request, in order.

    Why a batch: an answer alone costs ~4 queries and a commit, and a room of 1,000 answering at
    once queued them one after the other (9–12 s). Here a batch costs a handful of queries and one
    commit whatever its size: the runs, the removed participants and the answers already stored are
    read once, the new rows go in with one INSERT that skips conflicts.

    The participant comes from the server side (their session's token), never from the message.
    A second answer to the same run returns the first: the unique constraint decides, so two
    workers racing on a resent message still store one row. A signed-in participant's answer also
    becomes a quiz attempt (their review queue and progress move as for any answer); those rows are
    inserted one by one under a savepoint, so an attempt is made only for the row this call stored.
    Nothing is returned before the transaction commits: an acknowledged answer is never lost.
    """
    outcomes: list[AnswerOutcome | ClassroomError | None] = [None] * len(requests)
    run_ids: dict[int, int] = {}
    for i, request in enumerate(requests):
        try:
            run_ids[i] = int(request.run_id)
        except (TypeError, ValueError):
            pass
    with transaction.atomic():
        runs = QuestionRun.objects.select_related("question").in_bulk(set(run_ids.values()))
        removed = set(Participant.objects.filter(pk__in={r.participant.pk for r in requests},
                                                 removed_at__isnull=False).values_list("pk", flat=True))
        stored = _answers_stored(requests, run_ids)
        fresh: dict[tuple[int, int], tuple[int, LiveAnswer]] = {}
        graded_before: dict[tuple[int, str], tuple[dict[str, Any], Grade] | AnswerError] = {}
        for i, request in enumerate(requests):
            participant = request.participant
            run = runs.get(run_ids.get(i, 0))
            if run is not None and run.session_id != participant.session_id:
                run = None
            if participant.pk in removed:
                outcomes[i] = ClassroomError(_("The instructor removed you from this session."), code="removed")
            elif run is None:
                outcomes[i] = ClassroomError(_("That question is not open in this session."), code="not_open")
            elif (key := (run.pk, participant.pk)) in stored or key in fresh:  # a resend: its answer was recorded
                continue  # answered below, once the new rows are in
            elif not run.is_open:
                outcomes[i] = ClassroomError(_("This question is closed: answers are no longer accepted."),
                                             code="closed")
            else:
                graded = _graded(run.question, request.data, graded_before)
                if isinstance(graded, AnswerError):
                    outcomes[i] = ClassroomError(str(graded), code="bad_answer")
                    continue
                answer, result = graded
                fresh[key] = (i, LiveAnswer(run=run, participant=participant, answer=answer,
                                            correct=result.correct, score=result.score))
        # In key order: two workers' batches holding the same resent answers then wait on each other
        # row by row in the same order, and cannot deadlock on PostgreSQL's unique index.
        anonymous = [row for key, (_i, row) in sorted(fresh.items()) if row.participant.user_id is None]
        LiveAnswer.objects.bulk_create(anonymous, ignore_conflicts=True)
        created = {(row.run_id, row.participant_id) for row in anonymous}
        for i, row in fresh.values():
            if row.participant.user_id is not None and _insert_with_attempt(row, requests[i].data):
                created.add((row.run_id, row.participant_id))
        stored = _answers_stored(requests, run_ids) if fresh else stored
    for i, request in enumerate(requests):
        if outcomes[i] is None:
            key = (run_ids[i], request.participant.pk)
            row = stored[key]
            row.run = runs[key[0]]  # so that "your answer" is drawn without another query
            # (an anonymous row that lost a race to another worker's copy counts as new: nothing hangs on it)
            outcomes[i] = AnswerOutcome(row, duplicate=not (key in created and fresh[key][0] == i))
    return outcomes  # type: ignore[return-value]


def _graded(question: Question, data: Mapping[str, Any],
            graded_before: dict[tuple[int, str], tuple[dict[str, Any], Grade] | AnswerError]
            ) -> tuple[dict[str, Any], Grade] | AnswerError:
    """Parse and grade an answer, once per distinct answer in the batch: parsing and grading read
    the question's choices (two queries), and a room's answers take only a few distinct values."""
    key = (question.pk, json.dumps(data, sort_keys=True, default=str))
    if key not in graded_before:
        try:
            answer = parse_answer(question, data)
            graded_before[key] = (answer, grade(question, answer))
        except AnswerError as exc:
            graded_before[key] = exc
    return graded_before[key]


def _answers_stored(requests: list[AnswerRequest], run_ids: dict[int, int]) -> dict[tuple[int, int], LiveAnswer]:
    rows = LiveAnswer.objects.filter(run_id__in=set(run_ids.values()),
                                     participant_id__in={r.participant.pk for r in requests})
    return {(row.run_id, row.participant_id): row for row in rows}


def _insert_with_attempt(row: LiveAnswer, data: Mapping[str, Any]) -> bool:
    """Insert a signed-in participant's answer and its quiz attempt; False if another worker's
    copy of the same answer got there first (then no second attempt is recorded)."""
    try:
        with transaction.atomic():
            row.save(force_insert=True)
            attempt_submit(learner=Learner(user_id=row.participant.user_id), question=row.run.question,
                           token=attempt_token(row.run.question), data=data, mode="live")
    except IntegrityError:
        return False
    return True
