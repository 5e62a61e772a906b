"""Reads of a live session: the room's answers summarised per question type, the session report
(per question, per participant) and its CSV. Individual answers are for the session's instructor
only: the views and consumers that show these check ownership first."""
from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from typing import Any

from django.utils.translation import get_language

from netlearn.quizzes.grading import normalise
from netlearn.quizzes.models import CHOICE_TYPES, Question, QuestionType

from .models import LiveAnswer, LiveSession, Participant, QuestionRun

TOP_GROUPS = 8
NUMERIC_BINS = 8


def answer_text(question: Question, answer: dict[str, Any], *, choices: dict[int, str] | None = None,
                items: dict[int, str] | None = None) -> str:
    """An answer as a person reads it (CSV cells, grouped short answers, "your answer")."""
    if "choices" in answer:
        names = choices if choices is not None else {c.pk: c.text for c in question.choices.all()}
        return "; ".join(names.get(i, "?") for i in answer["choices"])
    if "order" in answer:
        names = items if items is not None else {i.pk: i.text for i in question.order_items.all()}
        return " → ".join(names.get(i, "?") for i in answer["order"])
    if "number" in answer:
        return f"{answer['number']:g}"
    return str(answer.get("text", ""))


_LABELS: dict[tuple[int, str, str], tuple[dict[int, str], dict[int, str]]] = {}


def labels(question: Question) -> tuple[dict[int, str], dict[int, str]]:
    """A question's choice and item texts in the current language, cached per process until the
    question is edited (``updated_at`` is in the key): a room answering at once reads them once."""
    key = (question.pk, question.updated_at.isoformat(), get_language() or "en")
    cached = _LABELS.get(key)
    if cached is None:
        if len(_LABELS) > 512:
            _LABELS.clear()
        cached = _LABELS[key] = ({c.pk: c.text for c in question.choices.all()},
                                 {i.pk: i.text for i in question.order_items.all()})
    return cached


def run_summary(run: QuestionRun) -> dict[str, Any]:
    """What the console's live panel shows: counts only, in the shape the question type needs."""
    question = run.question
    rows = list(run.answers.values_list("answer", "correct"))
    total = len(rows)
    summary: dict[str, Any] = {"run": run, "question": question, "total": total,
                               "correct": sum(1 for _, ok in rows if ok), "kind": "groups", "bars": []}
    if question.type in CHOICE_TYPES:
        counts = Counter(i for answer, _ in rows for i in answer.get("choices", []))
        summary["kind"] = "choices"
        summary["bars"] = [_bar(c.text, counts[c.pk], total, c.correct) for c in question.choices.all()]
    elif question.type == QuestionType.NUMERIC:
        summary["kind"] = "numeric"
        summary["bars"] = _numeric_bars(question, [a["number"] for a, _ in rows if "number" in a])
        numbers = [a["number"] for a, _ in rows if "number" in a]
        summary["median"] = statistics.median(numbers) if numbers else None
    elif question.type == QuestionType.ORDERING:
        items = {i.pk: i.text for i in question.order_items.all()}
        counts = Counter(tuple(a.get("order", [])) for a, _ in rows)
        expected = tuple(items)
        summary["kind"] = "orderings"
        summary["bars"] = [_bar(" → ".join(items.get(i, "?") for i in order), n, total, order == expected)
                           for order, n in counts.most_common(TOP_GROUPS)]
    else:
        groups: dict[str, list[Any]] = {}
        for answer, ok in rows:
            text = str(answer.get("text", "")).strip()
            entry = groups.setdefault(normalise(text) or text, [text, 0, ok])
            entry[1] += 1
        ranked = sorted(groups.values(), key=lambda g: -g[1])[:TOP_GROUPS]
        summary["bars"] = [_bar(text or "—", n, total, ok) for text, n, ok in ranked]
    return summary


def _bar(label: str, count: int, total: int, correct: bool) -> dict[str, Any]:
    return {"label": label, "count": count, "percent": round(100 * count / total) if total else 0, "correct": correct}


def _numeric_bars(question: Question, numbers: list[float]) -> list[dict[str, Any]]:
    """Each distinct value when there are few, else equal-width bins between the extremes."""
    total = len(numbers)
    target, tol = question.numeric_value, question.numeric_tolerance

    def hits(lo: float, hi: float) -> bool:
        return target is not None and lo - tol <= target <= hi + tol

    distinct = Counter(numbers)
    if len(distinct) <= NUMERIC_BINS:
        return [_bar(f"{value:g}", n, total, hits(value, value)) for value, n in sorted(distinct.items())]
    lo, hi = min(numbers), max(numbers)
    width = (hi - lo) / NUMERIC_BINS
    counts = [0] * NUMERIC_BINS
    for x in numbers:
        counts[min(int((x - lo) / width), NUMERIC_BINS - 1)] += 1
    return [_bar(f"{lo + i * width:g} – {lo + (i + 1) * width:g}", n, total, hits(lo + i * width, lo + (i + 1) * width))
            for i, n in enumerate(counts)]


def people(session: LiveSession) -> list[Participant]:
    return list(session.participants.filter(removed_at__isnull=True))


def report(session: LiveSession) -> dict[str, Any]:
    """Per question (answers, share correct) and per participant (answered, correct, mean score)."""
    runs = list(session.runs.select_related("question"))
    answers = list(LiveAnswer.objects.filter(run__session=session).select_related("participant"))
    by_run: dict[int, list[LiveAnswer]] = {}
    by_person: dict[int, list[LiveAnswer]] = {}
    for a in answers:
        by_run.setdefault(a.run_id, []).append(a)
        by_person.setdefault(a.participant_id, []).append(a)
    questions = [{"run": r, "question": r.question, "answers": len(by_run.get(r.pk, [])),
                  "correct": sum(a.correct for a in by_run.get(r.pk, []))} for r in runs]
    participants = []
    for p in session.participants.all():
        mine = by_person.get(p.pk, [])
        participants.append({"participant": p, "answered": len(mine), "correct": sum(a.correct for a in mine),
                             "score": round(100 * sum(a.score for a in mine) / len(runs)) if runs else 0})
    return {"questions": questions, "participants": participants, "runs": len(runs)}


CSV_HEADER = ["session", "question_number", "question", "type", "participant", "signed_in", "answer", "correct",
              "score", "answered_at"]


def report_csv(session: LiveSession) -> str:
    """One row per answer. Cells starting with = + - @ are prefixed with ' (no formula injection)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    runs = {r.pk: (n, r) for n, r in enumerate(session.runs.select_related("question"), start=1)}
    for a in LiveAnswer.objects.filter(run__session=session).select_related("participant").order_by("run_id", "id"):
        number, run = runs[a.run_id]
        writer.writerow([_cell(v) for v in (
            session.code, number, run.question.key, run.question.type, a.participant.display_name,
            "yes" if a.participant.user_id else "no", answer_text(run.question, a.answer), "yes" if a.correct else "no",
            f"{a.score:.2f}", a.created_at.isoformat())])
    return out.getvalue()


def _cell(value: Any) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
