"""Who is answering: a signed-in user, or an anonymous visitor known by a random session id.

The anonymous id lives in the session rather than being the session key itself, because Django
rotates the session key on log in; the id survives that rotation, which is what lets the
progress be merged into the account afterwards.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.http import HttpRequest

from netlearn.core import anonymous

SESSION_KEY = "quizzes_learner"


@dataclass(frozen=True)
class Learner:
    user_id: int | None = None
    anon_id: str = ""

    @property
    def is_known(self) -> bool:
        return self.user_id is not None or bool(self.anon_id)

    def q(self, prefix: str = "") -> Q:
        """Filter for rows owned by this learner (``prefix`` for related lookups)."""
        if self.user_id is not None:
            return Q(**{f"{prefix}user_id": self.user_id})
        if self.anon_id:
            return Q(**{f"{prefix}user__isnull": True, f"{prefix}anon_id": self.anon_id})
        return Q(pk__in=[])

    def sql(self) -> tuple[str, list[Any]]:
        """``q()`` as a SQL condition on the owner columns and its parameters, for the hot paths that
        read one row in SQL of their own (an unknown learner matches nothing)."""
        if self.user_id is not None:
            return "user_id = %s", [self.user_id]
        if self.anon_id:
            return "user_id IS NULL AND anon_id = %s", [self.anon_id]
        return "1 = 0", []

    def owner(self) -> dict[str, object]:
        """Column values for a new row owned by this learner."""
        if self.user_id is not None:
            return {"user_id": self.user_id, "anon_id": ""}
        return {"user_id": None, "anon_id": self.anon_id}


def learner_for(request: HttpRequest, *, create: bool = False) -> Learner:
    """The request's learner; ``create`` gives an anonymous visitor an id (only when writing)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Learner(user_id=user.pk)
    anon_id = request.session.get(SESSION_KEY, "")
    if not anon_id and create:
        anonymous.give_ids(request.session)  # the lessons' visitor key too: one session write
        anon_id = request.session[SESSION_KEY]
    return Learner(anon_id=anon_id)


def new_anon_id() -> str:
    return secrets.token_urlsafe(18)
