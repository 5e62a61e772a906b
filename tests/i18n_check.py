"""Find English sentences in a page rendered in Korean.

Text inside code, pre, kbd, samp, hex dumps, decoded payloads and elements marked
``translate="no"`` is left out (protocol bytes, commands and addresses are not prose); what is
left must not hold an English sentence: four English words in a row of which at least two are
function words ("the", "is", "to"...), or six with at least one. Technical names that Korean text
keeps in English on purpose ("power of two choices", "Virtual Router Redundancy Protocol",
"select vs poll vs epoll", a list of URL parts) are not sentences.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

SKIP_TAGS = {"code", "pre", "kbd", "samp", "script", "style", "svg", "title", "textarea", "option"}
SKIP_CLASSES = {"hexdump", "payload-text", "wf-label", "step-time", "visually-hidden-en"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
ENGLISH_RUN = re.compile(r"\b[A-Za-z][a-z']+(?:[ ,;:]+[A-Za-z][a-z']+){3,}\b")
FUNCTION_WORDS = {"the", "a", "an", "is", "are", "was", "be", "to", "of", "in", "on", "for", "and", "or", "with",
                  "by", "from", "this", "that", "it", "its", "not", "no", "your", "you", "we", "they", "at", "as",
                  "has", "have", "can", "will", "what", "which", "when", "here", "there", "after", "before"}


#: Names of techniques a Korean lesson keeps in English beside its Korean term, lower-case on purpose.
KEPT_NAMES = {"power of two choices", "flash of unstyled content"}
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _is_sentence(run: str, *, in_korean: bool = False) -> bool:
    """``in_korean``: the run sits in a chunk that also holds Korean, where a half-translated
    sentence ("액티브 밸런서 takes over the virtual address") shows: there four lower-case words
    with one function word are enough (names keep their capitals and are left alone)."""
    words = re.findall(r"[A-Za-z']+", run)
    function = sum(w.lower() in FUNCTION_WORDS for w in words)
    if in_korean and function >= 1 and sum(w.islower() for w in words) >= 4 and run.lower() not in KEPT_NAMES:
        return True
    return function >= 2 or (len(words) >= 6 and function >= 1)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []
        self.chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        attrs = dict(attrs)
        classes = set((attrs.get("class") or "").split())
        skip = tag in SKIP_TAGS or bool(classes & SKIP_CLASSES) or attrs.get("translate") == "no"
        self.stack.append(skip or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag):
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]) and data.strip():
            self.chunks.append(" ".join(data.split()))


def english_sentences(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    found = []
    for chunk in parser.chunks:
        in_korean = bool(HANGUL.search(chunk))
        found.extend(m.group(0) for m in ENGLISH_RUN.finditer(chunk) if _is_sentence(m.group(0), in_korean=in_korean))
    return found
