"""Render a question card (to answer) or its feedback card: the one piece of UI shared by quiz
pages, the review queue, mock interviews and the admin preview, so an instructor's preview is
exactly what learners see.

Every answer request is answered with a card: htmx swaps it in place of the old one; without
JavaScript the same card is wrapped in a full page (``quizzes/question.html``).
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from netlearn.core import contentversion
from netlearn.core.i18n import current_lang
from netlearn.core.markdown import render_markdown as _render_markdown
from netlearn.lessons import pagecache

from .grading import Grade
from .models import CHOICE_TYPES, Question, QuestionType, Quiz, ReviewState
from .services import attempt_token


@dataclass
class CardOptions:
    mode: str = "quiz"  # quiz | practice | review | mock | preview
    quiz: Quiz | None = None
    next_url: str = ""
    action: str = ""  # where the answer is posted; default: the question's answer view
    pass_action: str = ""  # mock interviews only
    extra: dict[str, Any] = field(default_factory=dict)


def render_markdown(text: str) -> SafeString:
    """The site's one Markdown pipeline (sanitised, highlighted, glossary links), per language."""
    return _render_markdown(text, lang=(get_language() or "en")[:2])


def safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()},
                                                 require_https=request.is_secure()):
        return value
    return ""


def _display_items(question: Question) -> list[Any]:
    """Ordering items shuffled, never already in the right order (that would be a free point)."""
    items = list(question.order_items.all())
    if len(items) < 2:
        return items
    shuffled = items[:]
    while shuffled == items:
        random.shuffle(shuffled)
    return shuffled


def card_context(question: Question, opts: CardOptions, *, error: str = "", notes: str = "",
                 revealed: bool = False) -> dict[str, Any]:
    action = opts.action or reverse("quizzes:answer", args=[question.key])
    return {
        "question": question,
        "prompt_html": render_markdown(question.prompt),
        "token": attempt_token(question),
        "opts": opts,
        "action": action,
        "reveal_action": reverse("quizzes:reveal", args=[question.key]),
        "error": error,
        "items": _display_items(question) if question.type == QuestionType.ORDERING else [],
        "positions": range(1, question.order_items.count() + 1) if question.type == QuestionType.ORDERING else [],
        "notes": notes,
        "revealed": revealed,
        "model_answer_html": render_markdown(question.model_answer) if revealed else "",
    }


def feedback_context(question: Question, grade: Grade, answer: dict[str, Any], opts: CardOptions, *,
                     review: ReviewState | None = None, duplicate: bool = False) -> dict[str, Any]:
    picked = set(answer.get("choices", []))
    choices = [{"choice": c, "picked": c.pk in picked} for c in question.choices.all()]
    items = {i.pk: i for i in question.order_items.all()}
    given = [items[i] for i in answer.get("order", []) if i in items]
    checked = set(answer.get("checked", []))
    return {
        "question": question,
        "prompt_html": render_markdown(question.prompt),
        "explanation_html": render_markdown(question.explanation),
        "model_answer_html": render_markdown(question.model_answer) if question.type == QuestionType.INTERVIEW else "",
        "grade": grade,
        "percent": round(grade.score * 100),
        "answer": answer,
        "choices": choices,
        "given_order": list(zip(given, grade.detail.get("in_place", []))),
        "correct_order": list(question.order_items.all()),
        "accepted": list(question.accepted.all()),
        "checklist": [{"item": c, "checked": c.pk in checked} for c in question.checklist.all()],
        "review": review,
        "duplicate": duplicate,
        "opts": opts,
    }


#: Feedback cards of the answer view, rendered once per (question and its version, language,
#: content version, the answer, mode, where "Back" leads, htmx or not) with slots for the two
#: lines that are the learner's own: when the question comes back for review, and the "you
#: already sent this" note. A class answers a question with a few distinct answers, so rendering
#: the card (its Markdown, choices, lesson links) for every answer was most of an answer's cost.
#: Only answers drawn from a small set are kept: picked choices, an order, a number; a written
#: answer (short, interview) is rendered afresh.
feedback_cards = pagecache.PageCache(max_pages=2048)
_CACHED_FEEDBACK = CHOICE_TYPES | {QuestionType.ORDERING, QuestionType.NUMERIC}
_CACHED_MODES = {"quiz", "practice", "review"}


def feedback_card(request: HttpRequest, question: Question, grade: Grade, answer: dict[str, Any],
                  opts: CardOptions, *, review: ReviewState | None = None, duplicate: bool = False,
                  content_version: str | None = None) -> str:
    """The feedback card's HTML, exactly as ``quizzes/_feedback.html`` renders it (pass the
    ``content_version`` when it was read already: one read fewer)."""
    if question.type not in _CACHED_FEEDBACK or opts.mode not in _CACHED_MODES or opts.extra:
        ctx = feedback_context(question, grade, answer, opts, review=review, duplicate=duplicate)
        return render_to_string("quizzes/_feedback.html", ctx, request=request)
    key = (question.pk, question.version, current_lang(), json.dumps(answer, sort_keys=True), opts.mode,
           opts.next_url, bool(getattr(request, "htmx", False)))
    card = feedback_cards.get(key, content_version or contentversion.current(),
                              lambda: _feedback_for_cache(request, question, grade, answer, opts))
    assert card is not None  # _feedback_for_cache always renders one
    return card.compose({
        "schedule": render_to_string("quizzes/_schedule.html", {"review": review}) if review else "",
        "duplicate": render_to_string("quizzes/_duplicate_note.html") if duplicate else "",
    }, frozenset())


def _feedback_for_cache(request: HttpRequest, question: Question, grade: Grade, answer: dict[str, Any],
                        opts: CardOptions) -> pagecache.CachedPage:
    ctx = {**feedback_context(question, grade, answer, opts), "schedule_slot": pagecache.slot("schedule"),
           "duplicate_slot": pagecache.slot("duplicate")}
    return pagecache.CachedPage.from_html(render_to_string("quizzes/_feedback.html", ctx, request=request))


#: The page around a card answered without htmx (a plain form post): the same for every answer to
#: a question but for the card and base.html's per-request parts, so it is rendered once per
#: (address, title, language) with slots (netlearn.lessons.pagecache) and the card is put in. It
#: holds no course content (the card does), so no content version is needed.
card_pages = pagecache.PageCache(max_pages=512)


def card_response(request: HttpRequest, context: dict[str, Any], *, template: str, status: int = 200,
                  title: str = "") -> HttpResponse:
    """The card alone for htmx, or wrapped in a full page for a plain form post."""
    if getattr(request, "htmx", False):
        return render(request, template, context, status=200)
    return card_page_response(request, render_to_string(template, context, request=request), status=status,
                              title=title)


def card_page_response(request: HttpRequest, card: str, *, status: int = 200, title: str = "") -> HttpResponse:
    """A rendered card as the answer: alone for htmx (always 200: htmx swaps only those), else in
    the page rendered once per (address, title, language)."""
    if getattr(request, "htmx", False):
        return HttpResponse(card)
    lang = current_lang()
    page = card_pages.get((request.path, str(title), lang), "", lambda: _card_page(request.path, title, lang))
    assert page is not None  # _card_page always renders one
    values = pagecache.slot_values(request, page, lang)
    values["card"] = card
    return HttpResponse(page.compose(values, frozenset()), status=status)


def _card_page(path: str, title: str, lang: str) -> pagecache.CachedPage:
    with translation.override(lang):
        html = render_to_string("quizzes/question.html", {
            "card_template": "quizzes/_card_slot.html", "card_slot": pagecache.slot("card"), "title": title,
            **pagecache.slot_context(path)})
    return pagecache.CachedPage.from_html(html)
