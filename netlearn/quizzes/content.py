"""The ``questions`` and ``quizzes`` sections of the content format (docs/content-format.md).

Registered with ``netlearn.core.content`` from ``QuizzesConfig.ready()``. Validation names every
problem by its path (``questions[4].choices[1].text.ko``) and checks cross-references against the
database *and* the document being imported, so a question can arrive in the same file as the
lesson it links to, or before the lessons app has any rows at all.
"""
from __future__ import annotations

import math
from typing import Any

from django.apps import apps
from django.db import transaction

from netlearn.core.content import Mode, text_problems

from .models import (
    AcceptedAnswer,
    ChecklistItem,
    Choice,
    LessonLink,
    OrderItem,
    Question,
    QuestionType,
    Quiz,
    QuizQuestion,
    Topic,
)
from .topics import TOPICS

TYPES = {t.value for t in QuestionType}
_BI = ("en", "ko")


def _bi(obj: Any, name: str) -> dict[str, str]:
    return {lang: getattr(obj, f"{name}_{lang}") for lang in _BI}


def _known_lesson_steps(document: dict[str, Any]) -> dict[str, set[int]]:
    """slug -> step numbers, from the database (if the lessons app is there) and the document."""
    known: dict[str, set[int]] = {}
    try:
        Step = apps.get_model("lessons", "Step")
        Lesson = apps.get_model("lessons", "Lesson")
    except LookupError:  # the lessons app is not installed: no step can be checked
        Step = Lesson = None  # type: ignore[assignment]
    if Step is not None and Lesson is not None:
        for slug in Lesson.objects.values_list("slug", flat=True):
            known.setdefault(slug, set())
        for slug, number in Step.objects.values_list("lesson__slug", "number"):
            known[slug].add(number)
    for lesson in document.get("lessons", []) or []:
        if isinstance(lesson, dict) and isinstance(lesson.get("slug"), str):
            steps = lesson.get("steps")
            known[lesson["slug"]] = set(range(1, len(steps) + 1)) if isinstance(steps, list) else set()
    return known


FIELDS = {"key", "type", "topics", "layers", "difficulty", "prompt", "explanation", "choices", "order_items",
          "accepted", "numeric", "model_answer", "checklist", "lessons", "key_terms", "walk_url", "follow_up"}


class QuestionsSection:
    name = "questions"
    order = 30

    def validate(self, items: list[dict[str, Any]], *, document: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        lessons = _known_lesson_steps(document)
        keys_in_doc = [i.get("key") for i in items]
        known_keys = set(Question.objects.values_list("key", flat=True)) | {k for k in keys_in_doc if k}
        seen: set[str] = set()
        for i, item in enumerate(items):
            path = f"questions[{i}]"
            for extra in sorted(set(item) - FIELDS):
                problems.append(f"{path}.{extra}: unknown field")
            key = item.get("key")
            if not isinstance(key, str) or not key.strip():
                problems.append(f"{path}.key: missing")
            elif key in seen:
                problems.append(f"{path}.key: duplicate key {key!r}")
            else:
                seen.add(key)
            qtype = item.get("type")
            if qtype not in TYPES:
                problems.append(f"{path}.type: expected one of {sorted(TYPES)}")
            topics = item.get("topics")
            if not isinstance(topics, list) or not topics:
                problems.append(f"{path}.topics: expected a non-empty list")
            else:
                for j, t in enumerate(topics):
                    if t not in TOPICS:
                        problems.append(f"{path}.topics[{j}]: unknown topic {t!r}")
            layers = item.get("layers", [])
            if not isinstance(layers, list) or any(not isinstance(x, int) or not 1 <= x <= 7 for x in layers):
                problems.append(f"{path}.layers: expected OSI layer numbers 1-7")
            diff = item.get("difficulty", 1)
            if not isinstance(diff, int) or not 1 <= diff <= 5:
                problems.append(f"{path}.difficulty: expected 1-5")
            problems += text_problems(item.get("prompt"), f"{path}.prompt")
            problems += text_problems(item.get("explanation"), f"{path}.explanation")
            problems += self._type_problems(item, qtype, path)
            for j, link in enumerate(item.get("lessons", []) or []):
                lp = f"{path}.lessons[{j}]"
                if not isinstance(link, dict) or not isinstance(link.get("lesson"), str):
                    problems.append(f"{lp}: expected {{'lesson': slug, 'step': n}}")
                    continue
                step = link.get("step", 1)
                if not isinstance(step, int) or step < 1:
                    problems.append(f"{lp}.step: expected a step number from 1")
                if link["lesson"] not in lessons:
                    problems.append(f"{lp}.lesson: no lesson {link['lesson']!r} in the database or this document")
                elif isinstance(step, int) and step not in lessons[link["lesson"]]:
                    problems.append(f"{lp}.step: lesson {link['lesson']!r} has no step {step}")
            key_terms = item.get("key_terms")
            if key_terms is not None:
                if not isinstance(key_terms, list):
                    problems.append(f"{path}.key_terms: expected a list of {{'en': ..., 'ko': ...}} terms")
                else:
                    for j, term in enumerate(key_terms):
                        problems += text_problems(term, f"{path}.key_terms[{j}]")
            walk = item.get("walk_url")
            if walk is not None and (not isinstance(walk, str) or not walk.startswith(("http://", "https://"))):
                problems.append(f"{path}.walk_url: expected an http(s) URL")
            follow = item.get("follow_up")
            if follow is not None:
                if follow not in known_keys:
                    problems.append(f"{path}.follow_up: no question {follow!r}")
                elif follow == key:
                    problems.append(f"{path}.follow_up: a question cannot follow itself")
        return problems

    @staticmethod
    def _type_problems(item: dict[str, Any], qtype: Any, path: str) -> list[str]:
        problems: list[str] = []
        if qtype in ("single", "multiple", "true_false"):
            choices = item.get("choices")
            if not isinstance(choices, list) or len(choices) < 2:
                return [f"{path}.choices: expected at least two choices"]
            for j, c in enumerate(choices):
                if not isinstance(c, dict):
                    problems.append(f"{path}.choices[{j}]: expected an object")
                    continue
                problems += text_problems(c.get("text"), f"{path}.choices[{j}].text")
                if not isinstance(c.get("correct", False), bool):
                    problems.append(f"{path}.choices[{j}].correct: expected true or false")
            n_correct = sum(1 for c in choices if isinstance(c, dict) and c.get("correct") is True)
            if qtype == "multiple" and n_correct < 1:
                problems.append(f"{path}.choices: at least one choice must be correct")
            if qtype != "multiple" and n_correct != 1:
                problems.append(f"{path}.choices: exactly one choice must be correct")
            if qtype == "true_false" and len(choices) != 2:
                problems.append(f"{path}.choices: true_false has exactly two choices")
        elif qtype == "ordering":
            order = item.get("order_items")
            if not isinstance(order, list) or len(order) < 2:
                return [f"{path}.order_items: expected at least two items"]
            for j, o in enumerate(order):
                problems += text_problems(o, f"{path}.order_items[{j}]")
        elif qtype == "short":
            accepted = item.get("accepted")
            if not isinstance(accepted, list) or not accepted:
                return [f"{path}.accepted: expected at least one accepted answer"]
            for j, a in enumerate(accepted):
                if not isinstance(a, dict) or not isinstance(a.get("en"), str) or not a["en"].strip():
                    problems.append(f"{path}.accepted[{j}].en: missing or empty")
        elif qtype == "numeric":
            num = item.get("numeric")
            if not isinstance(num, dict) or not isinstance(num.get("value"), (int, float)) \
                    or isinstance(num.get("value"), bool) or not math.isfinite(num["value"]):
                return [f"{path}.numeric.value: expected a number"]
            tol = num.get("tolerance", 0)
            if not isinstance(tol, (int, float)) or tol < 0:
                problems.append(f"{path}.numeric.tolerance: expected a number >= 0")
        elif qtype == "interview":
            problems += text_problems(item.get("model_answer"), f"{path}.model_answer")
            checklist = item.get("checklist")
            if not isinstance(checklist, list) or not checklist:
                return problems + [f"{path}.checklist: expected at least one point"]
            for j, c in enumerate(checklist):
                problems += text_problems(c, f"{path}.checklist[{j}]")
        return problems

    def import_items(self, items: list[dict[str, Any]], *, mode: Mode) -> tuple[int, int, int]:
        added = updated = skipped = 0
        existing = {q.key: q for q in Question.objects.all()}
        written: list[tuple[Question, dict[str, Any]]] = []
        with transaction.atomic():
            topics = _ensure_topics()
            for item in items:
                question = existing.get(item["key"])
                if question is not None and mode == "add_missing":
                    skipped += 1
                    continue
                if question is None:
                    question = Question(key=item["key"])
                    added += 1
                else:
                    question.version += 1
                    updated += 1
                _write_question(question, item, topics)
                written.append((question, item))
            keys = dict(Question.objects.values_list("key", "pk"))
            for question, item in written:  # second pass: follow-ups may point forward
                follow = item.get("follow_up")
                question.follow_up_id = keys.get(follow) if follow else None
                question.save(update_fields=["follow_up"])
        return added, updated, skipped

    def export_items(self) -> list[dict[str, Any]]:
        qs = Question.objects.prefetch_related("topics", "choices", "order_items", "accepted", "checklist",
                                               "links").select_related("follow_up").order_by("key")
        return [question_to_dict(q) for q in qs]


def _ensure_topics() -> dict[str, Topic]:
    for slug, (en, ko) in TOPICS.items():
        Topic.objects.get_or_create(slug=slug, defaults={"name_en": en, "name_ko": ko})
    return {t.slug: t for t in Topic.objects.all()}


def _write_question(question: Question, item: dict[str, Any], topics: dict[str, Topic]) -> None:
    question.type = item["type"]
    question.layers = item.get("layers", [])
    question.difficulty = item.get("difficulty", 1)
    for name in ("prompt", "explanation", "model_answer"):
        value = item.get(name) or {}
        for lang in _BI:
            setattr(question, f"{name}_{lang}", value.get(lang, ""))
    numeric = item.get("numeric") or {}
    question.numeric_value = numeric.get("value")
    question.numeric_tolerance = numeric.get("tolerance", 0) or 0
    question.walk_url = item.get("walk_url") or ""
    question.key_terms = [{lang: term[lang] for lang in _BI} for term in item.get("key_terms") or []]
    question.save()
    question.topics.set([topics[t] for t in item["topics"]])
    for model in (Choice, OrderItem, AcceptedAnswer, ChecklistItem, LessonLink):
        model.objects.filter(question=question).delete()
    Choice.objects.bulk_create(
        Choice(question=question, order=i, text_en=c["text"]["en"], text_ko=c["text"]["ko"],
               correct=bool(c.get("correct")))
        for i, c in enumerate(item.get("choices") or []))
    OrderItem.objects.bulk_create(
        OrderItem(question=question, position=i, text_en=o["en"], text_ko=o["ko"])
        for i, o in enumerate(item.get("order_items") or []))
    AcceptedAnswer.objects.bulk_create(
        AcceptedAnswer(question=question, text_en=a["en"], text_ko=a.get("ko", ""))
        for a in item.get("accepted") or [])
    ChecklistItem.objects.bulk_create(
        ChecklistItem(question=question, order=i, text_en=c["en"], text_ko=c["ko"])
        for i, c in enumerate(item.get("checklist") or []))
    LessonLink.objects.bulk_create(
        LessonLink(question=question, lesson_slug=link["lesson"], step=link.get("step", 1), order=i)
        for i, link in enumerate(item.get("lessons") or []))


def question_to_dict(q: Question) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": q.key, "type": q.type, "topics": [t.slug for t in q.topics.all()], "layers": q.layers,
        "difficulty": q.difficulty, "prompt": _bi(q, "prompt"), "explanation": _bi(q, "explanation"),
    }
    if q.type in ("single", "multiple", "true_false"):
        data["choices"] = [{"text": _bi(c, "text"), "correct": c.correct} for c in q.choices.all()]
    elif q.type == "ordering":
        data["order_items"] = [_bi(o, "text") for o in q.order_items.all()]
    elif q.type == "short":
        data["accepted"] = [_bi(a, "text") for a in q.accepted.all()]
    elif q.type == "numeric":
        data["numeric"] = {"value": q.numeric_value, "tolerance": q.numeric_tolerance}
    elif q.type == "interview":
        data["model_answer"] = _bi(q, "model_answer")
        data["checklist"] = [_bi(c, "text") for c in q.checklist.all()]
    data["lessons"] = [{"lesson": link.lesson_slug, "step": link.step} for link in q.links.all()]
    if q.key_terms:
        data["key_terms"] = q.key_terms
    if q.walk_url:
        data["walk_url"] = q.walk_url
    if q.follow_up is not None:
        data["follow_up"] = q.follow_up.key
    return data


class QuizzesSection:
    name = "quizzes"
    order = 40

    def validate(self, items: list[dict[str, Any]], *, document: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        known = set(Question.objects.values_list("key", flat=True)) | {
            q.get("key") for q in document.get("questions", []) or [] if isinstance(q, dict)}
        seen: set[str] = set()
        for i, item in enumerate(items):
            path = f"quizzes[{i}]"
            slug = item.get("slug")
            if not isinstance(slug, str) or not slug.strip():
                problems.append(f"{path}.slug: missing")
            elif slug in seen:
                problems.append(f"{path}.slug: duplicate slug {slug!r}")
            else:
                seen.add(slug)
            problems += text_problems(item.get("title"), f"{path}.title")
            for j, t in enumerate(item.get("topics", []) or []):
                if t not in TOPICS:
                    problems.append(f"{path}.topics[{j}]: unknown topic {t!r}")
            questions = item.get("questions")
            if not isinstance(questions, list) or not questions:
                problems.append(f"{path}.questions: expected a non-empty list of question keys")
                continue
            for j, key in enumerate(questions):
                if key not in known:
                    problems.append(f"{path}.questions[{j}]: no question {key!r}")
            if len(set(map(str, questions))) != len(questions):
                problems.append(f"{path}.questions: a question is listed twice")
        return problems

    def import_items(self, items: list[dict[str, Any]], *, mode: Mode) -> tuple[int, int, int]:
        added = updated = skipped = 0
        topics = _ensure_topics()
        keys = dict(Question.objects.values_list("key", "pk"))
        for item in items:
            quiz = Quiz.objects.filter(slug=item["slug"]).first()
            if quiz is not None and mode == "add_missing":
                skipped += 1
                continue
            if quiz is None:
                quiz = Quiz(slug=item["slug"])
                added += 1
            else:
                updated += 1
            quiz.title_en, quiz.title_ko = item["title"]["en"], item["title"]["ko"]
            quiz.save()
            quiz.topics.set([topics[t] for t in item.get("topics", [])])
            QuizQuestion.objects.filter(quiz=quiz).delete()
            QuizQuestion.objects.bulk_create(QuizQuestion(quiz=quiz, question_id=keys[k], order=i)
                                             for i, k in enumerate(item["questions"]))
        return added, updated, skipped

    def export_items(self) -> list[dict[str, Any]]:
        out = []
        for quiz in Quiz.objects.prefetch_related("topics", "entries__question").order_by("slug"):
            out.append({"slug": quiz.slug, "title": _bi(quiz, "title"),
                        "topics": [t.slug for t in quiz.topics.all()],
                        "questions": [e.question.key for e in quiz.entries.all()]})
        return out
