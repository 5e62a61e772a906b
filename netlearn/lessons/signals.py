"""Keep page caches honest: any change to a step moves its lesson's ``updated_at``; any change to
the course (track, lesson, step, glossary term: the admin, ``import_content``, ``seed_content``)
moves the content version the rendered step pages are cached under; progress made anonymously
follows the learner into their account at log-in."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from netlearn.core import contentversion

from .models import GlossaryTerm, Lesson, Step, Track
from .services import VISITOR_SESSION_KEY, lesson_touch, progress_claim_visitor


@receiver(post_save, sender=Step)
@receiver(post_delete, sender=Step)
def _step_changed(sender: type, instance: Step, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        contentversion.bump()
        return
    lesson_touch(lesson_id=instance.lesson_id)


@receiver(post_save, sender=Track)
@receiver(post_delete, sender=Track)
@receiver(post_save, sender=Lesson)
@receiver(post_delete, sender=Lesson)
@receiver(post_save, sender=GlossaryTerm)
@receiver(post_delete, sender=GlossaryTerm)
def _course_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    contentversion.bump()


@receiver(user_logged_in)
def _claim_progress(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    visitor = request.session.get(VISITOR_SESSION_KEY, "")
    if visitor:
        progress_claim_visitor(visitor=visitor, user=user)
