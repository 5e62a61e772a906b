"""Bilingual content fields: ``<name>_en`` / ``<name>_ko`` columns, picked by the active language.

Two columns rather than a translation table keep the content format a flat mapping and let the
admin show both languages side by side. English is the fallback so a half-translated object
still renders instead of showing an empty heading.
"""
from __future__ import annotations

from typing import Any

from django.utils.translation import get_language

LANGS = ("en", "ko")


def current_lang() -> str:
    lang = (get_language() or "en")[:2]
    return lang if lang in LANGS else "en"


def pick(obj: Any, name: str, lang: str | None = None) -> str:
    """``obj.<name>_<lang>``, or the English text when that one is empty."""
    lang = lang or current_lang()
    value = getattr(obj, f"{name}_{lang}", "") or ""
    return value or getattr(obj, f"{name}_en", "") or ""


class Localized:
    """Descriptor: ``Lesson.title`` reads ``title_ko`` or ``title_en`` for the active language."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return pick(obj, self.name)
