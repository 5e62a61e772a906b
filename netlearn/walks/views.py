"""Walk pages: the URL box and history, a walk (live or replayed), its JSON, a step's inspector."""
from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods

from netlearn.core.anonymous import give_ids
from netlearn.core.htmx import HtmxHttpRequest

from . import rendering, selectors
from .models import Walk
from .services import LabUnavailable, WalkBusy, create_action, create_walk, start_from_thread

DEFAULT_URL = "http://shop.netlearn.test/"
SUGGESTIONS = [
    ("http://shop.netlearn.test/", _lazy("L4 balancer (VIP)")),
    ("https://shop.netlearn.test/", _lazy("HTTPS: TLS 1.3 + HTTP/2")),
    ("https://alias.netlearn.test/", _lazy("certificate for the wrong name")),
    ("http://www.netlearn.test/api/hello", _lazy("L7 routing: /api/*")),
    ("http://alias.netlearn.test/", _lazy("CNAME chain")),
    ("http://nope.netlearn.test/", "NXDOMAIN"),
    ("http://www.netlearn.test/slow", _lazy("a slow backend")),
    ("http://가게.netlearn.test/", _lazy("IDNA / Punycode")),
]


async def _session_key(request: HttpRequest) -> str:
    """The learner's session key, the session created now if need be (a walk is filed under it),
    with every app's anonymous id in it: one session write for a learner who starts with a walk,
    none more when they go on to lessons and quizzes (``netlearn.core.anonymous``)."""
    if not request.session.session_key:
        give_ids(request.session)
        await sync_to_async(request.session.save)()
    return request.session.session_key or ""


def _session_key_now(request: HttpRequest) -> str:
    """:func:`_session_key` for sync views."""
    if not request.session.session_key:
        give_ids(request.session)
        request.session.save()
    return request.session.session_key or ""


@require_http_methods(["GET", "POST"])
def walk_index(request: HtmxHttpRequest) -> HttpResponse:
    """The URL box and history; POST starts a walk. A sync view on purpose: its queries run in one
    go on the request's thread, and only the walk's launch is handed to the site's loop
    (``services.create_walk`` says why)."""
    user = request.user
    session_key = _session_key_now(request)
    error = None
    url = request.GET.get("url", "")[:2100] or DEFAULT_URL  # a quiz or lesson can link to a walk of its URL
    if request.method == "POST":
        url = request.POST.get("url", "")
        # The history is shown only when the form comes back (an error); a walk needs only to
        # know whether it is the learner's first.
        first_walk = not Walk.objects.for_learner(user=user, session_key=session_key).exists()
        try:
            walk = start_from_thread(create_walk(url=url, user=user, session_key=session_key,
                                                 cold=_wants_cold(request.POST.get("cache"), first_walk=first_walk)))
        except (WalkBusy, LabUnavailable) as exc:
            error = _busy_message(exc)
        else:
            if request.htmx:
                response = TemplateResponse(request, "walks/_panel.html", _panel_context(walk))
                response["HX-Push-Url"] = walk.get_absolute_url()
                return response
            return redirect(walk.get_absolute_url())
    status = 429 if error and request.method == "POST" else 200
    history = selectors.history(user=user, session_key=session_key)
    return TemplateResponse(request, "walks/index.html", {
        "url": url, "suggestions": SUGGESTIONS, "history": history, "error": error,
        "cache_default": "cold" if not history else "warm"}, status=status)


def _wants_cold(choice: str | None, *, first_walk: bool) -> bool:
    """The form's cold/warm choice; without one, a learner's first walk starts cold (so the DNS
    referrals lesson 1 promises are there) and later ones use the shared, warm cache."""
    if choice in ("cold", "warm"):
        return choice == "cold"
    return first_walk


def _panel_context(walk: Walk, packet_query: dict[str, str] | None = None) -> dict[str, Any]:
    if walk.kind != "walk":
        return rendering.action_context(walk)
    return rendering.walk_context(walk, packet_query) if walk.is_finished else {"walk": walk}


async def walk_packets(request: HtmxHttpRequest, walk_id: Any) -> HttpResponse:
    """The packet view alone (htmx swaps it for a new display filter, hop or chosen packet)."""
    walk = await Walk.objects.filter(id=walk_id).afirst()
    if walk is None or not walk.is_finished or not walk.frames:
        raise Http404
    if not request.htmx:
        query = request.GET.urlencode()
        return redirect(f"{walk.get_absolute_url()}?{query}#packets")
    return HttpResponse(await sync_to_async(rendering.packets_html)(walk, request.GET.dict()))


def _busy_message(exc: Exception) -> str:
    if isinstance(exc, WalkBusy):
        return (_("You already have walks running: wait a second for them to finish.") if exc.scope == "learner"
                else _("The lab is busy with many walks right now: try again in a moment."))
    return _("The lab is starting or restarting. Lessons and quizzes work meanwhile; try again in a few seconds.")


async def walk_detail(request: HtmxHttpRequest, walk_id: Any) -> HttpResponse:
    walk = await Walk.objects.filter(id=walk_id).afirst()
    if walk is None:
        raise Http404
    user = await request.auser()
    session_key = await _session_key(request)
    context = await sync_to_async(_panel_context)(walk, request.GET.dict())
    history = await sync_to_async(selectors.history)(user=user, session_key=session_key)
    if walk.kind != "walk":
        template = "walks/_action_panel.html" if request.htmx else "walks/action_detail.html"
    else:
        template = "walks/_panel.html" if request.htmx else "walks/detail.html"
    return TemplateResponse(request, template, {**context, "url": walk.url, "suggestions": SUGGESTIONS,
                                                "history": history})


async def walk_json(request: HttpRequest, walk_id: Any) -> JsonResponse:
    walk = await Walk.objects.filter(id=walk_id).afirst()
    if walk is None:
        raise Http404
    return JsonResponse(await sync_to_async(selectors.walk_document)(walk), json_dumps_params={"ensure_ascii": False})


async def walk_pcap(request: HttpRequest, walk_id: Any) -> HttpResponse:
    """The walk's frames as pcapng (with its TLS key log): only for the learner who walked it."""
    user = await request.auser()
    session_key = request.session.session_key
    walk = await Walk.objects.for_learner(user=user, session_key=session_key).filter(
        id=walk_id, kind="walk").afirst()
    if walk is None or not walk.is_finished or not walk.frames:
        raise Http404
    body = await sync_to_async(selectors.walk_pcapng)(walk)
    response = HttpResponse(body, content_type="application/x-pcapng")
    response["Content-Disposition"] = f'attachment; filename="walk-{walk.id.hex[:8]}.pcapng"'
    return response


async def walk_step(request: HttpRequest, walk_id: Any, seq: int) -> HttpResponse:
    walk = await Walk.objects.filter(id=walk_id).afirst()
    if walk is None or not walk.is_finished:
        raise Http404
    html = await sync_to_async(rendering.inspector_html)(walk, seq)
    if html is None:
        raise Http404
    return HttpResponse(html)


@require_http_methods(["POST"])
def try_step(request: HtmxHttpRequest, step_id: int) -> HttpResponse:
    """Run a lesson step's "try it" action; the result streams into the step (or opens as a page).
    Sync, as :func:`walk_index` is, for the same reason."""
    from netlearn.lessons.models import Step

    user = request.user
    step = Step.objects.select_related("lesson").filter(pk=step_id).first()
    if step is None or not step.lab_action or not (step.lesson.published or (user.is_authenticated and user.is_staff)):
        raise Http404
    try:
        walk = start_from_thread(create_action(step=step, user=user, session_key=_session_key_now(request)))
    except (WalkBusy, LabUnavailable) as exc:
        return HttpResponse(f'<p class="error" role="alert">{_busy_message(exc)}</p>', status=429 if isinstance(
            exc, WalkBusy) else 503)
    if not request.htmx:
        return redirect(walk.get_absolute_url())
    template = "walks/_action_panel.html" if walk.kind != "walk" else "walks/_try_walk_panel.html"
    context = rendering.try_walk_context(walk) if walk.kind == "walk" and walk.is_finished else {}
    return TemplateResponse(request, template, {"walk": walk, **context})
