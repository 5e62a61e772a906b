"""A live session led by an instructor: who is in the room, what the room sees, what it answered.

The room's *stage* (what every participant's screen shows) is one JSON value on the session with a
version that grows with every push: a participant who reconnects is sent the current stage, and a
push message carries only the version, so every worker renders a stage once per language.
Answers are rows written in small batches as they arrive (``batching``); a unique constraint per
(question run, participant) makes a resent answer a no-op whatever worker receives it.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models


class LiveSession(models.Model):
    code = models.CharField(max_length=8, unique=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="live_sessions")
    title = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    capacity = models.PositiveIntegerField(default=1000)
    #: What every screen shows: {"kind": "lobby" | "step" | "walk" | "compare" | "question" | "free", ...}.
    stage = models.JSONField(default=dict)
    stage_version = models.PositiveIntegerField(default=0)
    #: The channel of the instructor tab that drives the room; a newer tab takes over.
    controller = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.code

    @property
    def group(self) -> str:
        """Everyone in the room (participants and instructor tabs)."""
        return f"class.{self.pk}"

    @property
    def teach_group(self) -> str:
        """The instructor's tabs only: live answer counts, participants joining."""
        return f"class.{self.pk}.teach"

    def get_absolute_url(self) -> str:
        return f"/teach/{self.code}/"


class Participant(models.Model):
    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    display_name = models.CharField(max_length=40)
    #: The participant's secret, kept in their Django session: never shown to others, never sent by the page.
    token = models.CharField(max_length=64, unique=True)
    joined_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], condition=models.Q(user__isnull=False),
                                    name="participant_once_per_user"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None


class QuestionRun(models.Model):
    """One asking of a bank question in a session (the same question may be asked twice)."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="runs")
    question = models.ForeignKey("quizzes.Question", on_delete=models.CASCADE, related_name="+")
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    revealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["opened_at", "id"]

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class LiveAnswer(models.Model):
    run = models.ForeignKey(QuestionRun, on_delete=models.CASCADE, related_name="answers")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="answers")
    answer = models.JSONField(default=dict)
    correct = models.BooleanField(default=False)
    score = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "participant"], name="live_answer_once")]
