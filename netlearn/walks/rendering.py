"""HTML for walks: one template per piece, shared by the page, the WebSocket and the replay."""
from __future__ import annotations

import asyncio
from typing import Any

from django.template.loader import render_to_string

from netlearn.core import labstate

from . import presenters
from .explanations import explain
from .models import Walk

#: Which lesson step explains each category of step (slug, step number) and which quiz topic drills it.
LESSON_FOR_CATEGORY: dict[str, tuple[str, int]] = {
    "browser": ("what-happens-when-you-type-a-url", 1),
    "dns": ("urls-and-dns", 2),
    "tcp": ("tcp-and-udp", 2),
    "http": ("http-and-https", 1),
    "lb": ("load-balancing", 1),
    "server": ("server-side-handling-netty", 1),
    "error": ("what-happens-when-you-type-a-url", 1),
}
TOPIC_FOR_CATEGORY = {"browser": "url", "dns": "dns", "tcp": "tcp", "http": "http", "lb": "load-balancing",
                      "server": "netty"}


def lesson_link(category: str) -> str | None:
    target = LESSON_FOR_CATEGORY.get(category)
    return f"/lessons/{target[0]}/{target[1]}/" if target else None


def quiz_link(category: str) -> str | None:
    topic = TOPIC_FOR_CATEGORY.get(category)
    return f"/quizzes/?topic={topic}" if topic else None


async def live_topology() -> dict[str, str]:
    lab = labstate.get_lab()
    if lab is None:
        return {}
    from .services import topology_map

    return await asyncio.to_thread(lab.call, topology_map)


def _step_ctx(step: presenters.StepView, walk: Walk | None) -> dict[str, Any]:
    return {"step": step, "walk": walk, "lesson_url": lesson_link(step.category), "quiz_url": quiz_link(step.category)}


def live_step_html(event: dict[str, Any], topology: dict[str, str]) -> str:
    step = presenters.step_view(event, topology, seq=event.get("seq", 0), t0=event["ts"])
    step.t_ms = 0.0  # live: relative times are known only at the end; the final render fills them in
    inner = render_to_string("walks/_step.html", _step_ctx(step, None))
    return f'<ol id="walk-steps" hx-swap-oob="beforeend">{inner}</ol>'


def walk_context(walk: Walk) -> dict[str, Any]:
    topology = walk.detail.get("topology", {})
    steps = presenters.build_steps(walk.events, topology)
    explanation = explain(walk.code, walk.detail.get("refusal") or walk.detail.get("outcome")) if walk.code else None
    return {
        "walk": walk,
        "steps": [_step_ctx(s, walk) for s in steps],
        "waterfall": presenters.waterfall(steps),
        "explanation": explanation,
        "parsed": walk.detail.get("parsed"),
        "step_count": len(steps),
        "total_ms": steps[-1].t_ms if steps else 0,
        "layers_seen": sorted({s.layer for s in steps}, reverse=True),
    }


def final_html(walk: Walk) -> str:
    if walk.kind != "walk":
        return render_to_string("walks/_action_result.html", action_context(walk))
    return render_to_string("walks/_result.html", {**walk_context(walk), "oob": True})


def action_context(walk: Walk) -> dict[str, Any]:
    """A lab action's result; for a DNS query also the decoded answer, as dig would print it."""
    from netlearn.lab import packets

    context: dict[str, Any] = {"walk": walk}
    if walk.kind == "dns_query":
        answer = next((e for e in walk.events if e["component"] == "client" and e["kind"] == "answer"), None)
        if answer and answer.get("data_hex"):
            context["dns_text"] = packets.decode_dns(bytes.fromhex(answer["data_hex"]))
    return context


def inspector_html(walk: Walk, seq: int) -> str | None:
    topology = walk.detail.get("topology", {})
    steps = presenters.build_steps(walk.events, topology)
    if not 0 <= seq < len(steps):
        return None
    step = steps[seq]
    return render_to_string("walks/_inspector.html", {
        "walk": walk, "step": step, "layers": presenters.inspector_layers(step.event),
        "lesson_url": lesson_link(step.category), "quiz_url": quiz_link(step.category)})
