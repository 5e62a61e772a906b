"""A walk as data: the URL, who asked, how it ended, and every event it really caused."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from netlearn.core.fastjson import FastJSONField


class WalkQuerySet(models.QuerySet):
    def for_learner(self, *, user, session_key: str | None) -> WalkQuerySet:
        """A learner sees only their own walks (by account, or by session when anonymous)."""
        if user is not None and user.is_authenticated:
            return self.filter(user=user)
        if session_key:
            return self.filter(user__isnull=True, session_key=session_key)
        return self.none()


class Walk(models.Model):
    """A run in the lab: a walk of a URL, or one of the lesson steps' "try it" actions.

    Both are the same thing to the site: something the lab really did, its events streamed
    live to a Channels group and then stored, so one model, bridge and consumer serve both.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        REFUSED = "refused", _("refused")
        FAILED = "failed", _("failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="walks")
    session_key = models.CharField(max_length=64, blank=True, db_index=True)
    kind = models.CharField(max_length=32, default="walk", db_index=True,
                            help_text="walk, or a lab action kind (dns_query, lb_distribution, ...).")
    url = models.CharField(max_length=2048, help_text="The walked URL, or a short description of the action.")
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    step = models.ForeignKey("lessons.Step", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    code = models.CharField(max_length=64, blank=True, help_text="Refusal or failure code.")
    detail = models.JSONField(default=dict, blank=True)
    events = FastJSONField(default=list, blank=True)
    frames = FastJSONField(
        default=list, blank=True,
        help_text="The walk's frames on the wire, captured on lo (or rebuilt): docs/capture.md describes each dict.")
    backends = models.JSONField(default=list, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(
        max_length=255, blank=True, default="",
        help_text="The process that runs the walk (services.worker_identity()): host, pid namespace, pid and start "
                  "time. Each worker's supervisor fails the running walks of a process that is gone (worker_lost).")

    objects = WalkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The stale-walk sweep (every few seconds in every worker) and the running-walk limits
            # read only the running rows: a small partial index, however long the history grows.
            models.Index(fields=["created_at"], condition=models.Q(status="running"), name="walks_running_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.url} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("walks:detail", args=[self.id])

    @property
    def group_name(self) -> str:
        return f"walk.{self.id.hex}"

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.RUNNING
