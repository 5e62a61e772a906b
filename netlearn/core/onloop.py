"""Serving a request on the worker's event loop itself, when everything it needs is in memory.

Why: a request's sync part normally runs on a pooled thread (``asgi_handler``), and the hop there
and back (submitting to the thread, waking the loop, switching the GIL twice) costs about as much
CPU as a cached lesson step page's whole middleware chain and view. A returning anonymous learner's
step page, with the embedded defaults, needs nothing but memory: the session, the seen set and the
rendered page are in the process's own cache, the content version in a small file, the progress
in an append to the journal. For it the handler runs the very same sync chain (every middleware,
the view, the signals) directly on the loop, so the answer is the same by construction. On the
scaled-out stack those entries are in Redis: the handler reads them ahead with an asyncio client
(``netlearn.core.loopcache``), and the page is then served on the loop the same way. A new
learner's first page (no session yet) too: the session is made in memory and its database row
written on a pooled thread after the answer (:func:`after_answer`, ``netlearn.core.sessions``).

Only views marked :func:`may_run_on_loop` are answered from the loop (any other view's answer is
dropped and the request served on a thread). Such a view decides, before it touches anything that
could reach the database (:func:`need_thread`); Django refuses database access on a thread running an event loop anyway
(``SynchronousOnlyOperation``), and should that ever happen the handler serves the request again
on a pooled thread (``asgi_handler``). Only with local-memory caches or a read-ahead: with Redis,
a sync cache read is a network round trip that must not block the loop.
"""
from __future__ import annotations

import contextvars
import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import auth
from django.core.exceptions import SynchronousOnlyOperation
from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from netlearn.core import loopcache

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


class _Run:
    """One request's sync chain running on the loop: ``agreed`` once a view made for it ran,
    ``failed`` once it touched the database; ``after_answer``: database work the answer does not
    wait for (:func:`after_answer`); ``writes_first``: the request's cache writes go before the
    answer (:func:`cache_writes_first`)."""

    __slots__ = ("after_answer", "agreed", "failed", "writes_first")

    def __init__(self) -> None:
        self.agreed = False
        self.failed = False
        self.writes_first = False
        self.after_answer: list[Callable[[], None]] = []


_run: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("netlearn_on_loop", default=None)


class ThreadNeeded(HttpResponse):
    """What a view answers on the loop when it needs a thread: the handler drops it and serves the
    request on a pooled thread instead. Status 200, so Django logs nothing about it."""


def on_event_loop() -> bool:
    """True while a request's sync chain runs on the event loop (the view must stay in memory)."""
    return _run.get() is not None


def enter() -> tuple[_Run, contextvars.Token[_Run | None]]:
    run = _Run()
    return run, _run.set(run)


def leave(token: contextvars.Token[_Run | None]) -> None:
    _run.reset(token)


def after_answer(work: Callable[[], None]) -> None:
    """Have ``work`` (sync, may query the database) run on a pooled thread once this request's
    answer is sent; only while the request's chain runs on the loop. The handler sends the cache
    writes the request made *before* the answer when there is such work: the learner's next
    request, to any worker, must find in the cache what the database does not hold yet."""
    run = _run.get()
    if run is None:
        raise RuntimeError("after_answer() is for a request served on the event loop")
    run.after_answer.append(work)
    run.writes_first = True


def cache_writes_first() -> None:
    """The database catches up with this request's cache writes only later (a journal, or work
    after the answer): the handler sends those writes before the answer, so that the learner's
    next request, to any worker, finds in the cache what the database does not hold yet."""
    run = _run.get()
    if run is None:
        raise RuntimeError("cache_writes_first() is for a request served on the event loop")
    run.writes_first = True


def new_session_in_memory(request: HttpRequest) -> bool:
    """A learner's first request (no session yet) without a query string, whose session the
    store can make in the cache now and write to the database after the answer
    (``netlearn.core.sessions``): nothing to read, so no database either."""
    session = request.session  # the cheap checks first: a returning learner stops at the key
    return (session.session_key is None and getattr(session, "creates_on_loop", False) and not request.GET
            and caches_in_memory())


def local_caches_only() -> bool:
    """Sessions and the default cache both in this process's memory (the embedded defaults)."""
    caches = settings.CACHES
    alias = getattr(settings, "SESSION_CACHE_ALIAS", "default")
    return all("locmem" in caches.get(name, {}).get("BACKEND", "").lower() for name in {"default", alias})


def caches_in_memory() -> bool:
    """The cache reads of this request need no blocking round trip: local-memory caches, or the
    entries read ahead for it (``netlearn.core.loopcache``)."""
    return local_caches_only() or loopcache.current() is not None


def anonymous_session_in_memory(request: HttpRequest) -> bool:
    """An anonymous learner's request without a query string, whose session (it has one) is in the
    process's own cache or read ahead: reading it, the user and the CSRF cookie needs no database.
    What a view does beyond that (a first view's write, a page to render) is the view's own check."""
    session = request.session
    return (caches_in_memory() and not request.GET and getattr(session, "cached_only", bool)()
            and auth.SESSION_KEY not in session)


def anonymous_in_memory(request: HttpRequest) -> bool:
    """:func:`anonymous_session_in_memory`, or a first request whose session would be made in memory
    (:func:`new_session_in_memory`): either way, an anonymous learner served without the database."""
    return new_session_in_memory(request) or anonymous_session_in_memory(request)


def need_thread() -> ThreadNeeded:
    return ThreadNeeded()


def may_run_on_loop(view: _View) -> _View:
    """Mark a view that checks :func:`on_event_loop` and stays in memory there. The answer of any
    other view reached on the loop is dropped and the request served on a thread: running on the
    loop is each view's explicit choice."""

    @functools.wraps(view)
    def agreed(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        run = _run.get()
        if run is not None:
            run.agreed = True
        return view(request, *args, **kwargs)

    return agreed  # type: ignore[return-value]


@receiver(got_request_exception)
def _database_touched_on_loop(sender: object, **kwargs: object) -> None:
    """Django turns an exception into a 500 page before the handler sees it: mark the run so the
    handler drops that page and serves the request on a thread."""
    run = _run.get()
    if run is not None and isinstance(sys.exc_info()[1], SynchronousOnlyOperation):
        run.failed = True
