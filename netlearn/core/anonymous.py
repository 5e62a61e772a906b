"""An anonymous learner's ids, given all at once: one session write for a new learner, not one per app.

Each app that keeps something for a learner without an account names them by a random id in the
session: the lessons app's visitor key (progress), the quizzes app's learner id (attempts, review).
An id is given only when the learner first writes something there (a step seen, an answer sent),
so a reader who only browses gets no session. Given app by app, a new learner's session was
written twice: created with their first step page, then written again with their first answer
(a ``cached_db`` save: a transaction on SQLite's one write lock, which the worker's page threads
queue for; py-spy found session saves to be 40 % of those threads' busy time under a class).
So when one app gives its id, every registered app's id is given in the same write.

The base app imports nothing built on it (``tests/core/test_layering.py``): each app registers its
key from its ``AppConfig.ready``, as for ``/healthz`` (:mod:`netlearn.core.health`).
"""
from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

_ids: dict[str, tuple[Callable[[], str], Callable[[str], None] | None]] = {}


def register(session_key: str, new_id: Callable[[], str], on_new: Callable[[str], None] | None = None) -> None:
    """Give an anonymous learner ``new_id()`` under ``session_key`` whenever any app gives its own;
    ``on_new(the_id)`` then runs, for what the app knows of a learner who is new (the lessons app
    caches their seen set as empty, which would otherwise take a query to learn)."""
    _ids[session_key] = (new_id, on_new)


def give_ids(session: MutableMapping[str, Any]) -> None:
    """Every registered id this session lacks (each app then reads its own key as before)."""
    for key, (new_id, on_new) in _ids.items():
        if not session.get(key):
            session[key] = given = new_id()
            if on_new is not None:
                on_new(given)
