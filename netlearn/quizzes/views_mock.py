"""Mock interviews: a timed run of questions, one at a time, with pass, follow-ups and a summary."""
from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import selectors
from .cards import CardOptions, card_context, card_response, feedback_context
from .grading import AnswerError
from .learner import Learner, learner_for
from .models import MockInterview, Question
from .services import StaleQuestion, mock_answer, mock_finish, mock_serve, mock_start

COUNTS = (5, 8, 12)
SECONDS = (60, 120, 180, 300)


def owned_mock(learner: Learner, pk: int) -> MockInterview:
    """Someone else's interview is simply not found."""
    mock = MockInterview.objects.filter(learner.q(), pk=pk).select_related("current").first()
    if mock is None:
        raise Http404
    return mock


def mock_opts(mock: MockInterview) -> CardOptions:
    return CardOptions(mode="mock", next_url=reverse("quizzes:mock", args=[mock.pk]),
                       action=reverse("quizzes:mock_answer", args=[mock.pk]),
                       pass_action=reverse("quizzes:mock_pass", args=[mock.pk]), extra={"mock": mock})


@require_GET
def mock_home(request: HttpRequest) -> HttpResponse:
    learner = learner_for(request)
    return render(request, "quizzes/mock_start.html", {
        "counts": COUNTS, "seconds": SECONDS, "topics": selectors.topics_overview(),
        "past": selectors.learner_mocks(learner)[:10],
    })


@require_POST
def mock_begin(request: HttpRequest) -> HttpResponse:
    learner = learner_for(request, create=True)
    count = _pick(request.POST.get("count"), COUNTS, 8)
    seconds = _pick(request.POST.get("seconds"), SECONDS, 120)
    topics = request.POST.getlist("topic")[:30]
    try:
        mock = mock_start(learner=learner, count=count, seconds_per_question=seconds, topics=topics)
    except AnswerError as exc:
        return render(request, "quizzes/mock_start.html", {
            "counts": COUNTS, "seconds": SECONDS, "topics": selectors.topics_overview(), "error": str(exc)},
            status=400)
    return redirect("quizzes:mock", mock.pk)


def _pick(raw: str | None, allowed: tuple[int, ...], default: int) -> int:
    try:
        value = int(raw or "")
    except ValueError:
        return default
    return value if value in allowed else default


@require_GET
def mock_detail(request: HttpRequest, pk: int) -> HttpResponse:
    mock = owned_mock(learner_for(request), pk)
    if mock.is_finished or mock.current_id is None:
        return render(request, "quizzes/mock_summary.html", {"mock": mock, "summary": selectors.mock_summary(mock)})
    mock = mock_serve(mock=mock)
    question = selectors.question_for_display(pk=mock.current_id)
    return render(request, "quizzes/mock.html", {**_progress(mock), "card": card_context(question, mock_opts(mock))})


def _progress(mock: MockInterview) -> dict:
    done = mock.attempts.count()
    elapsed = (timezone.now() - mock.current_served_at).total_seconds() if mock.current_served_at else 0
    return {"mock": mock, "number": done + 1, "total": done + 1 + len(mock.plan),
            "elapsed": int(elapsed), "remaining": max(0, mock.seconds_per_question - int(elapsed))}


def _submit(request: HttpRequest, pk: int, *, passed: bool) -> HttpResponse:
    learner = learner_for(request)
    mock = owned_mock(learner, pk)
    question = Question.objects.filter(key=request.POST.get("question", "")).first()
    if question is None:
        raise Http404
    question = selectors.question_for_display(pk=question.pk)
    opts = mock_opts(mock)
    try:
        result = mock_answer(learner=learner, mock=mock, question=question, token=request.POST.get("token", ""),
                             data=request.POST, passed=passed)
    except (AnswerError, StaleQuestion) as exc:
        if mock.current_id is None or mock.current_id != question.pk:
            return redirect("quizzes:mock", mock.pk)
        ctx = card_context(question, opts, error=str(exc), notes=request.POST.get("text", "")[:5000],
                           revealed="reveal" in request.POST)
        return card_response(request, ctx, template="quizzes/_card.html", status=400)
    mock.refresh_from_db()
    opts.extra["mock"] = mock
    ctx = feedback_context(question, result.grade, result.attempt.answer, opts, review=result.review,
                           duplicate=result.duplicate)
    ctx["passed"] = result.attempt.passed
    ctx["duration_s"] = round((result.attempt.duration_ms or 0) / 1000)
    return card_response(request, ctx, template="quizzes/_feedback.html", title=_("Mock interview"))


@require_POST
def mock_answer_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _submit(request, pk, passed=False)


@require_POST
def mock_pass_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _submit(request, pk, passed=True)


@require_POST
def mock_finish_view(request: HttpRequest, pk: int) -> HttpResponse:
    mock_finish(mock=owned_mock(learner_for(request), pk))
    return redirect("quizzes:mock", pk)
