"""Writes: steps of a lesson, their order, and learners' progress."""
from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from netlearn.core import contentversion

from . import progress
from .models import Lesson, Step, StepView

_RENUMBER_OFFSET = 100_000
VISITOR_SESSION_KEY = "netlearn_visitor"


def lesson_touch(*, lesson_id: int) -> None:
    """Move ``updated_at`` (the version the outline and Markdown caches are keyed on) and the
    content version (the rendered step pages'): ``update()`` sends no ``post_save``."""
    Lesson.objects.filter(pk=lesson_id).update(updated_at=timezone.now())
    contentversion.bump()


@transaction.atomic
def lesson_steps_replace(*, lesson: Lesson, steps: list[dict[str, Any]]) -> None:
    """Make the lesson's steps exactly ``steps`` (numbered from 1), reusing rows by number so
    learners' progress on an unchanged position survives an import."""
    existing = {s.number: s for s in lesson.steps.all()}
    for number, fields in enumerate(steps, start=1):
        step = existing.pop(number, None) or Step(lesson=lesson, number=number)
        for name, value in fields.items():
            setattr(step, name, value)
        step.save()
    if existing:
        Step.objects.filter(pk__in=[s.pk for s in existing.values()]).delete()
    lesson_touch(lesson_id=lesson.pk)


@transaction.atomic
def lesson_steps_renumber(*, lesson: Lesson, ordered_ids: list[int]) -> None:
    """Number the steps 1..n in the given order.

    The (lesson, number) constraint is checked row by row, so every step is first moved out of
    the way (number + offset) and then given its final number.
    """
    Step.objects.filter(lesson=lesson).update(number=F("number") + _RENUMBER_OFFSET)
    for number, step_id in enumerate(ordered_ids, start=1):
        Step.objects.filter(pk=step_id, lesson=lesson).update(number=number)
    lesson_touch(lesson_id=lesson.pk)


def visitor_key_new() -> str:
    return secrets.token_urlsafe(24)


def visitor_new(visitor: str) -> None:
    """A visitor key just given: they have seen nothing yet, and the cache says so, so their first
    step page (even one served on the event loop) marks it seen without asking the database."""
    progress.learner_is_new(progress.learner_of(user=None, visitor=visitor))


def progress_mark_seen(*, step_id: int, user: Any = None, visitor: str = "") -> frozenset[int]:
    """Record that a learner saw a step, written behind the page (``progress``); returns the ids of
    every step they have seen, this one included."""
    return progress.mark_seen(progress.learner_of(user=user, visitor=visitor), step_id)


def read_ahead_keys(session: dict[str, Any]) -> list[str]:
    """The cache entry a returning visitor's step page reads besides its session: the visitor's
    seen set (``netlearn.core.loopcache`` reads it ahead on the scaled-out stack). Read for their
    question pages too, which do not need it: one more ``MGET`` the loop awaits without blocking,
    kept rather than teaching the hook which page asks."""
    learner = progress.learner_of(user=None, visitor=str(session.get(VISITOR_SESSION_KEY) or ""))
    return [learner.cache_key] if learner is not None else []


def progress_in_memory(*, step_id: int, user: Any = None, visitor: str = "") -> bool:
    """Whether :func:`progress_mark_seen` for this step would ask the database nothing."""
    learner = progress.learner_of(user=user, visitor=visitor)
    return learner is not None and progress.can_mark_in_memory(learner, step_id)


def progress_claim_visitor(*, visitor: str, user: Any) -> int:
    """Move an anonymous visitor's progress to the account that just logged in."""
    if not visitor or user is None or not user.is_authenticated:
        return 0
    progress.flush()
    progress.forget(progress.learner_of(user=None, visitor=visitor), progress.learner_of(user=user, visitor=""))
    moved = 0
    with transaction.atomic():
        seen = set(StepView.objects.filter(user=user).values_list("step_id", flat=True))
        for view in StepView.objects.filter(visitor=visitor):
            if view.step_id in seen:
                view.delete()
                continue
            view.user, view.visitor = user, ""
            view.save(update_fields=["user", "visitor"])
            moved += 1
    return moved


def progress_reset(*, user: Any = None, visitor: str = "") -> int:
    progress.flush()
    progress.forget(progress.learner_of(user=user, visitor=visitor))
    if user is not None and user.is_authenticated:
        return StepView.objects.filter(user=user).delete()[0]
    if visitor:
        return StepView.objects.filter(visitor=visitor).delete()[0]
    return 0
