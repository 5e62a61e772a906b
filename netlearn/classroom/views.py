"""Pages of the live classroom: the instructor's list, console and report; the join form and
the participant's page. Thin: rules in ``services``, reads in ``selectors``, the room itself
lives on the WebSocket (``consumers``)."""
from __future__ import annotations

import segno
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from . import selectors, services
from .consumers import SESSION_KEY
from .models import LiveSession
from .rules import NAME_MAX, ClassroomError


def _instructor_or_refuse(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not services.is_instructor(request.user):
        return render(request, "classroom/refused.html", {
            "message": _("Only instructors can open live sessions. To take part in one, join with its code.")},
            status=403)
    return None


def _owned(request: HttpRequest, code: str) -> LiveSession:
    """The instructor's own session; anyone else gets a 404 (the room's answers are theirs alone)."""
    session = LiveSession.objects.filter(code=code.upper()).select_related("owner").first()
    if session is None or not request.user.is_authenticated or session.owner_id != request.user.pk:
        raise Http404
    return session


@require_http_methods(["GET", "POST"])
def teach_index(request: HttpRequest) -> HttpResponse:
    refused = _instructor_or_refuse(request)
    if refused:
        return refused
    if request.method == "POST":
        session = services.session_open(user=request.user, title=request.POST.get("title", ""))
        return redirect(session.get_absolute_url())
    assert isinstance(request.user, User)  # _instructor_or_refuse let only a signed-in instructor through
    sessions = LiveSession.objects.filter(owner=request.user)[:20]
    return render(request, "classroom/teach.html", {"sessions": sessions})


def join_url(request: HttpRequest, session: LiveSession) -> str:
    return request.build_absolute_uri(f"/join/?code={session.code}")


def qr_svg(url: str) -> str:
    """The join URL as an inline SVG QR code (segno; scales with CSS, no image request)."""
    svg = segno.make(url, error="m").svg_inline(scale=1, border=2, dark="#111", light="#fff", omitsize=True)
    return mark_safe(svg)


def console(request: HttpRequest, code: str) -> HttpResponse:
    refused = _instructor_or_refuse(request)
    if refused:
        return refused
    session = _owned(request, code)
    from netlearn.lessons.models import Lesson
    from netlearn.quizzes.models import Question
    from netlearn.walks.views import SUGGESTIONS

    url = join_url(request, session)
    return render(request, "classroom/console.html", {
        "session": session, "join_url": url, "qr": qr_svg(url),
        "lessons": Lesson.objects.prefetch_related("steps").order_by("track__order", "order", "slug"),
        "questions": Question.objects.order_by("type", "key"), "suggestions": SUGGESTIONS,
    })


def report(request: HttpRequest, code: str) -> HttpResponse:
    refused = _instructor_or_refuse(request)
    if refused:
        return refused
    session = _owned(request, code)
    return render(request, "classroom/report.html", {"session": session, **selectors.report(session)})


def report_csv(request: HttpRequest, code: str) -> HttpResponse:
    refused = _instructor_or_refuse(request)
    if refused:
        return refused
    session = _owned(request, code)
    response = HttpResponse(selectors.report_csv(session), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="netlearn-live-{session.code}.csv"'
    return response


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest) -> HttpResponse:
    """Code and display name (no account needed). Rejoining from the same browser keeps the place."""
    code = request.POST.get("code", request.GET.get("code", ""))
    name = request.POST.get("name", "")
    error = ""
    if request.method == "POST":
        try:
            session = services.session_for_code(code)
            key = SESSION_KEY.format(code=session.code)
            participant = services.participant_join(session=session, display_name=name, user=request.user,
                                                    token=request.session.get(key, ""))
        except ClassroomError as exc:
            error = str(exc)
        else:
            request.session[key] = participant.token
            return redirect("classroom:live", code=session.code)
    status = 400 if error else 200
    return render(request, "classroom/join.html", {"code": code[:32], "name": name[:100], "error": error,
                                                   "name_max": NAME_MAX}, status=status)


def live(request: HttpRequest, code: str) -> HttpResponse:
    try:
        session = services.session_for_code(code)
    except ClassroomError as exc:
        return render(request, "classroom/join.html", {"code": code[:32], "error": str(exc), "name_max": NAME_MAX},
                      status=404)
    participant = services.participant_for_token(session=session,
                                                 token=request.session.get(SESSION_KEY.format(code=session.code), ""))
    if participant is None:
        return redirect(f"/join/?code={session.code}")
    return render(request, "classroom/live.html", {"session": session, "participant": participant})
