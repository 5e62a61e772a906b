"""A shared (Redis) cache read ahead, so that a cached page can be served on the event loop.

Why: a returning learner's cached step or question page needs nothing but its session, the content
version and the learner's seen set, all cache entries. With the embedded defaults they are in the
process's memory and the page is served on the loop (``netlearn.core.onloop``). On the scaled-out
stack they are in Redis: a sync read there would block the loop, so every such page went to a
pooled thread, where it waited for a free thread behind heavier requests and then for the GIL
between the loop and the other threads. Measured under ``bench/classroom.py --config stack`` with
timers in the handler (2026-12-04): a step page's p99 was 36 ms waiting for a thread and 37 ms
running on it, against 4 ms for the whole page at the median.

So, before such a page runs on the loop, the handler reads the keys it will need with an asyncio
Redis client (the loop serves others while it waits): the session and the content version in one
``MGET``, then what the session names (the seen set of the visitor it holds; apps register these
with :func:`session_keys`). While the page's sync chain runs, the site's cache answers from what was
read (:class:`ReadAhead`), and keeps its writes (a first view's new seen set), which the handler
sends right after the answer: a round trip off the page's latency (sent before it under the class,
that round trip's p99 was 12 ms and the whole page's in the handler 26 ms), and the learner's next
page comes seconds later. A read of anything not read ahead, or any other cache command, raises
``SynchronousOnlyOperation``: ``onloop`` then serves the request again on a thread, correct and
only slower. The writes are copies the database backs (``cached_db`` sessions, seen sets rebuilt
from progress, and a view journaled twice is written once), so a lost or late write costs a cache
miss, never data.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.cache import caches
from django.core.exceptions import SynchronousOnlyOperation
from django.http.cookie import parse_cookie

log = logging.getLogger("netlearn.loopcache")

#: Functions naming the further cache keys a page will read, from the session's data.
_session_key_sources: list[Callable[[dict[str, Any]], Iterable[str]]] = []


def session_keys(source: Callable[[dict[str, Any]], Iterable[str]]) -> Callable[[dict[str, Any]], Iterable[str]]:
    """Register ``source(session_data) -> keys``: cache keys to read ahead for a session holding
    those data (a decorator; the lessons app names its learner's seen set)."""
    if source not in _session_key_sources:
        _session_key_sources.append(source)
    return source


class ReadAhead:
    """One request's cache entries read ahead (``None``: not in Redis), and its writes."""

    __slots__ = ("values", "writes")

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.writes: list[tuple[str, Any, Any]] = []

    def get(self, key: str, default: Any) -> Any:
        if key not in self.values:
            raise SynchronousOnlyOperation(f"cache key {key!r} was not read ahead for the event loop")
        value = self.values[key]
        return default if value is None else value

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        return {key: value for key in keys if (value := self.get(key, None)) is not None}

    def set(self, key: str, value: Any, timeout: Any) -> None:
        self.values[key] = value
        self.writes.append((key, value, timeout))


_current: contextvars.ContextVar[ReadAhead | None] = contextvars.ContextVar("netlearn_read_ahead", default=None)


def current() -> ReadAhead | None:
    """The read-ahead serving this request's cache calls (only while its chain runs on the loop)."""
    return _current.get()


def serving(read_ahead: ReadAhead) -> contextvars.Token[ReadAhead | None]:
    return _current.set(read_ahead)


def done_serving(token: contextvars.Token[ReadAhead | None]) -> None:
    _current.reset(token)


def applies() -> bool:
    """Sessions in the default cache, and that cache is Redis (``netlearn.core.cache``)."""
    from netlearn.core.cache import FailSoftRedisCache

    alias = getattr(settings, "SESSION_CACHE_ALIAS", "default")
    return (alias == "default" and settings.SESSION_ENGINE == "netlearn.core.sessions"
            and isinstance(caches["default"], FailSoftRedisCache))


def _session_id(scope: dict[str, Any]) -> str | None:
    """The session cookie's value, parsed as Django parses the request's cookies (several
    ``cookie`` headers joined, as ``ASGIRequest`` joins them)."""
    header = "; ".join(value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"cookie")
    return parse_cookie(header).get(settings.SESSION_COOKIE_NAME) or None if header else None


class _Clients:
    """One asyncio Redis client per event loop (its connections belong to that loop)."""

    def __init__(self) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, Any] = {}

    def get(self, cache: Any) -> Any:
        loop = asyncio.get_running_loop()
        client = self._by_loop.get(loop)
        if client is None:
            from redis.asyncio import Redis

            from netlearn.core.redisconf import asyncio_client_options

            for old in [old for old in self._by_loop if old.is_closed()]:
                del self._by_loop[old]
            options = {key: value for key, value in cache._options.items() if key.startswith("socket_")}
            url = cache._servers[0]
            client = self._by_loop[loop] = Redis.from_url(url, **options, **asyncio_client_options(url))
        return client


_clients = _Clients()


async def read_ahead(scope: dict[str, Any]) -> ReadAhead | None:
    """The cache entries a learner's page will read, or None when there is nothing to read ahead
    (not our Redis cache, a session not in the cache or a signed-in learner's, Redis unreachable):
    the page then goes to a thread, as before. A first request (no session cookie, or one Django
    would not accept) reads only the content version: its new session is made in memory and
    written from there (``netlearn.core.sessions``)."""
    from netlearn.core import contentversion, sessions
    from netlearn.core.cache import UNREACHABLE  # here: netlearn.core.cache imports this module

    if not applies():
        return None
    store = sessions.SessionStore(_session_id(scope))
    session_key = store.cache_key if store.session_key is not None else None
    cache = caches["default"]
    try:
        client = _clients.get(cache)
        values = await _fetch(client, cache, [contentversion.CACHE_KEY, *([session_key] if session_key else [])])
        if session_key is not None:
            data = values.get(session_key)
            if not isinstance(data, dict) or SESSION_KEY in data:
                return None  # not in the cache, or a signed-in learner's: never served on the loop (onloop)
            more = [key for source in _session_key_sources for key in source(data) if key not in values]
            if more:
                values.update(await _fetch(client, cache, more))
    except UNREACHABLE as exc:  # the thread's path has its own fail-soft reads
        log.warning("cache read-ahead skipped: Redis unreachable (%s)", exc.__class__.__name__)
        return None
    return ReadAhead(values)


async def _fetch(client: Any, cache: Any, keys: list[str]) -> dict[str, Any]:
    raw = await client.mget([cache.make_and_validate_key(key) for key in keys])
    loads = cache._cache._serializer.loads
    return {key: None if value is None else loads(value) for key, value in zip(keys, raw, strict=True)}


async def write_behind(read_ahead: ReadAhead) -> None:
    """Send the writes the page made, as the cache would have (a timeout of 0 deletes)."""
    from netlearn.core.cache import UNREACHABLE

    if not read_ahead.writes:
        return
    cache: Any = caches["default"]  # a FailSoftRedisCache (``applies``)
    dumps = cache._cache._serializer.dumps
    try:
        async with _clients.get(cache).pipeline(transaction=False) as pipe:
            for key, value, timeout in read_ahead.writes:
                redis_key = cache.make_and_validate_key(key)
                seconds = cache.get_backend_timeout(timeout)
                if seconds == 0:
                    pipe.delete(redis_key)
                else:
                    pipe.set(redis_key, dumps(value), ex=seconds)
            await pipe.execute()
    except UNREACHABLE as exc:  # copies: the next read misses and rebuilds them (module doc)
        log.warning("cache writes of a page on the loop skipped: Redis unreachable (%s)", exc.__class__.__name__)
