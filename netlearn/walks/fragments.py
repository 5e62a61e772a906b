"""Small pieces shared by the HTML that walk pages build in Python rather than in templates
(the step list, the waterfall's rows, the packet tree): a value printed as a template prints it,
and a ``gettext`` that looks the language's catalogue up once per render rather than per string."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.formats import get_format, localize
from django.utils.safestring import SafeData
from django.utils.translation import trans_real


def number(value: Any) -> str:
    """``{{ value }}`` of a number: localized (the language's decimal separator), escaped. An int
    without thousands grouping is its digits (Django's own fast path, without its look-ups); so
    is a float inside :func:`one_language`, with the language's decimal separator: what
    ``numberformat.format`` makes of ``str(value)`` when it is not in exponent form (a waterfall
    prints ~40 percentages and times, and each went through Django's format look-ups)."""
    kind = type(value)
    if kind is int and not settings.USE_THOUSAND_SEPARATOR:
        return str(value)
    if kind is float and not settings.USE_THOUSAND_SEPARATOR:
        separator = getattr(_pinned, "decimal_separator", None)
        digits = str(value)
        if separator is not None and "e" not in digits:
            return digits if separator == "." else escape(digits.replace(".", separator))
    return escape(str(localize(value)))


def value(value: Any) -> str:
    """``{{ value }}`` of any value: safe HTML as it is, a number localized, anything else escaped
    (what ``render_value_in_context`` does, without a template context)."""
    if isinstance(value, SafeData):
        return str(value)
    return number(value)


def text(value: Any) -> str:
    """``{{ value }}`` of anything else: ``str()``, escaped (what autoescape does to a value that
    is not marked safe)."""
    return escape(str(value))


_pinned = threading.local()
#: Translations already looked up, per catalogue (kept with it: a reloaded catalogue is a new
#: object, so its strings are looked up afresh). Django's catalogue lookup is Python code that
#: tries each of its catalogues in turn; a walk asks for the same few dozen strings again and again.
_memos: dict[int, tuple[Any, dict[str, str]]] = {}
MEMO_LIMIT = 5000


def _memo_for(catalog: Any) -> dict[str, str]:
    entry = _memos.get(id(catalog))
    if entry is None or entry[0] is not catalog:
        entry = _memos[id(catalog)] = (catalog, {})
    return entry[1]


@contextmanager
def one_language() -> Iterator[None]:
    """Within this block, :func:`gettext` in this thread translates with the catalogue of the
    language active on entry. Why: Django's ``gettext`` finds the active catalogue through an
    ``asgiref`` context-local on every call, then tries each of its catalogues in turn, and a
    walk's render asks for ~400 strings (titles, summaries, roles): that was a fifth of it.
    Do not switch language inside."""
    previous = (getattr(_pinned, "catalog", None), getattr(_pinned, "memo", None),
                getattr(_pinned, "decimal_separator", None))
    catalog = trans_real.catalog() if settings.USE_I18N else None
    _pinned.catalog, _pinned.memo = catalog, _memo_for(catalog) if catalog is not None else None
    _pinned.decimal_separator = get_format("DECIMAL_SEPARATOR")
    try:
        yield
    finally:
        _pinned.catalog, _pinned.memo, _pinned.decimal_separator = previous


def gettext(message: str) -> str:
    """Django's ``gettext``; inside :func:`one_language`, without the per-call look-ups (the same
    result for the plain, non-empty, single-line source strings walk pages translate)."""
    memo = getattr(_pinned, "memo", None)
    if memo is None or type(message) is not str or not message or "\r" in message:
        return translation.gettext(message)
    result = memo.get(message)
    if result is None:
        if len(memo) >= MEMO_LIMIT:  # only source strings are looked up; a bound all the same
            memo.clear()
        result = memo[message] = _pinned.catalog.gettext(message)
    return result
