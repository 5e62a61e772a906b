"""A Redis cache that degrades to a miss when Redis is away.

Why: with ``REDIS_URL`` the cache holds sessions (``cached_db``), learners' seen sets and the
content version. Those are all *copies* — the database stays the truth — so a Redis outage must
cost speed, never pages: a read that cannot reach Redis is a miss (the caller falls back to the
database), a write is skipped with a warning. Django's own ``RedisCache`` raises instead, and
every page answered 500 while Redis was down (tests/faults/test_service_faults.py).
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("netlearn.cache")
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class FailSoftRedisCache(RedisCache):
    """``RedisCache`` whose reads miss and whose writes are skipped while Redis is unreachable."""

    def _soft(self, what: str, default: Any, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except _UNREACHABLE as exc:
            log.warning("cache %s skipped: Redis unreachable (%s)", what, exc.__class__.__name__)
            return default

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._soft("get", default, super().get, key, default, version)

    def get_many(self, keys: Any, version: Any = None) -> Any:
        return self._soft("get_many", {}, super().get_many, keys, version)

    def has_key(self, key: Any, version: Any = None) -> Any:
        return self._soft("has_key", False, super().has_key, key, version)

    def set(self, key: Any, value: Any, timeout: Any = ..., version: Any = None) -> None:
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
