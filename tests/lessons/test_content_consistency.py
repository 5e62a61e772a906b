"""One spelling for one thing across the shipped course, in both languages."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

from netlearn.core.markdown import render_uncached
from netlearn.core.vocabulary import korean_fields

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "content"
#: RFC 9293's hyphenated state names; the course writes FIN_WAIT_1, TIME_WAIT, LAST_ACK ...
HYPHENATED_STATE = re.compile(r"\b(?:FIN-WAIT-[12]|TIME-WAIT|CLOSE-WAIT|LAST-ACK|SYN-SENT|SYN-RECEIVED)\b")


def _fields() -> list[tuple[str, str]]:
    """Every text of both languages with its path (korean_fields on a copy whose 'ko' is each language)."""
    out = []
    for path in sorted(FIXTURES.glob("*.json")):
        raw = path.read_text(encoding="utf-8")
        for lang in ("en", "ko"):
            document = json.loads(raw)
            _swap(document, lang)
            out += [(f"{path.name}: {where[:-3]}.{lang}", text) for where, text in korean_fields(document)]
    return out


def _swap(value: object, lang: str) -> None:
    if isinstance(value, dict):
        if isinstance(value.get("ko"), str) and isinstance(value.get("en"), str):
            value["ko"] = value[lang]
            return
        for item in value.values():
            _swap(item, lang)
    elif isinstance(value, list):
        for item in value:
            _swap(item, lang)


def test_tcp_states_have_one_spelling_and_the_rfcs_only_where_it_is_named() -> None:
    fields = _fields()
    stray = [f"{where}: {m.group(0)}" for where, text in fields for m in HYPHENATED_STATE.finditer(text)
             if "RFC 9293" not in text and ".accepted[" not in where]  # a learner may type either
    assert not stray, "write FIN_WAIT_1-style names (RFC spelling only next to 'RFC 9293'):\n" + "\n".join(stray)
    assert any("FIN-WAIT-1" in text and "FIN_WAIT_1" in text for _, text in fields), \
        "the TCP lesson names both spellings once"


def test_no_text_shows_literal_emphasis_markers() -> None:
    """CommonMark cannot close ``**`` after punctuation when a Korean particle follows
    (``**`code`**는``, ``**[[term|용어]]**가``, ``**무상태(stateless)**입니다``): learners then see the
    asterisks. Write ``**무상태**(stateless)입니다`` or drop the bold around code and glossary links."""
    stray = []
    for where, text in _fields():
        rendered = re.sub(r"<pre.*?</pre>|<code>.*?</code>", "", render_uncached(text), flags=re.S)
        visible = html.unescape(re.sub(r"<[^>]+>", "", rendered))
        stray += [f"{where}: …{m.group(0)}…" for m in re.finditer(r".{0,25}\*\*.{0,25}", visible)]
    assert not stray, "\n".join(stray)
