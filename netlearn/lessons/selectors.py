"""Reads for the lesson pages, the home page, search, and other apps (``step_url``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q

from netlearn.core.i18n import LANGS

from . import progress
from .models import GlossaryTerm, Lesson, Step, StepView, Track, can_preview_drafts


def step_url(lesson_slug: str, number: int) -> str:
    """The address of one step; quizzes and walks link to steps through this."""
    return f"/lessons/{lesson_slug}/{int(number)}/"


def published_step_keys() -> list[tuple[str, int]]:
    """(lesson slug, step number) of every step of a published lesson, in the course's order."""
    return list(Step.objects.filter(lesson__published=True)
                .order_by("lesson__track__order", "lesson__order", "lesson__slug", "number")
                .values_list("lesson__slug", "number"))


def lesson_url(lesson_slug: str) -> str:
    return f"/lessons/{lesson_slug}/"


@dataclass(frozen=True)
class OutlineItem:
    number: int
    title_en: str
    title_ko: str
    step_id: int

    def title(self, lang: str) -> str:
        return (self.title_ko if lang == "ko" else self.title_en) or self.title_en


def lesson_outline(*, lesson: Lesson) -> list[OutlineItem]:
    """The lesson's step titles, cached under the lesson's version (``updated_at``)."""
    key = f"outline:{lesson.pk}:{lesson.updated_at.timestamp()}"
    outline = cache.get(key)
    if outline is None:
        outline = [OutlineItem(n, en, ko, pk) for n, en, ko, pk in
                   lesson.steps.order_by("number").values_list("number", "title_en", "title_ko", "pk")]
        cache.set(key, outline, timeout=3600)
    return outline


def step_for_page(*, slug: str, number: int, user: Any) -> Step | None:
    """The step with its lesson and track, or None when it does not exist or is hidden."""
    step = Step.objects.select_related("lesson__track").filter(lesson__slug=slug, number=number).first()
    if step is None or (not step.lesson.published and not can_preview_drafts(user)):
        return None
    return step


def lesson_for_page(*, slug: str, user: Any) -> Lesson | None:
    return Lesson.objects.visible_to(user).select_related("track").filter(slug=slug).first()


def _owner_filter(*, user: Any, visitor: str) -> Q | None:
    if user is not None and getattr(user, "is_authenticated", False):
        return Q(user=user)
    if visitor:
        return Q(visitor=visitor)
    return None


def progress_seen_step_ids(*, user: Any = None, visitor: str = "", lesson: Lesson | None = None) -> set[int]:
    owner = _owner_filter(user=user, visitor=visitor)
    if owner is None:
        return set()
    progress.flush()  # this process's views not written yet
    views = StepView.objects.filter(owner)
    if lesson is not None:
        views = views.filter(step__lesson=lesson)
    return set(views.values_list("step_id", flat=True))


@dataclass
class LessonCard:
    lesson: Lesson
    steps: int
    seen: int = 0

    @property
    def percent(self) -> int:
        return round(100 * self.seen / self.steps) if self.steps else 0

    @property
    def done(self) -> bool:
        return self.steps > 0 and self.seen >= self.steps


@dataclass
class TrackCard:
    track: Track
    lessons: list[LessonCard] = field(default_factory=list)


def catalog(*, user: Any = None, visitor: str = "") -> list[TrackCard]:
    """Tracks with their visible lessons, step counts and this learner's progress."""
    lessons = (Lesson.objects.visible_to(user).select_related("track").annotate(n_steps=Count("steps"))
               .order_by("track__order", "order", "slug"))
    seen_by_lesson: dict[int, int] = {}
    owner = _owner_filter(user=user, visitor=visitor)
    if owner is not None:
        progress.flush()
        for row in StepView.objects.filter(owner).values("step__lesson_id").annotate(n=Count("id")):
            seen_by_lesson[row["step__lesson_id"]] = row["n"]
    tracks: dict[int, TrackCard] = {}
    for lesson in lessons:
        card = tracks.setdefault(lesson.track_id, TrackCard(lesson.track))
        card.lessons.append(LessonCard(lesson, lesson.n_steps, seen_by_lesson.get(lesson.pk, 0)))
    return list(tracks.values())


def continue_target(cards: list[TrackCard], *, user: Any = None, visitor: str = "") -> tuple[LessonCard, int] | None:
    """The first lesson begun but not finished, with the first unseen step number."""
    for track in cards:
        for card in track.lessons:
            if 0 < card.seen < card.steps:
                seen = progress_seen_step_ids(user=user, visitor=visitor, lesson=card.lesson)
                for item in lesson_outline(lesson=card.lesson):
                    if item.step_id not in seen:
                        return card, item.number
    return None


def glossary_terms() -> list[GlossaryTerm]:
    return list(GlossaryTerm.objects.order_by("term"))


def glossary_term_get(*, term: str) -> GlossaryTerm | None:
    return GlossaryTerm.objects.filter(term=term).first() or GlossaryTerm.objects.filter(term__iexact=term).first()


def glossary_used_in(*, term: GlossaryTerm, user: Any = None) -> list[Step]:
    """Steps whose body links to the term (``[[term]]`` or ``[[term|text]]``)."""
    q = Q()
    for lang in LANGS:
        q |= Q(**{f"body_{lang}__contains": f"[[{term.term}]]"}) | Q(**{f"body_{lang}__contains": f"[[{term.term}|"})
    lessons = Lesson.objects.visible_to(user)
    steps = Step.objects.filter(q, lesson__in=lessons).select_related("lesson")
    return list(steps.order_by("lesson__order", "number")[:30])


@dataclass
class SearchResults:
    query: str
    lessons: list[Lesson]
    steps: list[Step]
    terms: list[GlossaryTerm]

    @property
    def total(self) -> int:
        return len(self.lessons) + len(self.steps) + len(self.terms)


def _text_q(fields: list[str], words: list[str]) -> Q:
    """Every word must occur in one of the fields (in either language)."""
    q = Q()
    for word in words:
        any_field = Q()
        for name in fields:
            any_field |= Q(**{f"{name}__icontains": word})
        q &= any_field
    return q


def search(*, query: str, user: Any = None, limit: int = 30) -> SearchResults:
    words = [w for w in query.split() if w][:8]
    if not words:
        return SearchResults(query, [], [], [])
    visible = Lesson.objects.visible_to(user)
    bi = lambda *names: [f"{n}_{lang}" for n in names for lang in LANGS]  # noqa: E731
    lessons = list(visible.filter(_text_q(["slug", *bi("title", "summary")], words)).select_related("track")[:limit])
    steps = list(Step.objects.filter(_text_q(bi("title", "body"), words), lesson__in=visible)
                 .select_related("lesson").order_by("lesson__order", "number")[:limit])
    terms = list(GlossaryTerm.objects.filter(_text_q(["term", *bi("title", "body")], words))[:limit])
    return SearchResults(query, lessons, steps, terms)
