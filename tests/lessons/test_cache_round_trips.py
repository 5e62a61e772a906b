"""A cached page's reads of the shared cache (Redis on the stack, one network round trip each): the
session and the content version travel together (``netlearn.core.sessions.SessionStore.prefetch``),
so a returning learner's step page costs two round trips (that, then the seen set), not three."""
from __future__ import annotations

from typing import Any

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.test import Client, override_settings

from netlearn.lessons import pagecache

pytestmark = pytest.mark.django_db
STEP2 = "/lessons/sample-lesson/2/"


class CountingCache(LocMemCache):
    """An in-memory cache that counts its reads. Its dotted path does not say "locmem", so the
    site treats it as the shared cache of a scaled-out deployment (the content version lives in it)."""

    reads: list[str] = []
    _inside_get_many = False

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        if not self._inside_get_many:  # LocMemCache's get_many calls get: one read, not several
            CountingCache.reads.append(f"get {key}")
        return super().get(key, default, version)

    def get_many(self, keys: Any, version: Any = None) -> Any:
        CountingCache.reads.append(f"get_many {sorted(keys)}")
        self._inside_get_many = True
        try:
            return super().get_many(keys, version)
        finally:
            self._inside_get_many = False


SHARED = {"default": {"BACKEND": f"{__name__}.CountingCache", "LOCATION": "round-trips"}}


@override_settings(CACHES=SHARED)
def test_a_returning_learners_step_page_reads_the_cache_twice(content) -> None:
    learner = Client()
    assert learner.get(STEP2).status_code == 200  # the first visit: session and seen set written
    assert learner.get(STEP2).status_code == 200  # the page is cached, the session in the cache
    CountingCache.reads.clear()
    response = learner.get(STEP2)
    assert response.status_code == 200 and "The resolver walks from the root." in response.content.decode()
    assert len(pagecache.pages._pages) == 1
    reads = list(CountingCache.reads)
    assert len(reads) == 2, reads
    assert reads[0].startswith("get_many") and "content-version" in reads[0] and "sessions" in reads[0], reads
