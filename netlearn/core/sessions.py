"""Django's ``cached_db`` sessions, whose cache read can ride along with other keys.

Why: on the scaled-out stack the session, a learner's seen set and the content version all live
in Redis, and a cached step or question page read them one network round trip at a time (three
per page). :meth:`SessionStore.prefetch` reads the session together with keys the page needs
anyway (the content version) in one ``get_many``; the session's later ``load`` uses what was
read instead of asking again. The seen set cannot join them: its key names the learner, who is
known only from the session's contents. Everything else is ``cached_db`` unchanged (the database
stays the truth; a miss reads it, as before).
"""
from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.core.cache import caches

_NOTHING = object()


class SessionStore(CachedDBStore):
    _prefetched: Any = _NOTHING

    def prefetch(self, *keys: str) -> dict[str, Any]:
        """``keys`` from the session's cache, and this session's own data in the same round trip
        (when it has a key from the cookie and is not loaded yet)."""
        wanted = list(keys)
        own = self.cache_key if self.session_key and not hasattr(self, "_session_cache") else None
        if own is not None:
            wanted.append(own)
        found = caches[settings.SESSION_CACHE_ALIAS].get_many(wanted)  # the cache cached_db reads
        if own is not None and found.get(own) is not None:
            self._prefetched = found.pop(own)
        return found

    def cached_only(self) -> bool:
        """Whether this session can be used without the database: it has a key and its data is in
        the cache (kept for ``load``, as a prefetch is), or it is loaded already."""
        if hasattr(self, "_session_cache") or self._prefetched is not _NOTHING:
            return True
        if not self.session_key:
            return False
        data = caches[settings.SESSION_CACHE_ALIAS].get(self.cache_key)
        if data is None:
            return False
        self._prefetched = data
        return True

    #: The data as this store last wrote them (``_snapshot``), to skip writing them again unchanged.
    _written: str | None = None

    def save(self, must_create: bool = False) -> None:
        """``cached_db``'s save, skipped when this store (one request's) wrote these very data already.
        Why: Django's ``create`` marks the new session modified (so the middleware sets its cookie),
        and the middleware then writes it again, unchanged. A view that needs the session's key at
        once (a walk files itself under it) creates the session itself, and so cost two writes on
        SQLite's one write lock instead of one."""
        snapshot = self._snapshot()
        if not must_create and snapshot is not None and self.session_key is not None and snapshot == self._written:
            return
        super().save(must_create)
        self._written = snapshot

    def _snapshot(self) -> str | None:
        """The loaded data as text (changes made in place show), or None when nothing is loaded."""
        data = getattr(self, "_session_cache", None)
        return None if data is None else json.dumps(data, sort_keys=True, default=repr)

    def load(self) -> dict[str, Any]:
        data, self._prefetched = self._prefetched, _NOTHING
        if data is not _NOTHING:
            return data
        return super().load()


def shares_default_cache() -> bool:
    """Sessions kept in the default cache: a session and a default-cache key can be read together."""
    return (__name__ == settings.SESSION_ENGINE
            and getattr(settings, "SESSION_CACHE_ALIAS", "default") == "default")
