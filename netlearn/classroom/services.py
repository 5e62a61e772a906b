"""Every write of a live session: open/end, join/rename/remove, push a stage, ask/close/reveal a
question, record an answer. Consumers and views call these; they hold no rules themselves.

Each function checks *who* asks (the session's instructor, or a participant known by the secret
token in their own Django session) before it writes anything, and raises ``ClassroomError`` with
a message fit to show that person.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F
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


def answer_submit(*, participant: Participant, run_id: Any, data: Mapping[str, Any]) -> AnswerOutcome:
    """Record a participant's answer to the open question, once.

    The participant comes from the server side (their session's token), never from the message.
    A second answer to the same run returns the first (the unique constraint decides, so two
    workers racing on a resent message still store one row). A signed-in participant's answer
    also becomes a quiz attempt: their review queue and progress move as for any answer.
    """
    removed = Participant.objects.filter(pk=participant.pk, removed_at__isnull=False)
    try:  # one query: the run, and whether the participant was removed meanwhile (on any worker)
        run = (QuestionRun.objects.select_related("question").annotate(participant_removed=Exists(removed))
               .get(pk=int(run_id), session_id=participant.session_id))
    except (TypeError, ValueError, QuestionRun.DoesNotExist):
        run = None
    if run is None and removed.exists() or run is not None and run.participant_removed:
        raise ClassroomError(_("The instructor removed you from this session."), code="removed")
    if run is None:
        raise ClassroomError(_("That question is not open in this session."), code="not_open")
    if not run.is_open:
        existing = LiveAnswer.objects.filter(run=run, participant=participant).first()
        if existing is not None:  # a resend after the close: the answer it repeats was recorded
            return AnswerOutcome(existing, duplicate=True)
        raise ClassroomError(_("This question is closed: answers are no longer accepted."), code="closed")
    try:
        answer = parse_answer(run.question, data)
    except AnswerError as exc:
        raise ClassroomError(str(exc), code="bad_answer") from exc
    result: Grade = grade(run.question, answer)
    try:
        with transaction.atomic():
            row = LiveAnswer.objects.create(run=run, participant=participant, answer=answer,
                                            correct=result.correct, score=result.score)
            if participant.user_id is not None:
                attempt_submit(learner=Learner(user_id=participant.user_id), question=run.question,
                               token=attempt_token(run.question), data=data, mode="live")
    except IntegrityError:
        existing = LiveAnswer.objects.filter(run=run, participant=participant).first()
        if existing is None:
            raise
        return AnswerOutcome(existing, duplicate=True)
    return AnswerOutcome(row, duplicate=False)
