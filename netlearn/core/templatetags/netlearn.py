"""Template helpers shared by every app: the topology drawing, bilingual fields, Markdown."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from netlearn.core import diagram, i18n
from netlearn.core.markdown import render_markdown

register = template.Library()

_svg_cache: dict[tuple[frozenset[str], frozenset[str], str, str], str] = {}


def _ids(value: Any) -> frozenset[str]:
    if not value:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    return frozenset(str(v) for v in value)


@register.simple_tag
def topology_svg(lit_nodes: Iterable[str] | str | None = None, lit_links: Iterable[str] | str | None = None,
                 svg_id: str = "topology") -> SafeString:
    """The lab drawing with ``lit_nodes``/``lit_links`` lit; memoised per (lit set, language)."""
    lang = i18n.current_lang()
    key = (_ids(lit_nodes), _ids(lit_links), lang, svg_id)
    html = _svg_cache.get(key)
    if html is None:
        nodes, links = diagram.drawing(key[0], key[1], lang)
        html = render_to_string("core/_topology_svg.html", {
            "nodes": nodes, "links": links, "viewbox": " ".join(map(str, diagram.VIEWBOX)),
            "node_w": diagram.NODE_W, "node_h": diagram.NODE_H, "svg_id": svg_id,
        })
        if len(_svg_cache) > 1024:
            _svg_cache.clear()
        _svg_cache[key] = html
    return mark_safe(html)


@register.filter
def pick(obj: Any, name: str) -> str:
    """``{{ lesson|pick:"title" }}``: the active language's text, English as fallback."""
    return i18n.pick(obj, name)


@register.filter
def markdown(text: str) -> SafeString:
    return render_markdown(text or "", lang=i18n.current_lang())


@register.filter
def spaced(values: Iterable[Any] | None) -> str:
    return " ".join(str(v) for v in (values or []))


@register.filter
def pick_title(item: Any, lang: str) -> str:
    """For cached outline items that carry both titles: ``{{ item|pick_title:lang }}``."""
    return item.title(lang)


@register.filter
def markdown_text(text: str) -> str:
    """Markdown as plain text, for snippets and short labels (glossary cards, search results,
    quiz items, recent answers): wiki links, backticks and emphasis rendered by the site's own
    pipeline, then the tags dropped, so no ``[[TLS]]`` or ``*…*`` shows through. Autoescaped on output."""
    import html

    from django.utils.html import strip_tags

    plain = html.unescape(strip_tags(render_markdown(text or "", lang=i18n.current_lang())))
    plain = WIKI_LEFTOVER.sub(lambda m: m.group(2) or m.group(1), plain)  # e.g. inside a table cell
    return " ".join(plain.split())


WIKI_LEFTOVER = re.compile(r"\[\[([^\]|]+)(?:\|([^\]]+))?\]\]")


#: Lessons by slug for the content version they were read under: a question's feedback links to
#: a few lesson steps by slug, and asking for each title cost one query per link on every answer.
_lessons: tuple[str, dict[str, Any]] = ("", {})


@register.filter
def lesson_title(slug: str) -> str:
    """A lesson's title in the active language, from its slug (the slug itself if there is no such lesson)."""
    global _lessons
    from django.apps import apps

    from netlearn.core import contentversion

    version, lessons = _lessons
    now = contentversion.current()
    if version != now:  # any save of a lesson moves the content version
        model = apps.get_model("lessons", "Lesson")  # core names no app above it
        lessons = {lesson.slug: lesson for lesson in model.objects.only("slug", "title_en", "title_ko")}
        _lessons = (now, lessons)
    lesson = lessons.get(slug)
    return i18n.pick(lesson, "title") if lesson else slug


@register.filter
def seen_class(step_id: int, seen: Any) -> str:
    """"seen" when the learner has seen the step. ``seen`` may be a cached page's slot maker
    (``netlearn.lessons.pagecache``): the class is then filled in per request."""
    if callable(seen):
        return seen(step_id)
    return "seen" if step_id in seen else ""
