"""Markdown for prompts and explanations: CommonMark rendered, then sanitised with nh3.

Questions are authored by instructors in the admin, so the output is sanitised even though
authors are trusted: an explanation pasted from elsewhere must never carry a script.
"""
from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from django.utils.safestring import SafeString, mark_safe

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


@lru_cache(maxsize=2048)
def render_markdown(text: str) -> SafeString:
    return mark_safe(nh3.clean(_md.render(text or "")))
