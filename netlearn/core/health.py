"""What apps built on the base app add to ``/healthz``.

The base app imports nothing built on it (``tests/core/test_layering.py``), yet the walk finisher
(``netlearn.walks``) has a state a health check wants to see: an app registers a describer here
from its ``AppConfig.ready`` and the base app's view reports it under the name given."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

_reporters: dict[str, Callable[[], Any]] = {}


def report(name: str, describe: Callable[[], Any]) -> None:
    """Show ``describe()`` under ``name`` in every ``/healthz`` answer (cheap: it runs per check)."""
    _reporters[name] = describe


def reports() -> dict[str, Any]:
    return {name: describe() for name, describe in _reporters.items()}
