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

_ids: dict[str, Callable[[], str]] = {}


def register(session_key: str, new_id: Callable[[], str]) -> None:
    """Give an anonymous learner ``new_id()`` under ``session_key`` whenever any app gives its own."""
    _ids[session_key] = new_id


def give_ids(session: MutableMapping[str, Any]) -> None:
    """Every registered id this session lacks (each app then reads its own key as before)."""
    for key, new_id in _ids.items():
        if not session.get(key):
            session[key] = new_id()
