"""Lesson pages. Thin: look up through selectors, record progress through services, render.

The step page is the most visited page: it is served from ``pagecache`` (rendered once per step,
language, full page or fragment, and content version), with the learner's few bytes (CSP nonce,
CSRF token, account corner, lab banner, seen steps) joined in per request, and progress written
behind the page (``progress``). A returning learner's view asks the database nothing. Instructors
(who may see drafts) and requests with a query string get the page rendered afresh.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from functools import partial
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils import translation
from django.views.decorators.http import require_POST

from netlearn.core import anonymous, contentversion, onloop
from netlearn.core.htmx import HtmxHttpRequest
from netlearn.core.i18n import current_lang
from netlearn.core.markdown import render_markdown

from . import pagecache, selectors, services
from .forms import preview_language
from .models import Step, can_preview_drafts

OSI_LAYERS = (7, 6, 5, 4, 3, 2, 1)
STEP_VARY = "HX-Request, Accept-Language, Cookie"


def _visitor(request: HttpRequest, *, create: bool) -> str:
    visitor = request.session.get(services.VISITOR_SESSION_KEY, "")
    if not visitor and create:
        anonymous.give_ids(request.session)  # the quizzes' id too: one session write (its docstring)
        visitor = request.session[services.VISITOR_SESSION_KEY]
    return visitor


def _learner(request: HttpRequest, *, create_visitor: bool = False) -> tuple[Any, str]:
    """The account (or AnonymousUser) and the anonymous visitor key; sync (touches the DB)."""
    user = request.user
    visitor = "" if user.is_authenticated else _visitor(request, create=create_visitor)
    return user, visitor


def _review_due(request: HttpRequest) -> int | None:
    try:
        from netlearn.quizzes.selectors import review_due_count  # written by the quizzes app
    except ImportError:
        return None
    try:
        return review_due_count(request)
    except Exception:  # noqa: BLE001 - the home page must not fail because a widget did
        return None


def _home_context(request: HttpRequest) -> dict[str, Any]:
    user, visitor = _learner(request)
    cards = selectors.catalog(user=user, visitor=visitor)
    return {
        "tracks": cards,
        "continue_at": selectors.continue_target(cards, user=user, visitor=visitor),
        "review_due": _review_due(request),
    }


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "lessons/home.html", _home_context(request))


def lesson_list(request: HttpRequest) -> HttpResponse:
    return render(request, "lessons/catalog.html", _home_context(request))


def _lesson_context(request: HttpRequest, slug: str) -> dict[str, Any] | None:
    user, visitor = _learner(request)
    lesson = selectors.lesson_for_page(slug=slug, user=user)
    if lesson is None:
        return None
    outline = selectors.lesson_outline(lesson=lesson)
    seen = selectors.progress_seen_step_ids(user=user, visitor=visitor, lesson=lesson)
    first_unseen = next((item.number for item in outline if item.step_id not in seen), None)
    return {"lesson": lesson, "outline": outline, "seen": seen, "first_unseen": first_unseen,
            "seen_count": len(seen), "lang": current_lang()}


def lesson_detail(request: HttpRequest, slug: str) -> HttpResponse:
    context = _lesson_context(request, slug)
    if context is None:
        raise Http404("no such lesson")
    return render(request, "lessons/lesson.html", context)


def _step_template(fragment: bool) -> str:
    return "lessons/_step_fragment.html" if fragment else "lessons/step.html"


def _step_page_context(step: Step, *, user: Any, seen: Collection[int] | Callable[[int], str]) -> dict[str, Any]:
    """Everything a step page shows but the per-request parts (``seen`` may be a slot maker)."""
    lesson = step.lesson
    outline = selectors.lesson_outline(lesson=lesson)
    lang = current_lang()
    total = len(outline)
    next_lesson = None
    if step.number >= total:
        # The home page orders a track by (order, slug): lessons sharing an order follow by slug.
        later = Q(order__gt=lesson.order) | Q(order=lesson.order, slug__gt=lesson.slug)
        next_lesson = (type(lesson).objects.visible_to(user).filter(later, track=lesson.track)
                       .order_by("order", "slug").first())
    return {
        "step": step, "lesson": lesson, "outline": outline, "seen": seen, "next_lesson": next_lesson,
        "is_instructor": can_preview_drafts(user), "lang": lang, "total": total,
        "body_html": render_markdown(step.body_ko if lang == "ko" and step.body_ko else step.body_en, lang=lang),
        "prev_url": (selectors.step_url(lesson.slug, step.number - 1) if step.number > 1
                     else selectors.lesson_url(lesson.slug)),
        "next_url": selectors.step_url(lesson.slug, step.number + 1) if step.number < total else None,
        "osi_layers": OSI_LAYERS,
    }


def _render_for_cache(slug: str, number: int, lang: str, fragment: bool) -> pagecache.CachedPage | None:
    step = selectors.step_for_page(slug=slug, number=number, user=None)  # published lessons only
    if step is None:
        return None
    with translation.override(lang):
        context = _step_page_context(step, user=None, seen=pagecache.seen_slots)
        context.update(pagecache.slot_context(selectors.step_url(slug, number)))
        html = render_to_string(_step_template(fragment), context)
    return pagecache.CachedPage.from_html(html, step_id=step.pk, lesson_id=step.lesson_id)


def warm_step_pages(version: str, languages: Iterable[str],
                    going: Callable[[], bool] = lambda: True) -> Iterator[tuple[str, int, str, bool]]:
    """Render every published step, as a page and as an htmx fragment, in each language, into the
    page cache for content ``version``, course order first and no more than the cache holds (a
    course too big for it keeps its first steps), while ``going()``; yields the key of each page
    rendered, as it goes, so that a caller whose warm-up fails half-way still knows how far it
    got. Why ahead: ``netlearn.background.WarmPages``."""
    rendered = 0
    for slug, number in selectors.published_step_keys():
        for lang in languages:
            for fragment in (False, True):
                key = (slug, number, lang, fragment)
                if pagecache.pages.cached(key, version):
                    continue
                if rendered >= pagecache.pages.max_pages or not going():
                    return
                if pagecache.pages.get(key, version, partial(_render_for_cache, slug, number, lang, fragment)):
                    rendered += 1
                    yield key


def _step_uncached(request: HttpRequest, slug: str, number: int, fragment: bool) -> HttpResponse:
    user, visitor = _learner(request, create_visitor=True)
    step = selectors.step_for_page(slug=slug, number=number, user=user)
    if step is None:
        raise Http404("no such step")
    seen = services.progress_mark_seen(step_id=step.pk, user=user, visitor=visitor)
    return render(request, _step_template(fragment), _step_page_context(step, user=user, seen=seen))


def _visitor_in_memory(request: HttpRequest) -> bool:
    """An anonymous learner with a visitor key, whose session is in memory (the process's cache, or
    read ahead); or a new learner, whose session and visitor key are made in memory (their
    database row is written after the answer): the page needs no database (``netlearn.core.onloop``)."""
    if onloop.new_session_in_memory(request):
        return True
    return onloop.anonymous_session_in_memory(request) and bool(request.session.get(services.VISITOR_SESSION_KEY))


@onloop.may_run_on_loop
def step_detail(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    fragment = bool(request.htmx and not request.htmx.boosted)
    # On the event loop, nothing may reach the database: anything not in memory goes to a thread.
    on_loop = onloop.on_event_loop()
    if on_loop and not _visitor_in_memory(request):
        return onloop.need_thread()
    # First, before anything reads the session: the content version and the session in one round trip.
    version = contentversion.current_with_session(request) if not request.GET else ""
    if request.GET or can_preview_drafts(request.user):
        response = _step_uncached(request, slug, number, fragment)
    else:
        lang = current_lang()
        key = (slug, number, lang, fragment)
        if on_loop and not pagecache.pages.cached(key, version):
            return onloop.need_thread()
        page = pagecache.pages.get(key, version, lambda: _render_for_cache(slug, number, lang, fragment))
        if page is None:
            raise Http404("no such step")
        user, visitor = _learner(request, create_visitor=True)
        if on_loop and not services.progress_in_memory(step_id=page.step_id, user=user, visitor=visitor):
            return onloop.need_thread()
        seen = services.progress_mark_seen(step_id=page.step_id, user=user, visitor=visitor)
        response = HttpResponse(page.compose(pagecache.slot_values(request, page, lang), seen))
    response["Vary"] = STEP_VARY
    return response


def glossary_list(request: HttpRequest) -> HttpResponse:
    terms = selectors.glossary_terms()
    groups: dict[str, list[Any]] = {}
    for term in terms:
        groups.setdefault(term.term[:1].upper(), []).append(term)
    return render(request, "lessons/glossary.html", {"groups": sorted(groups.items()), "count": len(terms)})


def glossary_detail(request: HttpRequest, term: str) -> HttpResponse:
    found = selectors.glossary_term_get(term=term)
    if found is None:
        raise Http404("no such term")
    used_in = selectors.glossary_used_in(term=found, user=request.user)
    return render(request, "lessons/term.html", {"term": found, "used_in": used_in})


def search(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    results = selectors.search(query=query, user=request.user)
    template = "lessons/_search_results.html" if request.htmx else "lessons/search.html"
    return render(request, template, {"results": results, "query": query})


@staff_member_required
@require_POST
def markdown_preview(request: HttpRequest) -> HttpResponse:
    """Admin live preview of one field: the same renderer and styles as the lesson page.

    ``?field=`` names the textarea being edited (``steps-2-body_ko`` in an inline), and its name
    gives the language to render for; the request carries that field's text (see
    ``forms.MarkdownWidget``). Without ``field`` a request carrying exactly one body field is
    previewed (a hand-written call); anything else is refused, never guessed.
    """
    if not (request.user.has_perm("lessons.change_step") or request.user.has_perm("lessons.change_glossaryterm")
            or request.user.has_perm("lessons.add_step")):
        return HttpResponse(status=403)
    field = request.GET.get("field", "")
    if not field:
        bodies = [name for name in request.POST if preview_language(name)]
        field = bodies[0] if len(bodies) == 1 else ""
    lang = preview_language(field)
    if lang is None or field not in request.POST:
        return HttpResponseBadRequest("name one Markdown body field (?field=...) and send its text")
    with translation.override(lang):  # as a learner reading in that language sees it
        html = render_markdown(request.POST[field], lang=lang)
        return TemplateResponse(request, "lessons/_preview.html", {"html": html, "lang": lang}).render()
