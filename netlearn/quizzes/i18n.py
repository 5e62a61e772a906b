"""Bilingual fields: every text is stored as ``<name>_en`` and ``<name>_ko`` columns.

Two columns (rather than a translation table) keep import/export a flat mapping of the content
format and let the admin show both languages side by side. ``Localized`` picks the active
language and falls back to English, so a half-translated question still renders.
"""
from __future__ import annotations

from typing import Any

from django.utils.translation import get_language

LANGS = ("en", "ko")


def current_lang() -> str:
    lang = (get_language() or "en")[:2]
    return lang if lang in LANGS else "en"


def pick(obj: Any, name: str, lang: str | None = None) -> str:
    lang = lang or current_lang()
    value = getattr(obj, f"{name}_{lang}", "") or ""
    return value or getattr(obj, f"{name}_en", "") or ""


class Localized:
    """A read-only attribute ``obj.prompt`` that returns ``prompt_ko`` or ``prompt_en``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return pick(obj, self.name)
