"""Find the sub-resources a browser would fetch after parsing a page (sans-I/O)."""
from __future__ import annotations

from html.parser import HTMLParser


class _SubresourceParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []  # (kind, url)
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "link" and "stylesheet" in a.get("rel", "").lower().split() and a.get("href"):
            self.found.append(("stylesheet", a["href"]))
        elif tag == "script" and a.get("src"):
            self.found.append(("script", a["src"]))
        elif tag == "img" and a.get("src"):
            self.found.append(("image", a["src"]))
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def find_subresources(html: str, *, limit: int = 20) -> tuple[str, list[tuple[str, str]]]:
    """Return the page title and up to ``limit`` (kind, url) pairs in document order."""
    parser = _SubresourceParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser is lenient; never let a page break a walk
        pass
    return parser.title.strip(), parser.found[:limit]
