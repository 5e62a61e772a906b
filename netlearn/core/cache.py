"""A Redis cache that degrades to a miss when Redis is away.

Why: with ``REDIS_URL`` the cache holds sessions (``cached_db``), learners' seen sets and the
content version. Those are all *copies* — the database stays the truth — so a Redis outage must
cost speed, never pages: a read that cannot reach Redis is a miss (the caller falls back to the
database), a write is skipped with a warning. Django's own ``RedisCache`` raises instead, and
every page answered 500 while Redis was down (tests/faults/test_service_faults.py).

And one connection pool per process. Django hands out cache backends per asyncio context
(``caches`` is an ``asgiref.local.Local``), and every request runs in a context of its own, so
each request built a new ``RedisCache``, with a new pool, and opened a new TCP connection to Redis
(plus redis-py 8's ``CLIENT SETINFO``, which reads the package's metadata from disk each time):
profiled on the stack, that was half of a lesson step page's CPU. Here every instance of the same
configuration shares one client, whose pool keeps its connections and whose ``Redis`` object is
made once per pool instead of once per command (both are thread-safe: a command borrows a
connection from the pool).

And, while a page runs on the event loop (``netlearn.core.loopcache``), the entries read ahead for
it: a read there is answered from them, a write kept for the handler to send after the answer, and
anything else refused (``SynchronousOnlyOperation``: the page is served again on a thread).
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.core.exceptions import SynchronousOnlyOperation
from django.utils.functional import cached_property
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from netlearn.core import loopcache

log = logging.getLogger("netlearn.cache")
#: What a command meets while Redis is away (also what ``loopcache``'s asyncio commands count so).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def _refuse_on_loop(what: str) -> None:
    """On the loop only what the read-ahead serves (see the module's doc); anything else refused."""
    if loopcache.current() is not None:
        raise SynchronousOnlyOperation(f"cache {what} on the event loop")


class SharedRedisCacheClient(RedisCacheClient):
    """Django's client, keeping one ``Redis`` object per connection pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[bool, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        client = self._clients.get(write)
        if client is None:
            client = self._clients[write] = super().get_client(key, write=write)
        return client


_shared_clients: dict[tuple[tuple[str, ...], str], SharedRedisCacheClient] = {}
_shared_lock = threading.Lock()


def shared_client(servers: list[str], options: dict[str, Any]) -> SharedRedisCacheClient:
    """The process's one client for this configuration (see the module's doc)."""
    key = (tuple(servers), repr(sorted(options.items())))
    with _shared_lock:
        client = _shared_clients.get(key)
        if client is None:
            client = _shared_clients[key] = SharedRedisCacheClient(servers, **options)
        return client


class FailSoftRedisCache(RedisCache):
    """``RedisCache`` whose reads miss and whose writes are skipped while Redis is unreachable,
    sharing the process's connection pool with every other instance of the same configuration."""

    @cached_property
    def _cache(self) -> SharedRedisCacheClient:
        return shared_client(self._servers, self._options)  # type: ignore[attr-defined]  # set by RedisCache.__init__

    def _soft(self, what: str, default: Any, call: Any, *args: Any, **kwargs: Any) -> Any:
        _refuse_on_loop(what)
        try:
            return call(*args, **kwargs)
        except UNREACHABLE as exc:
            log.warning("cache %s skipped: Redis unreachable (%s)", what, exc.__class__.__name__)
            return default

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        if version is None and (read_ahead := loopcache.current()) is not None:
            return read_ahead.get(key, default)
        return self._soft("get", default, super().get, key, default, version)

    def get_many(self, keys: Any, version: Any = None) -> Any:
        if version is None and (read_ahead := loopcache.current()) is not None:
            return read_ahead.get_many(keys)
        return self._soft("get_many", {}, super().get_many, keys, version)

    def has_key(self, key: Any, version: Any = None) -> Any:
        return self._soft("has_key", False, super().has_key, key, version)

    def set(self, key: Any, value: Any, timeout: Any = ..., version: Any = None) -> None:
        if version is None and (read_ahead := loopcache.current()) is not None:
            read_ahead.set(key, value, DEFAULT_TIMEOUT if timeout is ... else timeout)
            return
        kwargs = {} if timeout is ... else {"timeout": timeout}
        self._soft("set", None, super().set, key, value, version=version, **kwargs)

    def add(self, key: Any, value: Any, timeout: Any = ..., version: Any = None) -> Any:
        kwargs = {} if timeout is ... else {"timeout": timeout}
        return self._soft("add", False, super().add, key, value, version=version, **kwargs)

    def set_many(self, data: Any, timeout: Any = ..., version: Any = None) -> Any:
        kwargs = {} if timeout is ... else {"timeout": timeout}
        return self._soft("set_many", list(data), super().set_many, data, version=version, **kwargs)

    def touch(self, key: Any, timeout: Any = ..., version: Any = None) -> Any:
        kwargs = {} if timeout is ... else {"timeout": timeout}
        return self._soft("touch", False, super().touch, key, version=version, **kwargs)

    def delete(self, key: Any, version: Any = None) -> Any:
        return self._soft("delete", False, super().delete, key, version)

    def delete_many(self, keys: Any, version: Any = None) -> None:
        self._soft("delete_many", None, super().delete_many, keys, version)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        """Django's ``incr`` (it raises ``ValueError`` for a missing key, as it should), refused on the loop."""
        _refuse_on_loop("incr")
        return super().incr(key, delta, version)

    def clear(self) -> Any:
        _refuse_on_loop("clear")
        return super().clear()
