"""The Markdown pipeline: harmless output for hostile input, glossary links, highlighted code."""
from __future__ import annotations

import re

import pytest

from netlearn.core.markdown import glossary_terms_in, render_markdown, render_uncached

XSS_CORPUS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "![x](javascript:alert(1))",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "[[VIP\" onmouseover=\"alert(1)]]",
    "[[VIP|<img src=x onerror=alert(1)>]]",
    "`<script>` in code is text",
    "```html\n<script>alert(1)</script>\n```",
    "<<script>script>alert(1)<</script>/script>",
    "[x](https://example.com \"title\" onclick=alert(1))",
    "<a href=\"https://ok.example\" onclick=\"alert(1)\">ok</a>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
]

_DANGEROUS = re.compile(r"<(script|iframe|svg|math|style|body|details)\b|\son\w+\s*=|javascript:|vbscript:|data:text",
                        re.I)


@pytest.mark.parametrize("payload", XSS_CORPUS)
def test_hostile_markdown_renders_harmless(payload: str) -> None:
    html = render_uncached(payload)
    # Escaped text may mention the words; what must never appear is a live tag or attribute.
    live = re.sub(r"&lt;|&gt;|&quot;|&amp;", "", html)
    tags = re.findall(r"<[^>]+>", live)
    assert not [t for t in tags if _DANGEROUS.search(t)], html
    assert not any("javascript" in t.lower() for t in tags), html


def test_raw_html_is_shown_as_text() -> None:
    html = render_uncached("<b>bold</b>")
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_glossary_links_point_at_terms() -> None:
    html = render_uncached("Ask [[DNS]] for the [[VIP|virtual address]].")
    assert '<a class="term" href="/glossary/DNS/"' in html
    assert '>virtual address</a>' in html and 'href="/glossary/VIP/"' in html
    assert glossary_terms_in("[[DNS]] and [[SO_BACKLOG|backlog]]") == ["DNS", "SO_BACKLOG"]


def test_a_labelled_glossary_link_inside_a_table_cell_keeps_the_table() -> None:
    """The link's ``|`` is not a cell border: the row keeps its two cells and the link its label."""
    html = render_uncached("| Layer | Example |\n|---|---|\n| [[TCP|transport]] | port 443, see [[TLS]] |\n"
                           "| [[DNS|names]] | plain |\n")
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    assert [len(re.findall(r"<t[hd]>", row)) for row in rows] == [2, 2, 2]
    assert '<td><a class="term" href="/glossary/TCP/" rel="noopener noreferrer">transport</a></td>' in html
    assert '>names</a></td>' in html and 'href="/glossary/TLS/"' in html
    assert "[[" not in html and "\\" not in html
    # Outside tables and in code nothing changes.
    assert '>virtual address</a> or a | b' in render_uncached("[[VIP|virtual address]] or a | b")
    assert "a | [[x|y]]" in render_uncached("```\na | [[x|y]]\n```")


def test_java_code_is_highlighted() -> None:
    html = render_uncached("```java\npublic void start() {\n    ServerBootstrap b = new ServerBootstrap();\n}\n```")
    assert '<pre class="highlight"><code class="language-java">' in html
    assert '<span class="kd">public</span>' in html


def test_links_get_safe_rel() -> None:
    html = render_uncached("[RFC 1035](https://www.rfc-editor.org/rfc/rfc1035)")
    assert 'href="https://www.rfc-editor.org/rfc/rfc1035"' in html and 'rel="noopener noreferrer"' in html


def test_rendering_is_cached_per_content_and_language() -> None:
    first = render_markdown("**same text**", lang="en")
    again = render_markdown("**same text**", lang="en")
    edited = render_markdown("**edited text**", lang="en")
    assert first == again and "<strong>same text</strong>" in first
    assert "<strong>edited text</strong>" in edited
