"""Question bank, quizzes, attempts, review schedules and mock interviews.

A *learner* is either a user or an anonymous visitor identified by a random id kept in their
session (``anon_id``). Every learner-owned row carries both columns; exactly one is set. On log
in the anonymous rows are handed over to the account (see ``services.progress_merge``).
"""
from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from netlearn.core.i18n import Localized


class Topic(models.Model):
    slug = models.SlugField(unique=True)
    name_en = models.CharField(max_length=100)
    name_ko = models.CharField(max_length=100)

    name = Localized()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name_en


class QuestionType(models.TextChoices):
    SINGLE = "single", _("Single choice")
    MULTIPLE = "multiple", _("Multiple choice")
    TRUE_FALSE = "true_false", _("True or false")
    ORDERING = "ordering", _("Ordering")
    SHORT = "short", _("Short answer")
    NUMERIC = "numeric", _("Numeric")
    INTERVIEW = "interview", _("Interview (self-graded)")


CHOICE_TYPES = {QuestionType.SINGLE, QuestionType.MULTIPLE, QuestionType.TRUE_FALSE}


class Question(models.Model):
    key = models.SlugField(max_length=100, unique=True, help_text=_("Stable identifier; never change once shipped."))
    type = models.CharField(max_length=12, choices=QuestionType.choices)
    topics = models.ManyToManyField(Topic, related_name="questions")
    layers = models.JSONField(default=list, blank=True, help_text=_("OSI layer numbers 1-7, e.g. [4, 7]."))
    difficulty = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(5)])
    prompt_en = models.TextField()
    prompt_ko = models.TextField()
    explanation_en = models.TextField()
    explanation_ko = models.TextField()
    model_answer_en = models.TextField(blank=True)
    model_answer_ko = models.TextField(blank=True)
    numeric_value = models.FloatField(null=True, blank=True)
    numeric_tolerance = models.FloatField(default=0, validators=[MinValueValidator(0)])
    walk_url = models.CharField(max_length=300, blank=True, help_text=_("A lab URL to walk, e.g. http://shop.netlearn.test/"))
    follow_up = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    #: [{"en": ..., "ko": ...}]: words the linked lesson steps must contain, so a question's link
    #: lands on a step that teaches its answer (tests/quizzes/test_lesson_links.py checks it).
    key_terms = models.JSONField(default=list, blank=True,
                                 help_text=_('Terms the linked steps must contain, '
                                             'e.g. [{"en": "REST", "ko": "REST"}].'))
    #: Bumped whenever an edit could change how an answer is graded, so a form rendered before
    #: the edit is recognised as stale instead of being graded against different choices.
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    prompt = Localized()
    explanation = Localized()
    model_answer = Localized()

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    def lesson_links(self) -> list[tuple[str, int, str]]:
        """(slug, step, url) of each linked lesson step; resolved lazily, lessons may come later."""
        return [(link.lesson_slug, link.step, link.url) for link in self.links.all()]


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    order = models.PositiveSmallIntegerField(default=0)
    text_en = models.CharField(max_length=500)
    text_ko = models.CharField(max_length=500)
    correct = models.BooleanField(default=False)

    text = Localized()

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.text_en


class OrderItem(models.Model):
    """One item of an ordering question; ``position`` is its place in the correct order."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="order_items")
    position = models.PositiveSmallIntegerField(default=0)
    text_en = models.CharField(max_length=300)
    text_ko = models.CharField(max_length=300)

    text = Localized()

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text_en


class AcceptedAnswer(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="accepted")
    text_en = models.CharField(max_length=300)
    text_ko = models.CharField(max_length=300, blank=True)

    text = Localized()

    def __str__(self) -> str:
        return self.text_en


class ChecklistItem(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="checklist")
    order = models.PositiveSmallIntegerField(default=0)
    text_en = models.CharField(max_length=500)
    text_ko = models.CharField(max_length=500)

    text = Localized()

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.text_en


class LessonLink(models.Model):
    """A (lesson slug, step number) pair, not a foreign key: a question may be imported first."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="links")
    lesson_slug = models.SlugField(max_length=100)
    step = models.PositiveSmallIntegerField(default=1)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]

    @property
    def url(self) -> str:
        return f"/lessons/{self.lesson_slug}/{self.step}/"

    def __str__(self) -> str:
        return f"{self.lesson_slug} #{self.step}"


class Quiz(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    title_en = models.CharField(max_length=200)
    title_ko = models.CharField(max_length=200)
    topics = models.ManyToManyField(Topic, related_name="quizzes", blank=True)
    questions: models.ManyToManyField[Question, QuizQuestion] = models.ManyToManyField(
        Question, through="QuizQuestion", related_name="quizzes")

    title = Localized()

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "quizzes"

    def __str__(self) -> str:
        return self.title_en


class QuizQuestion(models.Model):
    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="entries")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="+")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["quiz", "question"], name="quiz_question_once")]


class LearnerOwned(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    anon_id = models.CharField(max_length=40, blank=True, db_index=True)

    class Meta:
        abstract = True


class MockInterview(LearnerOwned):
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds_per_question = models.PositiveIntegerField(default=120)
    #: Question ids still to ask, in order; a follow-up is inserted at the front when earned.
    plan = models.JSONField(default=list)
    current = models.ForeignKey(Question, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    current_served_at = models.DateTimeField(null=True, blank=True)

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None


class Attempt(LearnerOwned):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="attempts")
    quiz = models.ForeignKey(Quiz, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts")
    mock = models.ForeignKey(MockInterview, null=True, blank=True, on_delete=models.CASCADE, related_name="attempts")
    #: One per rendered form: a double submission hits the unique constraint and is answered
    #: with the attempt already recorded instead of a second one.
    token = models.CharField(max_length=64, unique=True)
    answer = models.JSONField(default=dict)
    picked_choices = models.ManyToManyField(Choice, blank=True, related_name="picked_in")
    correct = models.BooleanField(default=False)
    score = models.FloatField(default=0)
    passed = models.BooleanField(default=False, help_text=_("Skipped in a mock interview."))
    question_version = models.PositiveIntegerField(default=1)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    mode = models.CharField(max_length=10, default="quiz")  # quiz | review | practice | mock
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(user__isnull=False) | ~Q(anon_id=""), name="attempt_has_learner"),
        ]


class ReviewState(LearnerOwned):
    """The learner's spaced-repetition card for one question (FSRS state as JSON)."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="review_states")
    card = models.JSONField(default=dict)
    due = models.DateTimeField(db_index=True)
    reps = models.PositiveIntegerField(default=0)
    lapses = models.PositiveIntegerField(default=0)
    last_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    last_review = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "question"], condition=Q(user__isnull=False),
                                    name="review_once_per_user"),
            models.UniqueConstraint(fields=["anon_id", "question"], condition=Q(user__isnull=True),
                                    name="review_once_per_anon"),
        ]


