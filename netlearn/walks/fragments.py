"""Small pieces shared by the HTML that walk pages build in Python rather than in templates
(the step list, the waterfall's rows, the packet tree): a value printed as a template prints it."""
from __future__ import annotations

from html import escape
from typing import Any

from django.conf import settings
from django.utils.formats import localize


def number(value: Any) -> str:
    """``{{ value }}`` of a number: localized (the language's decimal separator), escaped. An int
    without thousands grouping is its digits (Django's own fast path, without its look-ups)."""
    if type(value) is int and not settings.USE_THOUSAND_SEPARATOR:
        return str(value)
    return escape(str(localize(value)))


def text(value: Any) -> str:
    """``{{ value }}`` of anything else: ``str()``, escaped (what autoescape does to a value that
    is not marked safe)."""
    return escape(str(value))
