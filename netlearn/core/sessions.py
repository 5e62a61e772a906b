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

import functools
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.contrib import auth
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.core.cache import caches
from django.db import DatabaseError
from django.utils.crypto import get_random_string

from netlearn.core import onloop
from netlearn.core.journal import Record, WriteAheadJournal, process_journal

log = logging.getLogger("netlearn.sessions")

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

    #: A new session can be made on the event loop (``netlearn.core.onloop.new_session_in_memory``).
    creates_on_loop = True

    def save(self, must_create: bool = False) -> None:
        """``cached_db``'s save, skipped when this store (one request's) wrote these very data already.
        Why: Django's ``create`` marks the new session modified (so the middleware sets its cookie),
        and the middleware then writes it again, unchanged. A view that needs the session's key at
        once (a walk files itself under it) creates the session itself, and so cost two writes on
        SQLite's one write lock instead of one.

        A new session on the event loop is made in the cache only, its database row written on a
        thread after the answer (:meth:`_create_on_loop`). An update that finds no row (that
        write not done yet, or failed) inserts it instead: the learner's next request must not
        lose a session the cache holds."""
        snapshot = self._snapshot()
        if not must_create and snapshot is not None and self.session_key is not None and snapshot == self._written:
            return
        if self.session_key is None and onloop.on_event_loop():
            self._create_on_loop()
        else:
            try:
                super().save(must_create)
            except UpdateError as missing:
                self._insert_instead(missing)
        self._written = snapshot

    def _insert_instead(self, missing: UpdateError) -> None:
        """An update found no row: insert it when it may be a session made on the loop whose row is
        not written yet. Not for an account's session, whose row a log-out elsewhere deleted:
        Django refuses to bring that back (``SessionInterrupted``), and so does this. Any other
        failure (the row is there after all, a full disk) is the update's error, as before."""
        if auth.SESSION_KEY not in self._data():
            try:
                super().save(must_create=True)
                return
            except (CreateError, DatabaseError):
                pass  # raised outside this block: the update's own cause (a full disk) stays its context
        raise missing

    def _create_on_loop(self) -> None:
        """The session under a new random key, in the cache now and in the database later: through
        the sessions' write-ahead journal where progress has one (a worker killed before the row
        is written writes it at its next start, so the learner's journalled progress keeps its
        owner), else on a thread after the answer. Django's ``create`` first asks the database
        whether the key is taken: 32 characters drawn from 36 (as Django draws them) make a clash
        as likely as guessing a key, and the insert's unique key refuses one anyway (logged; the
        cache's copy serves the learner meanwhile)."""
        key = self._session_key = get_random_string(32, VALID_KEY_CHARS)
        data = self._data()
        caches[settings.SESSION_CACHE_ALIAS].set(self.cache_key, data, self.get_expiry_age())  # cached_db's cache
        self.modified = True
        if write_behind():
            journal().append((key, self.encode(data), self.get_expiry_date().isoformat()))
            onloop.cache_writes_first()
        else:
            onloop.after_answer(functools.partial(_insert_row, key, dict(data)))

    def _data(self) -> dict[str, Any]:
        """The session's data as this request holds them (loaded, or new), without loading them."""
        return cast("dict[str, Any]", self._get_session(no_load=True))  # type: ignore[attr-defined]

    def _snapshot(self) -> str | None:
        """The loaded data as text (changes made in place show), or None when nothing is loaded."""
        data = getattr(self, "_session_cache", None)
        return None if data is None else json.dumps(data, sort_keys=True, default=repr)

    def load(self) -> dict[str, Any]:
        data, self._prefetched = self._prefetched, _NOTHING
        if data is not _NOTHING:
            return data
        return super().load()


def _insert_row(session_key: str, data: dict[str, Any]) -> None:
    """The database row of a session made on the loop (``SessionStore._create_on_loop``); a row
    already there (the learner's next request updated first) is newer and is kept."""
    store = SessionStore(session_key)
    store._session_cache = data  # type: ignore[attr-defined]
    try:
        DBStore.save(store, must_create=True)
    except CreateError:
        log.info("a session made on the loop had its row already: the learner's next request wrote it first"
                 " (or, as unlikely as guessing a key, another session holds the key)")


# -- the journal of sessions made on the loop ---------------------------------------------------
_journal: WriteAheadJournal | None = None


def write_behind() -> bool:
    """Sessions made on the loop are journalled when lesson progress is (what they keep an owner
    for); otherwise their rows are written after the answer."""
    return bool(getattr(settings, "NETLEARN_PROGRESS_WRITE_BEHIND", True))


def journal() -> WriteAheadJournal:
    """The write-ahead journal (``netlearn.core.journal``) of new sessions' rows, in ``DATA_DIR``;
    recovered at start-up and flushed at shutdown with the progress journal (``netlearn.background``)."""
    global _journal
    if _journal is None:
        _journal = process_journal(settings.DATA_DIR / "session-journal", _insert_rows,
                                   interval=float(getattr(settings, "NETLEARN_PROGRESS_FLUSH_INTERVAL", 0.25)))
    return _journal


def _insert_rows(records: Sequence[Record]) -> None:
    """The journalled sessions' rows, in one statement; a row already there (the learner's next
    request saved first, or a batch applied twice after a crash) is newer or the same, and kept."""
    model = SessionStore.get_model_class()
    rows = []
    for record in records:
        if len(record) != 3:
            log.warning("session journal: a malformed record skipped (%d fields)", len(record))
            continue
        key, data, expiry = record
        rows.append(model(session_key=key, session_data=data, expire_date=datetime.fromisoformat(expiry)))
    model.objects.bulk_create(rows, ignore_conflicts=True)


def shares_default_cache() -> bool:
    """Sessions kept in the default cache: a session and a default-cache key can be read together."""
    return (__name__ == settings.SESSION_ENGINE
            and getattr(settings, "SESSION_CACHE_ALIAS", "default") == "default")
