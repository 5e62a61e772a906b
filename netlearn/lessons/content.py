"""The ``tracks``, ``lessons`` and ``glossary`` sections of the content format.

Validation looks at the whole document (a lesson may name a track, and a step body a glossary
term, defined in the same file or already in the database). Writing happens only after the
whole document validated, inside the registry's transaction (netlearn.core.content).
Steps are matched by number on ``replace``, so learners' progress on a step survives a re-import.
"""
from __future__ import annotations

from typing import Any

from netlearn.core.content import LANGS, Mode, text_problems
from netlearn.core.markdown import glossary_terms_in

from .models import GlossaryTerm, Lesson, Track
from .validation import diagram_problems, lab_action_problems, layers_problems, slug_problems


def _unknown_keys(item: dict[str, Any], allowed: set[str], path: str) -> list[str]:
    return [f"{path}.{key}: unknown field" for key in sorted(set(item) - allowed)]


def _int_problems(value: Any, path: str) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return [f"{path}: expected a whole number >= 0"]
    return []


def _duplicates(items: list[dict[str, Any]], key: str, section: str) -> list[str]:
    seen: dict[Any, int] = {}
    problems = []
    for i, item in enumerate(items):
        value = item.get(key)
        if value in seen:
            problems.append(f"{section}[{i}].{key}: {value!r} already used by {section}[{seen[value]}]")
        elif value is not None:
            seen[value] = i
    return problems


def _bi(obj: Any, name: str) -> dict[str, str]:
    return {lang: getattr(obj, f"{name}_{lang}") for lang in LANGS}


def _set_bi(target: dict[str, Any], name: str, value: dict[str, str]) -> None:
    for lang in LANGS:
        target[f"{name}_{lang}"] = value[lang]


class TracksSection:
    name = "tracks"
    order = 10

    def validate(self, items: list[dict[str, Any]], *, document: dict[str, Any]) -> list[str]:
        problems = _duplicates(items, "slug", "tracks")
        for i, item in enumerate(items):
            path = f"tracks[{i}]"
            problems += _unknown_keys(item, {"slug", "order", "title"}, path)
            problems += slug_problems(item.get("slug"), f"{path}.slug")
            problems += _int_problems(item.get("order", 0), f"{path}.order")
            problems += text_problems(item.get("title"), f"{path}.title")
        return problems

    def import_items(self, items: list[dict[str, Any]], *, mode: Mode) -> tuple[int, int, int]:
        added = updated = skipped = 0
        for item in items:
            fields: dict[str, Any] = {"order": item.get("order", 0)}
            _set_bi(fields, "title", item["title"])
            exists = Track.objects.filter(slug=item["slug"]).exists()
            if exists and mode == "add_missing":
                skipped += 1
                continue
            Track.objects.update_or_create(slug=item["slug"], defaults=fields)
            updated, added = (updated + 1, added) if exists else (updated, added + 1)
        return added, updated, skipped

    def export_items(self) -> list[dict[str, Any]]:
        return [{"slug": t.slug, "order": t.order, "title": _bi(t, "title")}
                for t in Track.objects.order_by("order", "slug")]


class GlossarySection:
    name = "glossary"
    order = 15  # before lessons, whose bodies link to terms

    def validate(self, items: list[dict[str, Any]], *, document: dict[str, Any]) -> list[str]:
        problems = _duplicates(items, "term", "glossary")
        for i, item in enumerate(items):
            path = f"glossary[{i}]"
            problems += _unknown_keys(item, {"term", "title", "body", "layers"}, path)
            term = item.get("term")
            if not isinstance(term, str) or not term.strip() or len(term) > 80 or "/" in term or "|" in term:
                problems.append(f"{path}.term: expected a short name without '/' or '|'")
            problems += text_problems(item.get("title"), f"{path}.title")
            problems += text_problems(item.get("body"), f"{path}.body")
            problems += layers_problems(item.get("layers", []), f"{path}.layers")
        return problems

    def import_items(self, items: list[dict[str, Any]], *, mode: Mode) -> tuple[int, int, int]:
        added = updated = skipped = 0
        for item in items:
            fields: dict[str, Any] = {"layers": item.get("layers", [])}
            _set_bi(fields, "title", item["title"])
            _set_bi(fields, "body", item["body"])
            exists = GlossaryTerm.objects.filter(term=item["term"]).exists()
            if exists and mode == "add_missing":
                skipped += 1
                continue
            GlossaryTerm.objects.update_or_create(term=item["term"], defaults=fields)
            updated, added = (updated + 1, added) if exists else (updated, added + 1)
        return added, updated, skipped

    def export_items(self) -> list[dict[str, Any]]:
        return [
            {"term": g.term, "title": _bi(g, "title"), "body": _bi(g, "body"), "layers": list(g.layers)}
            for g in GlossaryTerm.objects.order_by("term")
        ]


_LESSON_KEYS = {"slug", "track", "order", "published", "title", "summary", "steps"}
_STEP_KEYS = {"title", "body", "layers", "diagram", "lab_action"}


class LessonsSection:
    name = "lessons"
    order = 20

    def validate(self, items: list[dict[str, Any]], *, document: dict[str, Any]) -> list[str]:
        tracks = {t.get("slug") for t in document.get("tracks", []) if isinstance(t, dict)}
        tracks |= set(Track.objects.values_list("slug", flat=True))
        terms = {g.get("term") for g in document.get("glossary", []) if isinstance(g, dict)}
        terms |= set(GlossaryTerm.objects.values_list("term", flat=True))
        problems = _duplicates(items, "slug", "lessons")
        for i, item in enumerate(items):
            path = f"lessons[{i}]"
            problems += _unknown_keys(item, _LESSON_KEYS, path)
            problems += slug_problems(item.get("slug"), f"{path}.slug")
            if item.get("track") not in tracks:
                problems.append(f"{path}.track: unknown track {item.get('track')!r}")
            problems += _int_problems(item.get("order", 0), f"{path}.order")
            if not isinstance(item.get("published", True), bool):
                problems.append(f"{path}.published: expected true or false")
            problems += text_problems(item.get("title"), f"{path}.title")
            problems += text_problems(item.get("summary"), f"{path}.summary", required=False)
            steps = item.get("steps")
            if not isinstance(steps, list) or not steps:
                problems.append(f"{path}.steps: expected a non-empty list of steps")
                continue
            for n, step in enumerate(steps):
                spath = f"{path}.steps[{n}]"
                if not isinstance(step, dict):
                    problems.append(f"{spath}: expected an object")
                    continue
                problems += _unknown_keys(step, _STEP_KEYS, spath)
                problems += text_problems(step.get("title"), f"{spath}.title")
                problems += text_problems(step.get("body"), f"{spath}.body")
                problems += layers_problems(step.get("layers", []), f"{spath}.layers")
                problems += diagram_problems(step.get("diagram", {"nodes": [], "links": []}), f"{spath}.diagram")
                problems += lab_action_problems(step.get("lab_action"), f"{spath}.lab_action")
                body = step.get("body")
                if isinstance(body, dict):
                    for lang in LANGS:
                        text = body.get(lang)
                        for term in glossary_terms_in(text if isinstance(text, str) else ""):
                            if term not in terms:
                                problems.append(f"{spath}.body.{lang}: [[{term}]] is not a glossary term")
        return problems

    def import_items(self, items: list[dict[str, Any]], *, mode: Mode) -> tuple[int, int, int]:
        from .services import lesson_steps_replace

        added = updated = skipped = 0
        for item in items:
            exists = Lesson.objects.filter(slug=item["slug"]).exists()
            if exists and mode == "add_missing":
                skipped += 1
                continue
            summary = item.get("summary") or {"en": "", "ko": ""}
            fields: dict[str, Any] = {
                "track": Track.objects.get(slug=item["track"]),
                "order": item.get("order", 0),
                "published": item.get("published", True),
            }
            _set_bi(fields, "title", item["title"])
            _set_bi(fields, "summary", summary)
            lesson, _ = Lesson.objects.update_or_create(slug=item["slug"], defaults=fields)
            lesson_steps_replace(lesson=lesson, steps=[_step_fields(s) for s in item["steps"]])
            updated, added = (updated + 1, added) if exists else (updated, added + 1)
        return added, updated, skipped

    def export_items(self) -> list[dict[str, Any]]:
        lessons = (Lesson.objects.select_related("track").prefetch_related("steps")
                   .order_by("track__order", "order", "slug"))
        return [
            {
                "slug": lesson.slug, "track": lesson.track.slug, "order": lesson.order, "published": lesson.published,
                "title": _bi(lesson, "title"), "summary": _bi(lesson, "summary"),
                "steps": [
                    {"title": _bi(s, "title"), "body": _bi(s, "body"), "layers": list(s.layers),
                     "diagram": {"nodes": list(s.lit_nodes), "links": list(s.lit_links)}, "lab_action": s.lab_action}
                    for s in sorted(lesson.steps.all(), key=lambda s: s.number)
                ],
            }
            for lesson in lessons
        ]


def _step_fields(step: dict[str, Any]) -> dict[str, Any]:
    diagram = step.get("diagram") or {}
    fields: dict[str, Any] = {
        "layers": step.get("layers", []),
        "diagram": {"nodes": list(diagram.get("nodes", [])), "links": list(diagram.get("links", []))},
        "lab_action": step.get("lab_action"),
    }
    _set_bi(fields, "title", step["title"])
    _set_bi(fields, "body", step["body"])
    return fields


def register() -> None:
    from netlearn.core.content import register_section

    register_section(TracksSection())
    register_section(GlossarySection())
    register_section(LessonsSection())
