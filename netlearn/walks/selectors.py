"""Reads for walks: a learner's history and the JSON document of one walk."""
from __future__ import annotations

from typing import Any

from . import presenters
from .models import Walk


def history(*, user: Any, session_key: str | None, limit: int = 15) -> list[Walk]:
    return list(Walk.objects.for_learner(user=user, session_key=session_key).defer("events")[:limit])


def walk_document(walk: Walk) -> dict[str, Any]:
    """The same document ``manage.py walk --json`` prints: ordered steps with their real bytes."""
    steps = presenters.build_steps(walk.events, walk.detail.get("topology", {}))
    return {
        "id": str(walk.id), "url": walk.url, "status": walk.status, "code": walk.code,
        "backends": walk.backends, "duration_ms": walk.duration_ms,
        "created_at": walk.created_at.isoformat() if walk.created_at else None,
        "steps": [step_document(s) for s in steps],
    }


def step_document(step: presenters.StepView) -> dict[str, Any]:
    e = step.event
    return {
        "seq": step.seq, "layer": e["layer"], "kind": e["kind"], "component": e["component"],
        "title": step.title, "summary": e["summary"], "src": e.get("src"), "dst": e.get("dst"),
        "transport": e.get("transport"), "bytes_hex": e.get("data_hex", ""), "bytes_len": e.get("data_len", 0),
        "detail": e.get("detail", {}), "timestamps": {"monotonic": e["ts"], "t_ms": step.t_ms},
    }
