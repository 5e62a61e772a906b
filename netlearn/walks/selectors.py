"""Reads for walks: a learner's history and the JSON document of one walk."""
from __future__ import annotations

from typing import Any

from . import presenters
from .models import Walk


def history(*, user: Any, session_key: str | None, limit: int = 15) -> list[Walk]:
    return list(Walk.objects.for_learner(user=user, session_key=session_key).defer("events", "frames")[:limit])


def walk_document(walk: Walk) -> dict[str, Any]:
    """The same document ``manage.py walk --json`` prints: ordered steps with their real bytes."""
    steps = presenters.build_steps(walk.events, walk.detail.get("topology", {}))
    return {
        "id": str(walk.id), "url": walk.url, "status": walk.status, "code": walk.code,
        "backends": walk.backends, "duration_ms": walk.duration_ms,
        "created_at": walk.created_at.isoformat() if walk.created_at else None,
        "steps": [step_document(s) for s in steps],
        "capture": capture_summary(walk.detail.get("capture")),
        "frames": [frame_document(f) for f in walk.frames or []],
    }


def capture_summary(capture: dict[str, Any] | None) -> dict[str, Any]:
    """The capture's summary without the TLS key log (that travels in the pcapng only)."""
    summary = {k: v for k, v in (capture or {}).items() if k != "keylog"}
    if capture:
        summary["keylog"] = bool(capture.get("keylog"))
    return summary


def frame_document(frame: dict[str, Any]) -> dict[str, Any]:
    return {k: frame.get(k) for k in ("no", "t_ms", "ts_ns", "src", "dst", "src_node", "dst_node", "hop", "transport",
                                      "flow", "protocol", "length", "info", "captured", "step", "hex")}


def walk_pcapng(walk: Walk) -> bytes:
    """The walk's frames as a pcapng file; rebuilt frames carry a comment saying so."""
    from netlearn.lab.capture.pcapng import pcapng_bytes

    return pcapng_bytes(walk.frames, keylog=(walk.detail.get("capture") or {}).get("keylog", ""))


def step_document(step: presenters.StepView) -> dict[str, Any]:
    e = step.event
    return {
        "seq": step.seq, "layer": e["layer"], "kind": e["kind"], "component": e["component"],
        "title": step.title, "summary": e["summary"], "src": e.get("src"), "dst": e.get("dst"),
        "transport": e.get("transport"), "bytes_hex": e.get("data_hex", ""), "bytes_len": e.get("data_len", 0),
        "detail": e.get("detail", {}), "timestamps": {"monotonic": e["ts"], "t_ms": step.t_ms},
        "frames": e.get("frames", []),
    }
