"""Lessons: tracks of lessons made of numbered steps, a glossary, and who has seen which step.

Every text exists in English and Korean (``<name>_en`` / ``<name>_ko``; ``Localized`` picks the
active language). ``updated_at`` on a lesson moves whenever the lesson or one of its steps
changes: the page caches use it as their version, so an admin edit is visible at once in every
worker process without a shared cache.
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from netlearn.core.i18n import Localized

from .validation import diagram_problems, lab_action_problems, layers_problems


def _raise(problems: list[str], field: str) -> None:
    if problems:
        raise ValidationError({field: problems})


class Track(models.Model):
    slug = models.SlugField(unique=True)
    order = models.PositiveIntegerField(default=0)
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_ko = models.CharField(_("title (Korean)"), max_length=200)

    title = Localized()

    class Meta:
        ordering = ["order", "slug"]
        verbose_name = _("track")
        verbose_name_plural = _("tracks")

    def __str__(self) -> str:
        return self.title_en


class LessonQuerySet(models.QuerySet):
    def published(self) -> LessonQuerySet:
        return self.filter(published=True)

    def visible_to(self, user) -> LessonQuerySet:
        """Learners see published lessons; instructors also their drafts."""
        if can_preview_drafts(user):
            return self
        return self.published()


def can_preview_drafts(user) -> bool:
    return bool(user and user.is_active and user.is_staff and user.has_perm("lessons.view_lesson"))


class Lesson(models.Model):
    slug = models.SlugField(unique=True, max_length=80)
    track = models.ForeignKey(Track, on_delete=models.PROTECT, related_name="lessons")
    order = models.PositiveIntegerField(default=0)
    published = models.BooleanField(default=False)
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_ko = models.CharField(_("title (Korean)"), max_length=200)
    summary_en = models.TextField(_("summary (English)"), blank=True)
    summary_ko = models.TextField(_("summary (Korean)"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    title = Localized()
    summary = Localized()

    objects = LessonQuerySet.as_manager()

    class Meta:
        ordering = ["track__order", "order", "slug"]
        verbose_name = _("lesson")
        verbose_name_plural = _("lessons")

    def __str__(self) -> str:
        return self.title_en

    def get_absolute_url(self) -> str:
        return f"/lessons/{self.slug}/"


class Step(models.Model):
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="steps")
    number = models.PositiveIntegerField(
        _("number"), help_text=_("Position in the lesson, from 1. Change the numbers to reorder."))
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_ko = models.CharField(_("title (Korean)"), max_length=200)
    body_en = models.TextField(_("body (English, Markdown)"))
    body_ko = models.TextField(_("body (Korean, Markdown)"))
    layers = models.JSONField(_("OSI layers"), default=list, blank=True)
    diagram = models.JSONField(_("diagram"), default=dict, blank=True)
    lab_action = models.JSONField(_("lab action"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    title = Localized()
    body = Localized()

    class Meta:
        ordering = ["lesson", "number"]
        constraints = [models.UniqueConstraint(fields=["lesson", "number"], name="step_unique_number")]
        verbose_name = _("step")
        verbose_name_plural = _("steps")

    def __str__(self) -> str:
        return f"{self.lesson.slug} #{self.number}: {self.title_en}"

    def get_absolute_url(self) -> str:
        return f"/lessons/{self.lesson.slug}/{self.number}/"

    @property
    def lit_nodes(self) -> list[str]:
        return list((self.diagram or {}).get("nodes", []))

    @property
    def lit_links(self) -> list[str]:
        return list((self.diagram or {}).get("links", []))

    def clean(self) -> None:
        _raise(layers_problems(self.layers, "layers"), "layers")
        _raise(diagram_problems(self.diagram or {}, "diagram"), "diagram")
        _raise(lab_action_problems(self.lab_action, "lab_action"), "lab_action")


class GlossaryTerm(models.Model):
    term = models.CharField(max_length=80, unique=True, help_text=_("The key used in [[term]] links; never rename it."))
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_ko = models.CharField(_("title (Korean)"), max_length=200)
    body_en = models.TextField(_("body (English, Markdown)"))
    body_ko = models.TextField(_("body (Korean, Markdown)"))
    layers = models.JSONField(_("OSI layers"), default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    title = Localized()
    body = Localized()

    class Meta:
        ordering = ["term"]
        verbose_name = _("glossary term")
        verbose_name_plural = _("glossary terms")

    def __str__(self) -> str:
        return self.term

    def get_absolute_url(self) -> str:
        from netlearn.core.markdown import glossary_url

        return glossary_url(self.term)

    def clean(self) -> None:
        _raise(layers_problems(self.layers, "layers"), "layers")


class StepView(models.Model):
    """A learner has seen a step: by account, or by an anonymous visitor key kept in the session.

    The visitor key (not the session key, which changes at log-in) lets progress made before
    logging in move to the account afterwards.
    """

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="views")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="step_views")
    visitor = models.CharField(max_length=40, blank=True, db_index=True)
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["step", "user"], condition=Q(user__isnull=False),
                                    name="stepview_user_once"),
            models.UniqueConstraint(fields=["step", "visitor"], condition=~Q(visitor=""), name="stepview_visitor_once"),
            models.CheckConstraint(condition=Q(user__isnull=False) | ~Q(visitor=""), name="stepview_has_owner"),
        ]
