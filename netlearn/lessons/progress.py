"""Which steps a learner has seen, read from a cache and written behind the page.

The step page is the most visited page, and re-reading a step is its common case: the learner's
seen set (all their step ids, a few hundred integers at most) lives in Django's cache (per process
with the embedded default, shared through Redis with ``REDIS_URL``), so a page view asks the
database nothing. A first view of a step is appended to the progress journal
(``netlearn.core.journal``: a local file, ~5 µs, survives the worker being killed) and written to
the database in batches by the journal's thread: an ``INSERT … ON CONFLICT DO NOTHING`` (an
idempotent upsert: the unique constraints on ``StepView`` make a replayed record change nothing).

The database stays the truth: a cache miss reads it (plus this process's records not written
yet), and every other reader of ``StepView`` (home, lesson page, log-in's claim, reset) flushes
this process's journal first. With several workers and no shared cache, a worker may show a seen
set up to ``SEEN_TTL`` seconds old, and another worker's records reach the database within one
flush interval (``NETLEARN_PROGRESS_FLUSH_INTERVAL``, default 0.25 s).

``NETLEARN_PROGRESS_WRITE_BEHIND = False`` (the test settings) writes the same upsert at once in
the request: tests inside a transaction see it.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError

from netlearn.core.journal import Record, WriteAheadJournal, process_journal

from .models import Step, StepView

log = logging.getLogger("netlearn.progress")

#: Seconds a seen set stays cached: with a per-process cache and several workers, how stale it may be.
SEEN_TTL = 300


@dataclass(frozen=True)
class Learner:
    """Whose progress: an account (``kind`` "u", ``key`` its pk) or an anonymous visitor ("v", its key)."""

    kind: str
    key: str

    @property
    def cache_key(self) -> str:
        return f"seen:{self.kind}:{self.key}"

    def owner(self) -> dict[str, Any]:
        return {"user_id": int(self.key)} if self.kind == "u" else {"visitor": self.key}


def learner_of(*, user: Any, visitor: str) -> Learner | None:
    if user is not None and getattr(user, "is_authenticated", False):
        return Learner("u", str(user.pk))
    return Learner("v", visitor) if visitor else None


# -- writes ------------------------------------------------------------------------------------
def _upsert(records: Sequence[Record]) -> None:
    """Insert the views, ignoring those already there; drop records whose step or account is gone."""
    rows = {(kind, key, int(step_id)) for kind, key, step_id in records}
    views = [StepView(step_id=step_id, **Learner(kind, key).owner()) for kind, key, step_id in rows]
    try:
        StepView.objects.bulk_create(views, ignore_conflicts=True)
    except IntegrityError:  # a step or an account deleted since the view: keep the rest
        from django.contrib.auth import get_user_model

        steps = set(Step.objects.filter(pk__in={v.step_id for v in views}).values_list("pk", flat=True))
        users = set(get_user_model().objects.filter(pk__in={v.user_id for v in views if v.user_id})
                    .values_list("pk", flat=True))
        kept = [v for v in views if v.step_id in steps and (v.user_id is None or v.user_id in users)]
        StepView.objects.bulk_create(kept, ignore_conflicts=True)


def _journal_dir() -> Any:
    return settings.DATA_DIR / "progress-journal"


_journal: WriteAheadJournal | None = None


def journal() -> WriteAheadJournal:
    global _journal
    if _journal is None:
        _journal = process_journal(_journal_dir(), _upsert,
                                   interval=float(getattr(settings, "NETLEARN_PROGRESS_FLUSH_INTERVAL", 0.25)))
    return _journal


def write_behind() -> bool:
    return bool(getattr(settings, "NETLEARN_PROGRESS_WRITE_BEHIND", True))


def flush() -> None:
    """Write this process's pending views now: before any reader asks the database."""
    if _journal is not None:
        _journal.flush()


def mark_seen(learner: Learner | None, step_id: int) -> frozenset[int]:
    """Record that ``learner`` saw the step; returns every step id they have seen, this one included."""
    if learner is None:
        return frozenset({step_id})
    seen = seen_ids(learner)
    if step_id in seen:
        return seen
    if write_behind():
        journal().append((learner.kind, learner.key, str(step_id)))
    else:
        _upsert([(learner.kind, learner.key, str(step_id))])
    seen = seen | {step_id}
    cache.set(learner.cache_key, seen, SEEN_TTL)
    return seen


def learner_is_new(learner: Learner | None) -> None:
    """Cache the seen set of a learner whose key was made just now: empty, nothing to ask the database."""
    if learner is not None:
        cache.set(learner.cache_key, frozenset(), SEEN_TTL)


def can_mark_in_memory(learner: Learner, step_id: int) -> bool:
    """Whether :func:`mark_seen` needs no database: the seen set is cached, and the step is in it
    or its view goes to the journal (written behind)."""
    seen = cache.get(learner.cache_key)
    return seen is not None and (step_id in seen or (write_behind() and _journal is not None))


# -- reads -------------------------------------------------------------------------------------
def seen_ids(learner: Learner) -> frozenset[int]:
    seen = cache.get(learner.cache_key)
    if seen is None:
        seen = frozenset(StepView.objects.filter(**learner.owner()).values_list("step_id", flat=True))
        if _journal is not None:
            seen |= {int(s) for kind, key, s in _journal.pending() if kind == learner.kind and key == learner.key}
        cache.set(learner.cache_key, seen, SEEN_TTL)
    return seen


def forget(*learners: Learner | None) -> None:
    """Drop cached seen sets after the database changed under them (claim, reset)."""
    keys = [learner.cache_key for learner in learners if learner is not None]
    if keys:
        cache.delete_many(keys)
