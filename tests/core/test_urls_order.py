"""netlearn/urls.py puts the most requested apps first: safe only while no two apps' URL patterns
match the same path. Every pattern of every app, filled with sample values, resolves to itself."""
from __future__ import annotations

import re
import uuid

from django.urls import URLPattern, URLResolver, get_resolver, resolve

SAMPLES = {"slug": "sample-1", "int": "7", "str": "sample", "uuid": str(uuid.UUID(int=7)), "path": "a/b"}


def _patterns(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    for entry in resolver.url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = ":".join(n for n in (namespace, entry.namespace) if n)
            yield from _patterns(entry, prefix + route, inner)
        elif isinstance(entry, URLPattern) and entry.name and not route.startswith("^"):
            yield prefix + route, f"{namespace}:{entry.name}" if namespace else entry.name


def test_every_app_url_resolves_to_its_own_pattern() -> None:
    checked = 0
    for route, name in _patterns(get_resolver()):
        if route.startswith(("admin/", "^")):
            continue  # Django's admin: its own regex patterns, one include
        path = "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], route)
        assert resolve(path).view_name == name, path
        checked += 1
    assert checked > 40
