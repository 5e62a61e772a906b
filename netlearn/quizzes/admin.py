"""Authoring for instructors: inline choices/items/answers, preview as learners see it, and
per-question statistics so the hardest questions stand out (sort by "share correct")."""
from __future__ import annotations

from contextlib import nullcontext

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from netlearn.core.adminforms import LabelledInlineFormSet

from . import selectors
from .cards import CardOptions, card_context, feedback_context
from .grading import AnswerError, grade, parse_answer
from .models import (
    AcceptedAnswer,
    Attempt,
    ChecklistItem,
    Choice,
    LessonLink,
    MockInterview,
    OrderItem,
    Question,
    Quiz,
    QuizQuestion,
    ReviewState,
    Topic,
)

GRADING_FIELDS = {"type", "numeric_value", "numeric_tolerance"}


class ChoiceInline(admin.TabularInline):
    formset = LabelledInlineFormSet
    model = Choice
    extra = 0
    fields = ("order", "text_en", "text_ko", "correct")


class OrderItemInline(admin.TabularInline):
    formset = LabelledInlineFormSet
    model = OrderItem
    extra = 0
    fields = ("position", "text_en", "text_ko")
    verbose_name_plural = _("ordering items (in the correct order)")


class AcceptedAnswerInline(admin.TabularInline):
    formset = LabelledInlineFormSet
    model = AcceptedAnswer
    extra = 0
    fields = ("text_en", "text_ko")


class ChecklistInline(admin.TabularInline):
    formset = LabelledInlineFormSet
    model = ChecklistItem
    extra = 0
    fields = ("order", "text_en", "text_ko")


class LessonLinkInline(admin.TabularInline):
    formset = LabelledInlineFormSet
    model = LessonLink
    extra = 0
    fields = ("lesson_slug", "step", "order")


class TranslationFilter(admin.SimpleListFilter):
    """The "language" filter: find questions whose text is missing in one language."""

    title = _("language")
    parameter_name = "lang"

    def lookups(self, request, model_admin):
        return [("ko-missing", _("Korean text missing")), ("en-missing", _("English text missing")),
                ("complete", _("Both languages complete"))]

    def queryset(self, request, queryset):
        ko_missing = Q(prompt_ko="") | Q(explanation_ko="")
        en_missing = Q(prompt_en="") | Q(explanation_en="")
        if self.value() == "ko-missing":
            return queryset.filter(ko_missing)
        if self.value() == "en-missing":
            return queryset.filter(en_missing)
        if self.value() == "complete":
            return queryset.exclude(ko_missing | en_missing)
        return queryset


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ("key", "type", "short_prompt", "difficulty", "attempts", "share_correct", "top_wrong", "preview")
    list_filter = ("topics", "type", TranslationFilter, "difficulty")
    search_fields = ("key", "prompt_en", "prompt_ko")
    # Checkboxes for the fixed topic list and a plain <select> for the follow-up question: the
    # admin's filter widget and select2 autocomplete render unnamed controls (axe: serious).
    formfield_overrides = {models.ManyToManyField: {"widget": forms.CheckboxSelectMultiple}}
    readonly_fields = ("version", "statistics", "preview")
    inlines = [ChoiceInline, OrderItemInline, AcceptedAnswerInline, ChecklistInline, LessonLinkInline]
    fieldsets = (
        (None, {"fields": ("key", "type", "topics", "layers", "difficulty", "version")}),
        (_("Text"), {"fields": ("prompt_en", "prompt_ko", "explanation_en", "explanation_ko")}),
        (_("Numeric questions"), {"fields": ("numeric_value", "numeric_tolerance"), "classes": ("collapse",)}),
        (_("Interview questions"), {"fields": ("model_answer_en", "model_answer_ko"), "classes": ("collapse",)}),
        (_("Links"), {"fields": ("walk_url", "follow_up", "key_terms")}),
        (_("Statistics"), {"fields": ("statistics", "preview")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Question]:
        return selectors.questions_with_stats(super().get_queryset(request))

    @admin.display(description=_("prompt"))
    def short_prompt(self, obj: Question) -> str:
        return (obj.prompt_en[:70] + "…") if len(obj.prompt_en) > 70 else obj.prompt_en

    @admin.display(description=_("attempts"), ordering="attempt_count")
    def attempts(self, obj: Question) -> int:
        return obj.attempt_count

    @admin.display(description=_("share correct"), ordering="share_correct")
    def share_correct(self, obj: Question) -> str:
        return "—" if obj.share_correct is None else f"{obj.share_correct:.0%}"

    @admin.display(description=_("most chosen wrong choice"))
    def top_wrong(self, obj: Question) -> str:
        return f"{obj.top_wrong_choice} ({obj.top_wrong_count})" if obj.top_wrong_choice else "—"

    @admin.display(description=_("statistics"))
    def statistics(self, obj: Question) -> str:
        if not obj.pk:
            return "—"
        stats = selectors.question_stats(obj)
        share = "—" if stats["share_correct"] is None else f"{stats['share_correct']:.0%}"
        wrong = f"{stats['top_wrong_choice']} ({stats['top_wrong_count']})" if stats["top_wrong_choice"] else "—"
        return format_html("{}: {} · {}: {} · {}: {}", _("attempts"), stats["attempts"], _("share correct"), share,
                           _("most chosen wrong choice"), wrong)

    @admin.display(description=_("preview"))
    def preview(self, obj: Question) -> str:
        if not obj.pk:
            return "—"
        url = reverse("admin:quizzes_question_preview", args=[obj.pk])
        return format_html('<a href="{}">EN</a> · <a href="{}?lang=ko">KO</a>', url, url)

    def save_model(self, request, obj, form, change):
        # A graded edit makes forms rendered before it stale instead of mis-graded.
        if change and (GRADING_FIELDS & set(form.changed_data)):
            obj.version += 1
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if change and formset.has_changed() and formset.model in (Choice, OrderItem, AcceptedAnswer, ChecklistItem):
            Question.objects.filter(pk=form.instance.pk).update(version=form.instance.version + 1)
            form.instance.version += 1

    def get_urls(self):
        return [path("<int:pk>/preview/", self.admin_site.admin_view(self.preview_view),
                     name="quizzes_question_preview"), *super().get_urls()]

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The learner's card, in the learner's page; answering grades but records nothing."""
        lang = request.GET.get("lang") if request.GET.get("lang") in ("en", "ko") else None
        with override(lang) if lang else nullcontext():
            question = selectors.question_for_display(pk=pk)
            url = reverse("admin:quizzes_question_preview", args=[pk]) + (f"?lang={lang}" if lang else "")
            opts = CardOptions(mode="preview", action=url, next_url=url)
            template = "quizzes/_card.html"
            if request.method != "POST":
                ctx = card_context(question, opts)
            elif question.type == "interview" and "reveal" not in request.POST:
                ctx = card_context(question, opts, notes=request.POST.get("text", "")[:5000], revealed=True)
            else:
                try:
                    answer = parse_answer(question, request.POST)
                except AnswerError as exc:
                    ctx = card_context(question, opts, error=str(exc))
                else:
                    ctx = feedback_context(question, grade(question, answer), answer, opts)
                    template = "quizzes/_feedback.html"
            ctx.update({"card_template": template, "reveal_action": url, "preview": True,
                        "admin_url": reverse("admin:quizzes_question_change", args=[pk]),
                        "title": f"Preview: {question.key}", "lang": lang or ""})
            if getattr(request, "htmx", False):
                return render(request, template, ctx)
            return render(request, "quizzes/preview.html", ctx)


class QuizQuestionInline(admin.TabularInline):
    formset = LabelledInlineFormSet
    model = QuizQuestion
    extra = 0
    fields = ("order", "question")


@admin.register(Quiz)
class QuizAdmin(admin.ModelAdmin):
    list_display = ("slug", "title_en", "title_ko")
    list_filter = ("topics",)
    search_fields = ("slug", "title_en", "title_ko")
    formfield_overrides = {models.ManyToManyField: {"widget": forms.CheckboxSelectMultiple}}
    inlines = [QuizQuestionInline]


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ("slug", "name_en", "name_ko")
    search_fields = ("slug", "name_en", "name_ko")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Learners' records: instructors may look, nobody edits them by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = ("question", "user", "correct", "score", "mode", "created_at")
    list_filter = ("correct", "mode", "question__type", "question__topics")
    list_select_related = ("question", "user")
    date_hierarchy = "created_at"


@admin.register(ReviewState)
class ReviewStateAdmin(ReadOnlyAdmin):
    list_display = ("question", "user", "due", "reps", "lapses", "last_rating")
    list_select_related = ("question", "user")


@admin.register(MockInterview)
class MockInterviewAdmin(ReadOnlyAdmin):
    list_display = ("pk", "user", "started_at", "finished_at", "seconds_per_question")
    list_select_related = ("user",)
