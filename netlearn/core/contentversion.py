"""The content version: one counter that moves whenever an instructor changes the course.

Rendered pages are cached under it (``netlearn.lessons.pagecache``), so a save in the admin,
``import_content`` or ``seed_content`` (separate processes, often) must reach every worker.
Where it lives:

* with a shared cache (``REDIS_URL``): a cache key, read once per cached page (one Redis GET);
* otherwise (the embedded default: one machine, per-process caches): a small file in the data
  folder, replaced atomically on every bump. Each process keeps the version it last read in
  memory and re-reads the file at most every :data:`REREAD_INTERVAL` seconds (``time.monotonic``).

Why not read the file on every cached page: a cached step page is served on the site's event loop
while other Python threads of the worker (the lab's loop, page threads) wait for the GIL. Every
syscall releases the GIL, and taking it back may wait for another thread's whole switch interval
(5 ms): a py-spy probe of a classroom run found the file's ``open`` behind 2 of 13 loop stalls
over 30 ms. Most calls now cost a clock read and a comparison (``time.monotonic`` reads the
clock in user space through the vDSO and keeps the GIL).

The promise: a bump made in this process is seen by its very next call (the writer stores the new
version in memory too); a bump made by another process (``manage.py import_content`` beside the
server, another worker) is seen within :data:`REREAD_INTERVAL` (0.5 s: shorter than a person takes
to go from a save to a learner's page, while the re-read costs one syscall per half-second per
process whatever the load, against one per page before).

A bump happens at once *and* again when the surrounding transaction commits: a page rendered
from the old rows between the two is cached under the intermediate version and never served
after the commit.
"""
from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

CACHE_KEY = "content-version"

#: Seconds a process may serve the file's version from memory before reading the file again: the
#: bound on how late it sees a bump written by another process.
REREAD_INTERVAL = 0.5
_clock = time.monotonic  # a name of its own, so a test can stand a clock in for it


class _Known(NamedTuple):
    """The file's version as this process last read or wrote it (replaced whole, never mutated:
    threads read it without a lock)."""

    data_dir: Path
    version: str
    read_at: float


_known: _Known | None = None
#: Moves on every bump written by this process; a reader that started before a bump does not
#: store what it read (it may be the version the bump replaced).
_local_bumps = 0
_store_lock = threading.Lock()  # held for two assignments only, never across a syscall


def _shared_cache() -> bool:
    return "locmem" not in settings.CACHES["default"]["BACKEND"].lower()


def _file(data_dir: Path) -> Path:
    return Path(data_dir) / "content-version"


def current() -> str:
    """The version now (an opaque string)."""
    if _shared_cache():
        version = cache.get(CACHE_KEY)
        if version is None:
            cache.add(CACHE_KEY, secrets.token_hex(8), None)
            version = cache.get(CACHE_KEY)
        return str(version)
    return _current_from_file()


def _current_from_file() -> str:
    global _known
    data_dir = settings.DATA_DIR
    known = _known
    now = _clock()
    if known is not None and known.data_dir == data_dir and now - known.read_at < REREAD_INTERVAL:
        return known.version
    bumps_before = _local_bumps
    try:
        with open(_file(data_dir), encoding="ascii") as f:
            version = f.read()
    except FileNotFoundError:
        return _write_file()
    with _store_lock:
        if _local_bumps == bumps_before:
            _known = _Known(data_dir, version, now)  # ``now`` from before the read: the bound holds
    return version


def current_with_session(request: Any) -> str:
    """:func:`current`, read in the same cache round trip as the request's session when both live
    in the shared cache (``netlearn.core.sessions``): a cached page then costs one round trip for
    both instead of two."""
    from netlearn.core import sessions

    session = getattr(request, "session", None)
    if session is not None and _shared_cache() and hasattr(session, "prefetch") and sessions.shares_default_cache():
        version = session.prefetch(CACHE_KEY).get(CACHE_KEY)
        if version is not None:
            return str(version)
    return current()


def _write_file() -> str:
    """A new version in the file (for every process) and in memory (for this one's next call)."""
    global _known, _local_bumps
    data_dir = settings.DATA_DIR
    path = _file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    version = secrets.token_hex(8)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_text(version, encoding="ascii")
    os.replace(tmp, path)
    with _store_lock:
        _local_bumps += 1
        _known = _Known(data_dir, version, _clock())
    return version


def _bump_now() -> None:
    if _shared_cache():
        cache.set(CACHE_KEY, secrets.token_hex(8), None)
    else:
        _write_file()


def bump() -> None:
    """The course changed: every cached page is stale (now, and again when the transaction commits)."""
    _bump_now()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_bump_now)
