"""Anonymous progress follows the learner into their account when they log in or sign up."""
from __future__ import annotations

from typing import Any

from .learner import SESSION_KEY
from .services import progress_merge


def merge_on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    anon_id = request.session.pop(SESSION_KEY, "")
    if anon_id:
        progress_merge(user_id=user.pk, anon_id=anon_id)
