"""Quiz pages, single questions, answering, and the review queue. Thin: rules live in services."""
from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from netlearn.core import contentversion, onloop
from netlearn.core.i18n import current_lang
from netlearn.lessons import pagecache

from . import selectors
from .cards import CardOptions, card_context, card_page_response, card_response, feedback_card, safe_next
from .grading import AnswerError
from .learner import learner_for
from .models import Question, QuestionType, Quiz, Topic
from .services import StaleQuestion, answer_submit, attempt_token, draw_questions

MODES = {"quiz", "practice", "review"}
PRACTICE_SIZE = 10


def _cards(questions: list[Question], opts: CardOptions) -> list[dict]:
    return [card_context(q, opts) for q in questions]


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    learner = learner_for(request)
    return render(request, "quizzes/index.html", {
        "topics": selectors.topics_overview(),
        "quizzes": selectors.all_quizzes(),
        "due_count": selectors.due_reviews(learner).count(),
        "question_count": Question.objects.count(),
    })


@require_GET
def quiz_detail(request: HttpRequest, slug: str) -> HttpResponse:
    quiz = get_object_or_404(Quiz, slug=slug)
    opts = CardOptions(mode="quiz", quiz=quiz, next_url=request.path)
    return render(request, "quizzes/quiz.html", {
        "quiz": quiz, "cards": _cards(selectors.quiz_questions(quiz), opts), "heading": quiz.title,
    })


@require_GET
def topic_practice(request: HttpRequest, slug: str) -> HttpResponse:
    topic = get_object_or_404(Topic, slug=slug)
    questions = list(selectors.questions_for_display(topic.questions.order_by("difficulty", "key")))
    if not questions:
        raise Http404
    opts = CardOptions(mode="practice", next_url=request.path)
    return render(request, "quizzes/quiz.html", {"topic": topic, "cards": _cards(questions, opts),
                                                  "heading": topic.name})


@require_GET
def practice(request: HttpRequest) -> HttpResponse:
    """Practice everything: a fresh set drawn across all topics, weak topics more often."""
    drawn = draw_questions(learner=learner_for(request), count=PRACTICE_SIZE, rng=random.Random())
    questions = list(selectors.questions_for_display(Question.objects.filter(pk__in=[q.pk for q in drawn])))
    random.shuffle(questions)
    opts = CardOptions(mode="practice", next_url=request.path)
    return render(request, "quizzes/quiz.html", {"practice": True, "cards": _cards(questions, opts),
                                                  "heading": _("Practice everything")})


#: Single question pages, rendered once per (question, language, content version) with slots for
#: the per-request parts (netlearn.lessons.pagecache): the attempt token, the CSRF token, the CSP
#: nonce, the account corner and the lab banner. The question itself changes only with the
#: content version (an admin save, an import), which empties the cache.
question_pages = pagecache.PageCache(max_pages=512)


@onloop.may_run_on_loop
@require_GET
def question_detail(request: HttpRequest, key: str) -> HttpResponse:
    # On the event loop (netlearn.core.onloop), nothing may reach the database: an anonymous
    # learner's session, the question and its page in memory, or a thread. The attempt token is
    # signed, not stored, and the page writes nothing, so the answer is the thread's.
    on_loop = onloop.on_event_loop()
    if on_loop and not onloop.anonymous_in_memory(request):
        return onloop.need_thread()
    version = contentversion.current_with_session(request)  # one cache round trip with the session
    if on_loop and not selectors.question_displayed_in_memory(key, version):
        return onloop.need_thread()
    question = _question(key, content_version=version)
    if request.GET or question.type == QuestionType.ORDERING:  # ordering items are shuffled per render
        if on_loop:
            return onloop.need_thread()
        opts = CardOptions(mode=_mode(request.GET.get("mode")), next_url=safe_next(request, request.GET.get("next")))
        return render(request, "quizzes/question.html", {**card_context(question, opts),
                                                          "card_template": "quizzes/_card.html",
                                                          "title": _("Question")})
    lang = current_lang()
    if on_loop and not question_pages.cached((key, lang), version):
        return onloop.need_thread()
    page = question_pages.get((key, lang), version,
                              lambda: _render_question_for_cache(question, request.path, lang))
    assert page is not None  # _render_question_for_cache always renders one
    values = pagecache.slot_values(request, page, lang)
    values["token"] = attempt_token(question)
    return HttpResponse(page.compose(values, frozenset()))


def warm_question_pages(version: str, languages: Iterable[str],
                        going: Callable[[], bool] = lambda: True) -> Iterator[tuple[str, str]]:
    """Render every question's page (but ordering questions', shuffled per request) in each
    language into the page cache for content ``version``, with the questions themselves kept as
    displayed, no more than the cache holds, while ``going()``; yields the key of each page
    rendered, as it goes (see ``warm_step_pages``). Why ahead: ``netlearn.background.WarmPages``."""
    rendered = 0
    for question in selectors.displayed_questions_load(version):
        if question.type == QuestionType.ORDERING:
            continue
        path = reverse("quizzes:question", args=[question.key])
        for lang in languages:
            key = (question.key, lang)
            if question_pages.cached(key, version):
                continue
            if rendered >= question_pages.max_pages or not going():
                return
            question_pages.get(key, version, partial(_render_question_for_cache, question, path, lang))
            rendered += 1
            yield key


def _render_question_for_cache(question: Question, path: str, lang: str) -> pagecache.CachedPage:
    with translation.override(lang):
        context = {**card_context(question, CardOptions(mode="quiz")), "card_template": "quizzes/_card.html",
                   "title": _("Question"), **pagecache.slot_context(path), "token": pagecache.slot("token")}
        return pagecache.CachedPage.from_html(render_to_string("quizzes/question.html", context))


def _question(key: str, content_version: str | None = None) -> Question:
    try:
        return selectors.question_for_display(key=key, content_version=content_version)
    except Question.DoesNotExist:
        raise Http404 from None


def _mode(value: str | None) -> str:
    return value if value in MODES else "quiz"


def _opts_from_post(request: HttpRequest) -> CardOptions:
    quiz = Quiz.objects.filter(slug=request.POST.get("quiz", "")).first() if request.POST.get("quiz") else None
    return CardOptions(mode=_mode(request.POST.get("mode")), quiz=quiz,
                       next_url=safe_next(request, request.POST.get("next")))


@require_POST
def answer(request: HttpRequest, key: str) -> HttpResponse:
    version = contentversion.current()  # read once: the question and its feedback card are kept under it
    question = _question(key, content_version=version)
    opts = _opts_from_post(request)
    learner = learner_for(request, create=True)
    try:
        result = answer_submit(learner=learner, question=question, token=request.POST.get("token", ""),
                               data=request.POST, quiz=opts.quiz, mode=opts.mode)
    except StaleQuestion as exc:
        question = _question(key)
        return card_response(request, card_context(question, opts, error=str(exc)),
                             template="quizzes/_card.html", status=409)
    except AnswerError as exc:
        ctx = card_context(question, opts, error=str(exc), notes=request.POST.get("text", "")[:5000],
                           revealed=question.type == QuestionType.INTERVIEW and "reveal" in request.POST)
        return card_response(request, ctx, template="quizzes/_card.html", status=400)
    card = feedback_card(request, question, result.grade, result.attempt.answer, opts, review=result.review,
                         duplicate=result.duplicate, content_version=version)
    return card_page_response(request, card, title=_("Your answer"))


@require_POST
def reveal(request: HttpRequest, key: str) -> HttpResponse:
    """Interview questions: show the model answer and checklist so the learner grades themself.
    Nothing is recorded until they submit the checklist."""
    question = _question(key)
    if question.type != QuestionType.INTERVIEW:
        raise Http404
    opts = _opts_from_post(request)
    mock_id = request.POST.get("mock", "")
    if mock_id.isdigit():
        from .views_mock import mock_opts, owned_mock

        opts = mock_opts(owned_mock(learner_for(request), int(mock_id)))
    notes = request.POST.get("text", "")[:5000]
    ctx = card_context(question, opts, notes=notes, revealed=True)
    ctx["token"] = request.POST.get("token") or ctx["token"]  # keep the render's token: one attempt
    return card_response(request, ctx, template="quizzes/_card.html")


@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    learner = learner_for(request)
    due = selectors.due_reviews(learner)
    count = due.count()
    first = due.first()
    card = None
    if first is not None:
        question = selectors.question_for_display(pk=first.question_id)
        card = card_context(question, CardOptions(mode="review", next_url=request.path))
    return render(request, "quizzes/review.html", {
        "count": count, "card": card, "next_due": selectors.next_due(learner),
    })
