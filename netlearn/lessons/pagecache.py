"""Rendered pages, cached per (page, language, content version): lesson step pages (also per full
page or htmx fragment) and single quiz questions (``netlearn.quizzes.views``).

A step page is the same for every learner but for a few bytes: the CSP nonce, the CSRF token,
the account corner (a name and a log-out form), the lab banner and which steps of the stepper
they have seen. The page is rendered once with *slots* in their places (private-use characters
that no content or escaping produces), split at the slots, and kept in this process's memory as
a tuple of text and slot names; a request joins the parts with its own values (~20 µs).

Kept per process (an LRU of ``MAX_PAGES``), not in the shared cache: a hit then costs no network
round trip and no unpickling; ``netlearn.core.contentversion`` tells every process when the
course changed. Instructors (who may see drafts) and requests with a query string are served
uncached by the view.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.http import HttpRequest, QueryDict
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from netlearn.core.context_processors import lab_banner

MAX_PAGES = 1024  # a course of 11 lessons fills ~520 (2 languages, page and fragment); ~30 KB each
_OPEN, _CLOSE = "\ue000", "\ue001"
_SLOT_RE = re.compile(f"{_OPEN}([a-z]+(?::[0-9]+)?){_CLOSE}")


def slot(name: str) -> SafeString:
    """The placeholder for a per-request value in a page rendered for the cache."""
    return mark_safe(f"{_OPEN}{name}{_CLOSE}")


class SeenSlots:
    """Stands for a learner's seen set in a page rendered for the cache: the ``seen_class`` filter
    asks it for a slot per step instead of "seen" or ""."""

    do_not_call_in_templates = True  # the template engine passes it along instead of calling it

    def __call__(self, step_id: int) -> SafeString:
        return slot(f"seen:{int(step_id)}")


seen_slots = SeenSlots()


@dataclass(frozen=True)
class CachedPage:
    step_id: int  # 0 for a page that is not a lesson step
    lesson_id: int
    #: Text at even positions, slot names at odd ones.
    parts: tuple[str, ...]
    slots: frozenset[str]

    @classmethod
    def from_html(cls, html: str, *, step_id: int = 0, lesson_id: int = 0) -> CachedPage:
        parts = tuple(_SLOT_RE.split(html))
        return cls(step_id, lesson_id, parts, frozenset(parts[1::2]))

    def compose(self, values: Mapping[str, str], seen: frozenset[int]) -> str:
        """The page for one request: ``values`` by slot name; ``seen:<id>`` slots become "seen" or ""."""
        out = list(self.parts)
        for i in range(1, len(out), 2):
            name = out[i]
            if name.startswith("seen:"):
                out[i] = "seen" if int(name[5:]) in seen else ""
            else:
                out[i] = values[name]
        return "".join(out)


class SlotRequest:
    """What the templates read from ``request`` in a page rendered for the cache (no query string)."""

    GET = QueryDict()
    csp_nonce = slot("nonce")

    def __init__(self, path: str) -> None:
        self.path = path

    def get_full_path(self) -> str:
        return self.path


def slot_context(path: str) -> dict[str, object]:
    """The context entries that put slots where base.html shows per-request parts."""
    return {"request": SlotRequest(path), "csrf_token": slot("csrf"), "account_slot": slot("account"),
            "banner_slot": slot("banner")}


_anonymous_account: dict[str, str] = {}


def _account_html(request: HttpRequest, lang: str) -> str:
    user = request.user
    if user.is_authenticated:
        return render_to_string("_account.html", {"user": user, "csrf_token": get_token(request)})
    html = _anonymous_account.get(lang)
    if html is None:
        html = _anonymous_account[lang] = render_to_string("_account.html", {"user": user})
    return html


def slot_values(request: HttpRequest, page: CachedPage, lang: str) -> dict[str, str]:
    """This request's values for the page's base slots (nonce, CSRF token, account corner, lab banner)."""
    values = {}
    if "nonce" in page.slots:
        values["nonce"] = str(getattr(request, "csp_nonce", ""))  # set by the CSP middleware
    if "csrf" in page.slots:
        values["csrf"] = get_token(request)
    if "account" in page.slots:
        values["account"] = _account_html(request, lang)
    if "banner" in page.slots:
        banner = lab_banner(request)
        values["banner"] = render_to_string("_lab_banner.html", banner) if banner else ""
    return values


class PageCache:
    """A bounded, thread-safe LRU of rendered pages; a miss renders once per key at a time."""

    def __init__(self, max_pages: int = MAX_PAGES) -> None:
        self.max_pages = max_pages
        self._pages: OrderedDict[tuple, CachedPage] = OrderedDict()
        self._version = ""
        self._lock = threading.Lock()

    def get(self, key: tuple, version: str, render: Callable[[], CachedPage | None]) -> CachedPage | None:
        """The page under ``key`` for this content ``version``; pages of older versions are dropped
        as soon as a newer one is asked for, so memory holds one version of the course at most."""
        key = (*key, version)
        with self._lock:
            if version != self._version:
                self._pages.clear()
                self._version = version
            if key in self._pages:
                self._pages.move_to_end(key)
                return self._pages[key]
        page = render()  # outside the lock: two threads may render the same page once each
        if page is None:
            return None  # not kept: made-up addresses must not push real pages out
        with self._lock:
            if version != self._version:
                return page  # the course changed while this one rendered: serve it, do not keep it
            self._pages[key] = page
            while len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)
        return page

    def cached(self, key: tuple, version: str) -> bool:
        """Whether the page under ``key`` for this content ``version`` is kept (nothing to render)."""
        with self._lock:
            return version == self._version and (*key, version) in self._pages

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()


pages = PageCache()
