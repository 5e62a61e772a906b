"""One content format (docs/content-format.md) for fixtures, export and import.

Each app registers the top-level sections it owns (lessons: ``tracks``, ``lessons``,
``glossary``; quizzes: ``questions``, ``quizzes``) from its ``AppConfig.ready()``. The functions
here validate a whole document first and only then write, inside one transaction: a malformed
or half-valid file is rejected whole, with every problem named by its path
(``lessons[2].steps[3].body.ko``), and the database is unchanged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from django.db import DataError, IntegrityError, transaction

FORMAT_NAME = "netlearn-content"
FORMAT_VERSION = 1
LANGS = ("en", "ko")

#: ``add_missing`` (seeding): keys that already exist are left alone, so instructors' edits
#: survive every ``make run``. ``replace`` (import): existing keys are overwritten.
Mode = Literal["add_missing", "replace"]


class ContentError(Exception):
    """A document that cannot be imported; ``problems`` lists every reason with its path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""))
        self.problems = problems


@dataclass
class ImportStats:
    added: int = 0
    updated: int = 0
    skipped: int = 0
    by_section: dict[str, tuple[int, int, int]] = field(default_factory=dict)


class ContentSection(Protocol):
    name: str  # the top-level key, e.g. "lessons"
    order: int  # import order: tracks before lessons before questions

    def validate(self, items: list[dict[str, Any]], *, document: dict[str, Any]) -> list[str]:
        """Problems with paths like ``lessons[0].steps[2].title.ko``; empty when valid.

        ``document`` is the whole (merged) document, so cross-references (a question's lesson
        step, a quiz's question keys) can be checked against what is being imported as well as
        against the database.
        """

    def import_items(self, items: list[dict[str, Any]], *, mode: Mode) -> tuple[int, int, int]:
        """Write the items; returns (added, updated, skipped)."""

    def export_items(self) -> list[dict[str, Any]]:
        """Every object of the section, in the content format, in a stable order."""


_sections: dict[str, ContentSection] = {}


def register_section(section: ContentSection) -> None:
    _sections[section.name] = section


def sections() -> list[ContentSection]:
    return sorted(_sections.values(), key=lambda s: s.order)


def text_problems(value: Any, path: str, *, required: bool = True) -> list[str]:
    """Check a bilingual text object ``{"en": ..., "ko": ...}``."""
    if value is None and not required:
        return []
    if not isinstance(value, dict):
        return [f"{path}: expected an object with 'en' and 'ko' texts"]
    problems = []
    for lang in LANGS:
        text = value.get(lang)
        if not isinstance(text, str) or (required and not text.strip()):
            problems.append(f"{path}.{lang}: missing or empty")
    unknown = set(value) - set(LANGS)
    if unknown:
        problems.append(f"{path}: unknown language(s) {sorted(unknown)}")
    return problems


def validate_document(document: Any) -> list[str]:
    if not isinstance(document, dict):
        return ["document: expected a JSON object"]
    problems: list[str] = []
    if document.get("format") != FORMAT_NAME:
        problems.append(f"format: expected {FORMAT_NAME!r}")
    if document.get("version") != FORMAT_VERSION:
        problems.append(f"version: expected {FORMAT_VERSION}")
    known = {"format", "version", *(s.name for s in sections())}
    for key in document:
        if key not in known:
            problems.append(f"{key}: unknown section")
    for section in sections():
        items = document.get(section.name, [])
        if not isinstance(items, list):
            problems.append(f"{section.name}: expected a list")
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                problems.append(f"{section.name}[{i}]: expected an object")
        if not problems:
            problems.extend(section.validate(items, document=document))
    return problems


def import_document(document: Any, *, mode: Mode) -> ImportStats:
    """Validate everything, then write everything in one transaction (or nothing)."""
    problems = validate_document(document)
    if problems:
        raise ContentError(problems)
    stats = ImportStats()
    try:
        with transaction.atomic():
            for section in sections():
                items = document.get(section.name, [])
                if not items:
                    continue
                added, updated, skipped = section.import_items(items, mode=mode)
                stats.added += added
                stats.updated += updated
                stats.skipped += skipped
                stats.by_section[section.name] = (added, updated, skipped)
    except (DataError, IntegrityError) as exc:
        # What validation cannot see (a text longer than its column on PostgreSQL, say) is still
        # refused whole, with the database's reason, and the transaction leaves nothing behind.
        raise ContentError([f"the database refused the document: {str(exc).strip().splitlines()[0]}"]) from exc
    return stats


def export_document() -> dict[str, Any]:
    document: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
    for section in sections():
        document[section.name] = section.export_items()
    return document


def load_files(paths: list[Path]) -> dict[str, Any]:
    """Merge several content files into one document (lists concatenated), in the order given."""
    merged: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
    for path in paths:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ContentError(
                [f"{path.name}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"]) from exc
        if not isinstance(doc, dict):
            raise ContentError([f"{path.name}: expected a JSON object"])
        for key, value in doc.items():
            if key in ("format", "version"):
                if value != merged[key]:
                    raise ContentError([f"{path.name}: {key} must be {merged[key]!r}"])
                continue
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            else:
                merged[key] = value
    return merged
