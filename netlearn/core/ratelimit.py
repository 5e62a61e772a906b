"""Rate limits on the writes that cost the most: starting walks, lab actions, quiz answers.

Why a middleware and not a decorator on each view: the views belong to several apps and are
async or sync; a limit keyed by URL *name* (``settings.NETLEARN_RATE_LIMITS``) covers them all
without touching them, and a new view only needs a line in the settings. Counting uses the
cache, so with ``REDIS_URL`` every worker process shares one budget per learner; without it
each process counts alone (one process: the embedded default).

A fixed window per (rule, learner): simple, one ``add`` + one ``incr`` per request, and the
learner's wait is at most the window. Only POSTs are counted; pages stay free to read.

Who is counted: every limited POST is counted twice, and refused when either count is over.

* The learner: the signed-in user, or a session that really exists in the session store. A
  session cookie is only a claim: a made-up ``sessionid`` (a fresh random one per request was
  enough to escape the old limits, which hashed the raw cookie) loads no session, so that
  request has no identity of its own and is counted under its client address instead, with the
  same per-learner limit: rotating cookies buys nothing.
* The client address (:mod:`netlearn.core.clientaddr`: ``X-Forwarded-For`` only from the
  proxies in ``NETLEARN_TRUSTED_PROXIES``), with ``NETLEARN_RATE_LIMIT_ADDRESS_FACTOR`` times
  the per-learner limit: a whole classroom behind one NAT address fits under it, while one
  client minting real sessions to spread its requests over them is still bounded. A request
  already refused for its learner is not counted here, so one client hammering past its own
  limit cannot use up the budget of the classmates who share its address.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve

from .clientaddr import client_address

log = logging.getLogger("netlearn.ratelimit")
#: A classroom of this many learners behind one address stays under the address's limit.
DEFAULT_ADDRESS_FACTOR = 40


def _rule(request: HttpRequest) -> tuple[str, int, int] | None:
    """(url name, limit, window seconds) when this request is rate-limited, else None."""
    if request.method != "POST":
        return None
    limits: dict[str, tuple[int, int]] = getattr(settings, "NETLEARN_RATE_LIMITS", {})
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    rule = limits.get(match.view_name)
    return (match.view_name, *rule) if rule else None


def _who(request: HttpRequest) -> str | None:
    """The learner, checked: the signed-in user, else a session the store really holds, else None.

    Reading the session makes the store look the cookie's key up (the view reads the same
    session object next, so nothing is loaded twice); for a key it does not hold, Django's
    session backends drop the key, and ``session_key`` is then ``None``."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"u{user.pk}"
    session = getattr(request, "session", None)
    if session is None or not request.COOKIES.get(settings.SESSION_COOKIE_NAME):
        return None
    session.keys()  # loads it: a key the store does not hold is forgotten here
    key = session.session_key
    return "s" + hashlib.blake2s(key.encode(), digest_size=8).hexdigest() if key else None


def _count(name: str, who: str, window: int) -> tuple[int, int]:
    """Requests so far in the current window and seconds until it ends."""
    now = int(time.time())
    start = now - now % window
    key = f"rl:{name}:{who}:{start}"
    cache.add(key, 0, window + 1)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window + 1)
        used = 1
    return used, start + window - now


def _too_many(request: HttpRequest, retry_after: int) -> HttpResponse:
    html = render_to_string("429.html", {"retry_after": retry_after}, request=request)
    response = HttpResponse(html, status=429)
    response["Retry-After"] = str(max(retry_after, 1))
    return response


def _check(request: HttpRequest) -> HttpResponse | None:
    rule = _rule(request)
    if rule is None:
        return None
    name, limit, window = rule
    address = client_address(request)
    factor = int(getattr(settings, "NETLEARN_RATE_LIMIT_ADDRESS_FACTOR", DEFAULT_ADDRESS_FACTOR))
    try:
        used, retry_after = _count(name, _who(request) or f"a{address}", window)
        if used > limit:  # refused here, and not counted against the address: a client over its
            return _too_many(request, retry_after)  # own limit cannot use up its classmates' budget
        from_address, retry_after = _count(name, f"n{address}", window)
    except Exception:
        log.warning("rate limit not checked: the cache failed", exc_info=True)
        return None
    return _too_many(request, retry_after) if from_address > limit * factor else None


class RateLimitMiddleware:
    """Sync and async capable; place it after the authentication middleware."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return _check(request) or self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            refused = await sync_to_async(_check)(request)
            if refused is not None:
                return refused
        response: Awaitable[HttpResponse] = self.get_response(request)
        return await response
