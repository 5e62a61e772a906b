"""Every read of the quizzes app. All learner-facing reads filter by ``Learner.q()``: a learner
only ever sees their own attempts, schedules and mock interviews."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Avg, Count, FloatField, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Cast, TruncDate
from django.http import HttpRequest
from django.utils import timezone

from netlearn.core import contentversion

from . import answerlog
from .learner import Learner, learner_for
from .models import Attempt, Choice, MockInterview, Question, Quiz, ReviewState, Topic


def review_due_count(request: HttpRequest) -> int:
    """How many questions are due for review now (the home page's badge). Never writes."""
    return due_reviews(learner_for(request)).count()


def due_reviews(learner: Learner, *, now=None) -> QuerySet[ReviewState]:
    answerlog.flush()  # every reader of attempts and schedules: this process's answers written first
    now = now or timezone.now()
    return (ReviewState.objects.filter(learner.q(), due__lte=now)
            .select_related("question").order_by("due", "id"))


def next_due(learner: Learner):
    answerlog.flush()
    state = ReviewState.objects.filter(learner.q()).order_by("due").first()
    return state.due if state else None


#: Questions by key, as displayed, per content version: a question page is read far more often
#: than it changes, and fetching one with its choices, items and links costs six queries.
#: Per process and bounded; the content version moves on any save of quiz content.
_displayed: dict[tuple[str, str], Question] = {}
DISPLAYED_MAX = 1024


def question_for_display(*, content_version: str | None = None, **lookup) -> Question:
    """A question with everything its card shows; by key alone, kept per content version (pass
    ``content_version`` when the caller has read it already: one cache read fewer)."""
    if set(lookup) == {"key"}:
        cache_key = (lookup["key"], content_version or contentversion.current())
        question = _displayed.get(cache_key)
        if question is None:
            question = _question_fetch(**lookup)
            if len(_displayed) >= DISPLAYED_MAX:
                _displayed.clear()
            _displayed[cache_key] = question
        return question
    return _question_fetch(**lookup)


def question_displayed_in_memory(key: str, content_version: str) -> bool:
    """Whether :func:`question_for_display` would answer ``key`` from memory (no query)."""
    return (key, content_version) in _displayed


def displayed_questions_load(content_version: str) -> list[Question]:
    """Every question (key order, at most :data:`DISPLAYED_MAX`) as :func:`question_for_display`
    keeps it for ``content_version``, fetched together: six queries for all, not six each."""
    questions = list(_displayed_queryset().order_by("key")[:DISPLAYED_MAX])
    if len(_displayed) + len(questions) > DISPLAYED_MAX:
        _displayed.clear()
    for question in questions:
        _displayed[(question.key, content_version)] = question
    return questions


def _displayed_queryset() -> QuerySet[Question]:
    return Question.objects.prefetch_related("choices", "order_items", "checklist", "links", "topics").select_related(
        "follow_up")


def _question_fetch(**lookup) -> Question:
    return _displayed_queryset().get(**lookup)


def questions_for_display(qs: QuerySet[Question]) -> QuerySet[Question]:
    return qs.prefetch_related("choices", "order_items", "checklist", "links", "topics").select_related("follow_up")


def quiz_questions(quiz: Quiz) -> list[Question]:
    entries = quiz.entries.select_related("question").order_by("order", "id")
    ids = [e.question_id for e in entries]
    by_id = {q.pk: q for q in questions_for_display(Question.objects.filter(pk__in=ids))}
    return [by_id[i] for i in ids if i in by_id]


@dataclass
class TopicRow:
    topic: Topic
    questions: int
    quizzes: list[Quiz] = field(default_factory=list)


def topics_overview() -> list[TopicRow]:
    """Topics that have questions, each with its quizzes: the /quizzes/ index."""
    topics = Topic.objects.annotate(n=Count("questions")).filter(n__gt=0).prefetch_related(
        Prefetch("quizzes", queryset=Quiz.objects.annotate(n=Count("entries"))))
    return [TopicRow(t, t.n, list(t.quizzes.all())) for t in topics]


def all_quizzes() -> QuerySet[Quiz]:
    return Quiz.objects.annotate(n=Count("entries")).prefetch_related("topics")


# --- Progress ------------------------------------------------------------------------------

@dataclass
class Mastery:
    topic: Topic
    answered: int
    total: int
    mastery: float  # 0..1: latest score per question, summed, over every question of the topic

    @property
    def percent(self) -> int:
        return round(self.mastery * 100)


def _latest_scores(learner: Learner) -> dict[int, float]:
    answerlog.flush()
    latest: dict[int, float] = {}
    for qid, score in (Attempt.objects.filter(learner.q()).order_by("created_at", "id")
                       .values_list("question_id", "score")):
        latest[qid] = score
    return latest


def topic_mastery(learner: Learner) -> list[Mastery]:
    latest = _latest_scores(learner)
    rows = []
    for topic in Topic.objects.prefetch_related("questions").annotate(n=Count("questions")).filter(n__gt=0):
        ids = [q.pk for q in topic.questions.all()]
        answered = [latest[i] for i in ids if i in latest]
        rows.append(Mastery(topic, len(answered), len(ids), sum(answered) / len(ids) if ids else 0.0))
    return rows


def topic_mastery_map(learner: Learner) -> dict[str, float]:
    return {m.topic.slug: m.mastery for m in topic_mastery(learner)}


@dataclass(frozen=True)
class DayCount:
    day: date
    correct: int
    wrong: int


def answers_by_day(learner: Learner, *, days: int = 30, today: date | None = None) -> list[DayCount]:
    """Correct and wrong answers per day for the last ``days`` days (UTC), zero-filled."""
    answerlog.flush()
    today = today or timezone.now().date()
    start = today - timedelta(days=days - 1)
    counts: dict[date, Counter] = defaultdict(Counter)
    rows = (Attempt.objects.filter(learner.q(), created_at__date__gte=start)
            .annotate(day=TruncDate("created_at")).values("day", "correct").annotate(n=Count("id")))
    for row in rows:
        counts[row["day"]][row["correct"]] += row["n"]
    return [DayCount(d, counts[d][True], counts[d][False])
            for d in (start + timedelta(days=i) for i in range(days))]


def recent_attempts(learner: Learner, *, limit: int = 20) -> QuerySet[Attempt]:
    answerlog.flush()
    return Attempt.objects.filter(learner.q()).select_related("question")[:limit]


def totals(learner: Learner) -> dict[str, int]:
    answerlog.flush()
    qs = Attempt.objects.filter(learner.q())
    total = qs.count()
    correct = qs.filter(correct=True).count()
    return {"answers": total, "correct": correct, "percent": round(100 * correct / total) if total else 0,
            "scheduled": ReviewState.objects.filter(learner.q()).count()}


def learner_mocks(learner: Learner) -> QuerySet[MockInterview]:
    return MockInterview.objects.filter(learner.q()).annotate(n=Count("attempts")).order_by("-started_at")


# --- Mock interview summary ---------------------------------------------------------------

@dataclass
class MockSummary:
    attempts: list[Attempt]
    correct: int
    total: int
    over_time: int
    weak_topics: list[tuple[Topic, float, list[tuple[str, int, str]]]]

    @property
    def percent(self) -> int:
        return round(100 * self.correct / self.total) if self.total else 0


def mock_summary(mock: MockInterview) -> MockSummary:
    attempts = list(mock.attempts.select_related("question").prefetch_related("question__topics",
                                                                               "question__links")
                    .order_by("created_at", "id"))
    per_topic: dict[int, list[float]] = defaultdict(list)
    topics: dict[int, Topic] = {}
    links: dict[int, list[tuple[str, int, str]]] = defaultdict(list)
    limit_ms = mock.seconds_per_question * 1000
    for a in attempts:
        a.over_time = (a.duration_ms or 0) > limit_ms
        for t in a.question.topics.all():
            topics[t.pk] = t
            per_topic[t.pk].append(a.score)
            if not a.correct:
                for link in a.question.lesson_links():
                    if link not in links[t.pk]:
                        links[t.pk].append(link)
    weak = sorted(((topics[k], sum(v) / len(v), links[k]) for k, v in per_topic.items()), key=lambda r: r[1])
    return MockSummary(attempts, sum(a.correct for a in attempts), len(attempts),
                       sum(a.over_time for a in attempts), [w for w in weak if w[1] < 1.0][:3])


# --- Instructor statistics ----------------------------------------------------------------

def questions_with_stats(qs: QuerySet[Question] | None = None) -> QuerySet[Question]:
    """Annotate attempts, share correct and the most chosen wrong choice (one query)."""
    qs = qs if qs is not None else Question.objects.all()
    wrong = (Choice.objects.filter(question=OuterRef("pk"), correct=False)
             .annotate(n=Count("picked_in")).filter(n__gt=0).order_by("-n", "order"))
    return qs.annotate(
        attempt_count=Count("attempts", distinct=True),
        # Through an integer: PostgreSQL has no boolean → double precision cast.
        share_correct=Avg(Cast(Cast("attempts__correct", IntegerField()), FloatField())),
        top_wrong_choice=Subquery(wrong.values("text_en")[:1]),
        top_wrong_count=Subquery(wrong.values("n")[:1]),
    )


def question_stats(question: Question) -> dict[str, object]:
    row = questions_with_stats(Question.objects.filter(pk=question.pk)).get()
    return {"attempts": row.attempt_count, "share_correct": row.share_correct,
            "top_wrong_choice": row.top_wrong_choice, "top_wrong_count": row.top_wrong_count}
