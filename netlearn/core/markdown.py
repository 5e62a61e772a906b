"""Markdown for lesson steps and glossary terms: CommonMark → Pygments → nh3.

Why this pipeline:
- markdown-it-py with ``html: False`` turns raw HTML in a body into text, so authors cannot
  smuggle tags in; nh3 then sanitises the output anyway (``javascript:`` URLs, event handlers,
  anything the renderer or a plugin let through). Sanitising last is what makes it safe.
- Pygments highlights fenced code server-side (the Netty bootstrap in Java, shell, HTTP), so
  pages need no client-side highlighter.
- ``[[term]]`` / ``[[term|text]]`` become links to the glossary, the one place a term is defined.

Rendering is the costly part of a step page, so results are cached under a hash of the text and
the language: an edit produces new text and therefore a new key, which is the invalidation.
"""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from urllib.parse import quote

import nh3
from django.core.cache import cache
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

CACHE_VERSION = "md2"
#: ``[[term]]`` or ``[[term|text]]``; inside a table row the pipe arrives escaped (``[[term\|text]]``).
GLOSSARY_LINK = re.compile(r"\[\[([^\[\]|\n]{1,80}?)(?:\\?\|([^\[\]\n]{1,200}))?\]\]")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "ul",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "class"},
    "img": {"src", "alt", "title"},
    "span": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "div": {"class"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}
_formatter = HtmlFormatter(nowrap=True)


def glossary_url(term: str) -> str:
    return f"/glossary/{quote(term.strip(), safe='')}/"


def glossary_terms_in(text: str) -> list[str]:
    """The glossary keys a body links to (for validation and "used in" lists)."""
    return [m.group(1).strip() for m in GLOSSARY_LINK.finditer(text or "")]


def _escape_pipes_in_table_rows(text: str) -> str:
    """Escape the pipe of ``[[term|text]]`` on lines that hold other pipes (table rows), outside
    fenced code. Why: a table row is split into cells on every unescaped ``|`` before inline rules
    run, so the link's own pipe would cut it in two; ``\\|`` is the table's escape for a pipe that
    belongs to the cell, and :data:`GLOSSARY_LINK` accepts it."""
    if "[[" not in text or "|" not in text:
        return text
    lines = text.split("\n")
    fence = ""
    for i, line in enumerate(lines):
        opening = FENCE.match(line)
        if opening and (not fence or opening.group(1).startswith(fence)):
            fence = "" if fence else opening.group(1)
            continue
        if fence or "|" not in GLOSSARY_LINK.sub("", line):
            continue
        lines[i] = GLOSSARY_LINK.sub(lambda m: f"[[{m.group(1)}\\|{m.group(2)}]]" if m.group(2) else m.group(0), line)
    return "\n".join(lines)


def _glossary_rule(state: StateInline, silent: bool) -> bool:
    if not state.src.startswith("[[", state.pos):
        return False
    match = GLOSSARY_LINK.match(state.src, state.pos)
    if not match:
        return False
    if not silent:
        token = state.push("glossary_link", "a", 0)
        token.meta = {"term": match.group(1).strip(), "text": (match.group(2) or match.group(1)).strip()}
    state.pos = match.end()
    return True


def _render_glossary_link(self, tokens, idx, options, env) -> str:
    meta = tokens[idx].meta
    return f'<a class="term" href="{escape(glossary_url(meta["term"]))}">{escape(meta["text"])}</a>'


def _highlight(code: str, lang: str, attrs: str) -> str:
    try:
        lexer = get_lexer_by_name((lang or "").strip().lower() or "text")
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    language = escape(lexer.aliases[0] if lexer.aliases else "text")
    highlighted = highlight(code, lexer, _formatter)
    return f'<pre class="highlight"><code class="language-{language}">{highlighted}</code></pre>\n'


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False, "highlight": _highlight})
    md.enable("table").enable("strikethrough")
    md.inline.ruler.before("link", "glossary_link", _glossary_rule)
    md.add_render_rule("glossary_link", _render_glossary_link)
    return md


_md = _build()


def sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
        filter_style_properties={"text-align"},
    )


def render_uncached(text: str) -> str:
    return sanitize(_md.render(_escape_pipes_in_table_rows(text or "")))


def _cache_key(text: str, lang: str) -> str:
    digest = hashlib.sha256((text or "").encode("utf-8")).hexdigest()
    return f"{CACHE_VERSION}:{lang}:{digest}"


@lru_cache(maxsize=1024)
def _render_memo(text: str, lang: str) -> str:
    key = _cache_key(text, lang)
    html = cache.get(key)
    if html is None:
        html = render_uncached(text)
        cache.set(key, html, timeout=None)
    return html


def render_markdown(text: str, *, lang: str = "en") -> SafeString:
    """Safe HTML for a Markdown body; cached by (content, language)."""
    return mark_safe(_render_memo(text or "", lang))


def forget(text: str, *, lang: str) -> None:
    """Drop one cached rendering (called when an edit replaces ``text``)."""
    cache.delete(_cache_key(text, lang))
    _render_memo.cache_clear()
