"""The interface between a backend's handlers and the pipeline that runs them.

Handlers (``handlers.py``) see their connection only through :class:`HandlerContext`; the
pipeline (``pipeline.py``) provides it and builds the default handlers. Neither imports the
other's module for its types, so the two never form an import cycle.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..events import Endpoint


@dataclass
class Behaviour:
    """Failure injection shared by every connection of one backend (mutated by its controls)."""

    latency: float = 0.0
    mode: str = "ok"  # "ok" | "error" | "close"


class Connection(Protocol):
    """What a handler may read of its connection."""

    peer: Endpoint
    behaviour: Behaviour
    clock: Callable[[], float]


class HandlerContext(Protocol):
    """A handler's identity in the pipeline, its connection, and the one way it reports."""

    name: str
    index: int

    @property
    def pipeline(self) -> Connection: ...

    def report(self, action: str, summary: str, **detail: Any) -> None: ...
