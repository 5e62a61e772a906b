"""Lesson pages. Thin: look up through selectors, record progress through services, render.

The step page is the most visited page, so it is an async view that does all its database
work in one hop to the ORM thread (``_step_context``) and renders in the event loop; the
Markdown and the diagram come from caches. Under ASGI a sync view would queue every request
behind the one thread Django gives sync code.
"""
from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from netlearn.core.i18n import current_lang
from netlearn.core.markdown import render_markdown

from . import selectors, services
from .models import can_preview_drafts

OSI_LAYERS = (7, 6, 5, 4, 3, 2, 1)


def _visitor(request: HttpRequest, *, create: bool) -> str:
    visitor = request.session.get(services.VISITOR_SESSION_KEY, "")
    if not visitor and create:
        visitor = services.visitor_key_new()
        request.session[services.VISITOR_SESSION_KEY] = visitor
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


async def home(request: HttpRequest) -> HttpResponse:
    context = await sync_to_async(_home_context)(request)
    return render(request, "lessons/home.html", context)


async def lesson_list(request: HttpRequest) -> HttpResponse:
    context = await sync_to_async(_home_context)(request)
    return render(request, "lessons/catalog.html", context)


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


async def lesson_detail(request: HttpRequest, slug: str) -> HttpResponse:
    context = await sync_to_async(_lesson_context)(request, slug)
    if context is None:
        raise Http404("no such lesson")
    return render(request, "lessons/lesson.html", context)


def _step_context(request: HttpRequest, slug: str, number: int) -> dict[str, Any] | None:
    user, visitor = _learner(request, create_visitor=True)
    step = selectors.step_for_page(slug=slug, number=number, user=user)
    if step is None:
        return None
    lesson = step.lesson
    outline = selectors.lesson_outline(lesson=lesson)
    services.progress_mark_seen(step=step, user=user, visitor=visitor)
    seen = selectors.progress_seen_step_ids(user=user, visitor=visitor, lesson=lesson) if not request.htmx else set()
    next_lesson = None
    if number >= len(outline):
        # The home page orders a track by (order, slug): lessons sharing an order follow by slug.
        later = Q(order__gt=lesson.order) | Q(order=lesson.order, slug__gt=lesson.slug)
        next_lesson = (type(lesson).objects.visible_to(user).filter(later, track=lesson.track)
                       .order_by("order", "slug").first())
    return {"step": step, "lesson": lesson, "outline": outline, "seen": seen | {step.pk}, "next_lesson": next_lesson,
            "is_instructor": can_preview_drafts(user)}


async def step_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    context = await sync_to_async(_step_context)(request, slug, number)
    if context is None:
        raise Http404("no such step")
    lang = current_lang()
    step = context["step"]
    total = len(context["outline"])
    context.update({
        "lang": lang,
        "total": total,
        "body_html": render_markdown(step.body_ko if lang == "ko" and step.body_ko else step.body_en, lang=lang),
        "prev_url": selectors.step_url(step.lesson.slug, step.number - 1) if step.number > 1 else selectors.lesson_url(step.lesson.slug),
        "next_url": selectors.step_url(step.lesson.slug, step.number + 1) if step.number < total else None,
        "osi_layers": OSI_LAYERS,
    })
    template = "lessons/_step_fragment.html" if request.htmx and not request.htmx.boosted else "lessons/step.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request, Accept-Language, Cookie"
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


def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    results = selectors.search(query=query, user=request.user)
    template = "lessons/_search_results.html" if request.htmx else "lessons/search.html"
    return render(request, template, {"results": results, "query": query})


@staff_member_required
@require_POST
def markdown_preview(request: HttpRequest) -> HttpResponse:
    """Admin live preview: the same renderer and styles as the lesson page.

    The admin posts the one textarea that changed; its name ends with ``body_en``/``body_ko``
    (``steps-0-body_ko`` in an inline), which also says which language to render for.
    """
    if not (request.user.has_perm("lessons.change_step") or request.user.has_perm("lessons.change_glossaryterm")
            or request.user.has_perm("lessons.add_step")):
        return HttpResponse(status=403)
    for name, value in request.POST.items():
        if name.endswith(("body_en", "body_ko")):
            lang = name[-2:]
            html = render_markdown(value, lang=lang)
            return TemplateResponse(request, "lessons/_preview.html", {"html": html, "lang": lang})
    return HttpResponseBadRequest("no Markdown field in the request")
