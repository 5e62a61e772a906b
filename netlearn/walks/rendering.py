"""HTML for walks: one template per piece, shared by the page, the WebSocket and the replay."""
from __future__ import annotations

import asyncio
from typing import Any

from django.template.loader import render_to_string

from netlearn.core import labstate

from . import presenters
from .explanations import explain
from .models import Walk

#: Which lesson step explains a walk step: by the walker's own step name, then by event kind.
LESSON_FOR_STEP: dict[str, tuple[str, int]] = {
    "url": ("urls-and-dns", 1), "browser_cache": ("what-happens-when-you-type-a-url", 2),
    "resolved": ("what-happens-when-you-type-a-url", 4), "nxdomain": ("urls-and-dns", 8),
    "port_map": ("tcp-and-udp", 1), "parse_html": ("browser-rendering", 2), "render": ("browser-rendering", 5),
    "reconnect": ("http-and-https", 4), "refused": ("what-happens-when-you-type-a-url", 1),
    "dns_tcp_retry": ("tcp-and-udp", 9), "server_error": ("load-balancing", 10),
    "connection_failed": ("load-balancing", 10),
}
LESSON_FOR_KIND: dict[str, tuple[str, int]] = {
    "query": ("urls-and-dns", 3), "referral": ("urls-and-dns", 5), "answer": ("urls-and-dns", 5),
    "cache": ("urls-and-dns", 6), "connect": ("tcp-and-udp", 2), "accept": ("tcp-and-udp", 4),
    "close": ("tcp-and-udp", 7), "request": ("http-and-https", 1), "response": ("http-and-https", 3),
    "choose": ("load-balancing", 5), "forward": ("load-balancing", 5), "health_check": ("load-balancing", 10),
    "handler": ("server-side-handling-netty", 6), "tls_record": ("http-and-https", 6),
    "frame": ("http-and-https", 8), "packet": ("tcp-and-udp", 10), "error": ("load-balancing", 10),
}
TOPIC_FOR_CATEGORY = {"browser": "browser", "dns": "dns", "tcp": "tcp", "http": "http", "lb": "load-balancing",
                      "server": "netty", "tls": "https-tls"}


def lesson_link(step: presenters.StepView) -> str | None:
    target = LESSON_FOR_STEP.get(step.event.get("detail", {}).get("step", "")) or LESSON_FOR_KIND.get(step.kind)
    return f"/lessons/{target[0]}/{target[1]}/" if target else None


def quiz_link(step: presenters.StepView) -> str | None:
    topic = TOPIC_FOR_CATEGORY.get(step.category)
    return f"/quizzes/topic/{topic}/" if topic else None


async def live_topology() -> dict[str, str]:
    lab = labstate.get_lab()
    if lab is None:
        return {}
    from .services import topology_map

    return await asyncio.to_thread(lab.call, topology_map)


def _step_ctx(step: presenters.StepView, walk: Walk | None) -> dict[str, Any]:
    return {"step": step, "walk": walk, "lesson_url": lesson_link(step), "quiz_url": quiz_link(step),
            "phase_title": presenters.phase_title(step.phase)}


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
        "lesson_url": lesson_link(step), "quiz_url": quiz_link(step)})
