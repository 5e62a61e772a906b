"""The content version: one counter that moves whenever an instructor changes the course.

Rendered pages are cached under it (``netlearn.lessons.pagecache``), so a save in the admin,
``import_content`` or ``seed_content`` (separate processes, often) must reach every worker at once.
Where it lives:

* with a shared cache (``REDIS_URL``): a cache key, read once per cached page (one Redis GET);
* otherwise (the embedded default: one machine, per-process caches): a small file in the data
  folder, replaced atomically on every bump and read once per cached page (~10 µs: open, read).

A bump happens at once *and* again when the surrounding transaction commits: a page rendered
from the old rows between the two is cached under the intermediate version and never served
after the commit.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

CACHE_KEY = "content-version"


def _shared_cache() -> bool:
    return "locmem" not in settings.CACHES["default"]["BACKEND"].lower()


def _file() -> Path:
    return Path(settings.DATA_DIR) / "content-version"


def current() -> str:
    """The version now (an opaque string)."""
    if _shared_cache():
        version = cache.get(CACHE_KEY)
        if version is None:
            cache.add(CACHE_KEY, secrets.token_hex(8), None)
            version = cache.get(CACHE_KEY)
        return str(version)
    try:
        with open(_file(), encoding="ascii") as f:
            return f.read()
    except FileNotFoundError:
        _write_file()
        return current()


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


def _write_file() -> None:
    path = _file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_text(secrets.token_hex(8), encoding="ascii")
    os.replace(tmp, path)


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
