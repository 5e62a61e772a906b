"""Turn a submitted form into a checked answer, and grade it.

Two steps on purpose: ``parse_answer`` trusts nothing in the POST data (a choice id from
another question, an ordering with a missing or repeated item, a megabyte of text) and raises
``AnswerError`` with a message fit to show the learner; ``grade`` then works on a clean,
JSON-serialisable answer and never fails. Both are pure over the question's rows, so they are
tested directly, including with hypothesis-generated answers.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from .models import Question, QuestionType

MAX_TEXT = 2000  # short answers; interview notes get MAX_NOTES
MAX_NOTES = 5000
MAX_ITEMS = 100
INTERVIEW_PASS = 0.7  # share of checklist points that counts as "correct" for scheduling


class AnswerError(ValueError):
    """A submission that cannot be graded; the message is shown to the learner."""


@dataclass(frozen=True)
class Grade:
    correct: bool
    score: float  # 0..1
    #: Per-type details for the feedback: which choices were right, the correct order, ...
    detail: dict[str, Any] = field(default_factory=dict)


_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Case, width, spaces and punctuation do not matter: ``Time-Wait`` == ``TIME_WAIT``."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _PUNCT.sub("", text)


def _getlist(data: Mapping[str, Any], name: str) -> list[str]:
    if hasattr(data, "getlist"):
        return list(data.getlist(name))
    value = data.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _ids(values: list[str]) -> list[int]:
    if len(values) > MAX_ITEMS:
        raise AnswerError(_("Too many items in this answer."))
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise AnswerError(_("This answer was not understood. Please reload the question and try again.")) from None


def parse_answer(question: Question, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate raw form data against the question; returns the answer as stored on an attempt."""
    qtype = question.type
    if qtype in (QuestionType.SINGLE, QuestionType.TRUE_FALSE, QuestionType.MULTIPLE):
        picked = _ids(_getlist(data, "choice"))
        valid = {c.pk for c in question.choices.all()}  # the prefetched rows when there are some
        if not picked:
            raise AnswerError(_("Choose an answer first."))
        if len(set(picked)) != len(picked):
            raise AnswerError(_("The same choice was sent twice."))
        if not set(picked) <= valid:
            raise AnswerError(_("That choice is not part of this question. Please reload the question."))
        if qtype != QuestionType.MULTIPLE and len(picked) != 1:
            raise AnswerError(_("Choose exactly one answer."))
        return {"choices": sorted(picked)}
    if qtype == QuestionType.ORDERING:
        return {"order": _parse_order(question, data)}
    if qtype == QuestionType.SHORT:
        text = _text(data, "text", MAX_TEXT)
        if not text:
            raise AnswerError(_("Type an answer first."))
        return {"text": text}
    if qtype == QuestionType.NUMERIC:
        raw = _text(data, "number", 40)
        if not raw:
            raise AnswerError(_("Type a number first."))
        try:
            number = float(raw.replace(",", ".").replace(" ", ""))
        except ValueError:
            raise AnswerError(_("“%(value)s” is not a number.") % {"value": raw}) from None
        if not math.isfinite(number):
            raise AnswerError(_("“%(value)s” is not a number.") % {"value": raw})
        return {"number": number}
    if qtype == QuestionType.INTERVIEW:
        notes = _text(data, "text", MAX_NOTES)
        checked = _ids(_getlist(data, "checked"))
        valid = {c.pk for c in question.checklist.all()}
        if not set(checked) <= valid or len(set(checked)) != len(checked):
            raise AnswerError(_("That checklist point is not part of this question. Please reload the question."))
        return {"text": notes, "checked": sorted(checked)}
    raise AnswerError(_("This question cannot be answered."))


def _text(data: Mapping[str, Any], name: str, limit: int) -> str:
    values = _getlist(data, name)
    text = (values[-1] if values else "").strip()
    if len(text) > limit:
        raise AnswerError(_("This answer is too long (at most %(limit)d characters).") % {"limit": limit})
    return text


def _parse_order(question: Question, data: Mapping[str, Any]) -> list[int]:
    """Either ``order`` (ids in order, sent by the drag-and-drop script) or, without JavaScript,
    one ``position-<id>`` select per item giving its place."""
    items = [i.pk for i in question.order_items.all()]
    order = _ids(_getlist(data, "order"))
    if not order:
        positions: dict[int, int] = {}
        for item_id in items:
            raw = _getlist(data, f"position-{item_id}")
            if not raw:
                raise AnswerError(_("Give every item a position."))
            try:
                positions[item_id] = int(raw[-1])
            except ValueError:
                raise AnswerError(_("Give every item a position.")) from None
        if sorted(positions.values()) != list(range(1, len(items) + 1)):
            raise AnswerError(_("Each position must be used exactly once."))
        order = sorted(items, key=lambda i: positions[i])
    if len(order) != len(set(order)):
        raise AnswerError(_("An item appears twice in your order."))
    if set(order) != set(items):
        raise AnswerError(_("Your order is missing items or contains unknown ones. Please reload the question."))
    return order


def grade(question: Question, answer: dict[str, Any]) -> Grade:
    qtype = question.type
    if qtype in (QuestionType.SINGLE, QuestionType.TRUE_FALSE, QuestionType.MULTIPLE):
        choices = list(question.choices.all())  # the prefetched rows when there are some: no query
        correct_ids = {c.pk for c in choices if c.correct}
        picked = set(answer["choices"])
        if qtype == QuestionType.MULTIPLE:
            all_ids = {c.pk for c in choices}
            right = len(all_ids) - len(picked ^ correct_ids)  # each choice judged on its own
            score = right / len(all_ids) if all_ids else 0.0
        else:
            score = 1.0 if picked == correct_ids else 0.0
        return Grade(picked == correct_ids, score, {"correct_choices": sorted(correct_ids), "picked": sorted(picked)})
    if qtype == QuestionType.ORDERING:
        expected = [i.pk for i in question.order_items.all()]
        given = list(answer["order"])
        in_place = sum(1 for a, b in zip(given, expected) if a == b)
        return Grade(given == expected, in_place / len(expected) if expected else 0.0,
                     {"expected": expected, "in_place": [a == b for a, b in zip(given, expected)]})
    if qtype == QuestionType.SHORT:
        typed = normalise(answer["text"])
        variants = {normalise(v) for a in question.accepted.all() for v in (a.text_en, a.text_ko) if v}
        ok = bool(typed) and typed in variants
        return Grade(ok, 1.0 if ok else 0.0, {})
    if qtype == QuestionType.NUMERIC:
        target = question.numeric_value if question.numeric_value is not None else math.nan
        ok = abs(answer["number"] - target) <= question.numeric_tolerance + 1e-9
        return Grade(ok, 1.0 if ok else 0.0, {"expected": target, "tolerance": question.numeric_tolerance})
    if qtype == QuestionType.INTERVIEW:
        total = len(question.checklist.all())
        share = len(answer["checked"]) / total if total else 1.0
        return Grade(share >= INTERVIEW_PASS, share, {"checked": answer["checked"]})
    return Grade(False, 0.0, {})
