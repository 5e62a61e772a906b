"""Instructor admin: lessons with their steps inline (reorder by number), drafts and publishing,
live Markdown preview, and "view on site" to every lesson, step and term."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, F
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from netlearn.core.adminforms import LabelledChangeListMixin

from .forms import GlossaryTermAdminForm, StepAdminForm
from .models import GlossaryTerm, Lesson, Step, Track
from .services import lesson_steps_renumber

admin.site.site_header = _("NetLearn instructors")
admin.site.site_title = _("NetLearn admin")
admin.site.index_title = _("Course content")


@admin.register(Track)
class TrackAdmin(LabelledChangeListMixin, admin.ModelAdmin):
    list_display = ["title_en", "title_ko", "slug", "order"]
    list_editable = ["order"]
    prepopulated_fields = {"slug": ["title_en"]}


class StepFormSet(BaseInlineFormSet):
    def validate_unique(self) -> None:
        """Two steps may share a number while reordering: ``save_formset`` resolves ties."""


class StepInline(admin.StackedInline):
    model = Step
    form = StepAdminForm
    formset = StepFormSet
    extra = 0
    ordering = ["number"]
    classes = ["step-inline"]
    fieldsets = [
        (None, {"fields": ["number", ("title_en", "title_ko"), "body_en", "body_ko"]}),
        (_("Layers, diagram and lab"), {"fields": ["layers", "lit_nodes", "lit_links", "lab_action"],
                                         "classes": ["collapse"]}),
    ]


@admin.register(Lesson)
class LessonAdmin(LabelledChangeListMixin, admin.ModelAdmin):
    list_display = ["title_en", "title_ko", "track", "order", "published", "step_count", "updated_at"]
    list_editable = ["order", "published"]
    list_filter = ["track", "published"]
    search_fields = ["slug", "title_en", "title_ko", "summary_en", "summary_ko"]
    prepopulated_fields = {"slug": ["title_en"]}
    inlines = [StepInline]
    actions = ["publish", "unpublish"]
    fieldsets = [
        (None, {"fields": ["slug", "track", "order", "published"]}),
        (_("Title and summary"), {"fields": [("title_en", "title_ko"), ("summary_en", "summary_ko")]}),
    ]

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).annotate(n_steps=Count("steps"))

    @admin.display(description=_("steps"), ordering="n_steps")
    def step_count(self, obj: Lesson) -> int:
        return obj.n_steps

    @admin.action(description=_("Publish the selected lessons"), permissions=["change"])
    def publish(self, request: Any, queryset: Any) -> None:
        n = queryset.update(published=True)
        self.message_user(request, ngettext("%d lesson published.", "%d lessons published.", n) % n, messages.SUCCESS)

    @admin.action(description=_("Unpublish the selected lessons"), permissions=["change"])
    def unpublish(self, request: Any, queryset: Any) -> None:
        n = queryset.update(published=False)
        self.message_user(request, ngettext("%d lesson unpublished.", "%d lessons unpublished.", n) % n,
                          messages.SUCCESS)

    def save_formset(self, request: Any, form: Any, formset: Any, change: bool) -> None:
        """Save the steps, then number them 1..n in the order the instructor typed.

        Every kept step is first parked on a number out of the way, so swapping two steps'
        numbers never trips the (lesson, number) constraint; ties keep the on-screen order.
        """
        if formset.model is not Step:
            return super().save_formset(request, form, formset, change)
        lesson = form.instance
        formset.save(commit=False)  # fills deleted_objects; instances already hold the new values
        # On a tie the step whose number was just typed goes first: "make this step 3".
        kept = [
            ((f.cleaned_data["number"], 0 if "number" in f.changed_data else 1, i), i, f.instance)
            for i, f in enumerate(formset.forms)
            if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE")
        ]
        kept.sort(key=lambda k: k[0])
        with transaction.atomic():
            for obj in formset.deleted_objects:
                obj.delete()
            lesson.steps.update(number=F("number") + 100_000)
            for position, (_number, _i, step) in enumerate(kept, start=200_000):
                step.lesson = lesson
                step.number = position
                step.save()
            kept_ids = [step.pk for _n, _i, step in kept]
            others = list(lesson.steps.exclude(pk__in=kept_ids).order_by("number").values_list("pk", flat=True))
            lesson_steps_renumber(lesson=lesson, ordered_ids=kept_ids + others)


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    """Find a step by its text across lessons and edit it; adding and reordering happen in the
    lesson, where the numbering is kept whole."""

    form = StepAdminForm
    list_display = ["__str__", "lesson", "number"]
    list_filter = ["lesson__track", "lesson"]
    search_fields = ["title_en", "title_ko", "body_en", "body_ko"]
    readonly_fields = ["lesson", "number"]
    fieldsets = [
        (None, {"fields": ["lesson", "number", ("title_en", "title_ko"), "body_en", "body_ko"]}),
        (_("Layers, diagram and lab"), {"fields": ["layers", "lit_nodes", "lit_links", "lab_action"]}),
    ]

    def has_add_permission(self, request: Any) -> bool:
        return False


@admin.register(GlossaryTerm)
class GlossaryTermAdmin(admin.ModelAdmin):
    form = GlossaryTermAdminForm
    list_display = ["term", "title_en", "title_ko", "updated_at"]
    search_fields = ["term", "title_en", "title_ko", "body_en", "body_ko"]
