"""Anonymous progress follows the learner into their account when they log in or sign up; a
change to quiz content moves the content version that cached questions are kept under."""
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


def _content_changed(sender: Any, **kwargs: Any) -> None:
    from netlearn.core import contentversion

    contentversion.bump()


def connect_content_version() -> None:
    """Every quiz *content* model (not learners' attempts, schedules and interviews)."""
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from . import models

    for model in (models.Topic, models.Question, models.Choice, models.OrderItem, models.AcceptedAnswer,
                  models.ChecklistItem, models.LessonLink, models.Quiz, models.QuizQuestion):
        for signal in (post_save, post_delete):
            signal.connect(_content_changed, sender=model, dispatch_uid=f"quizzes.content.{model.__name__}.{signal}")
    for field in models.Question._meta.many_to_many:
        m2m_changed.connect(_content_changed, sender=field.remote_field.through,
                            dispatch_uid=f"quizzes.content.m2m.{field.name}")
