"""HTML for walks: one template per piece, shared by the page, the WebSocket and the replay."""
from __future__ import annotations

import asyncio
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import SafeString

from netlearn.core import labstate
from netlearn.lab import calls

from . import presenters, resultpage, steplist, summaries, timeline, wireshark
from .explanations import explain
from .fragments import gettext as _
from .fragments import one_language
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


#: The running lab's address → diagram node map, asked once per lab (its addresses are fixed
#: while it runs; a restarted lab is a new object): not one trip into the lab's loop per socket.
_topology: tuple[Any, dict[str, str]] | None = None


async def live_topology() -> dict[str, str]:
    global _topology
    lab = labstate.get_lab()
    if lab is None:
        return {}
    known = _topology
    if known is not None and known[0] is lab:
        return known[1]
    topology = await asyncio.wrap_future(lab.submit(calls.topology))
    _topology = (lab, topology)
    return topology


def _step_ctx(step: presenters.StepView, labels: StepLabels, inspect_base: str) -> dict[str, Any]:
    """A finished walk's step as the step list needs it: the step, its chapter's title when it
    opens one, and its ``<li>``."""
    return {"step": step, "phase_title": presenters.phase_title(step.phase) if step.phase_start else "",
            "html": step_item_html(step, labels, inspect_url=f"{inspect_base}{step.seq}/")}


def _inspect_base(walk: Walk) -> str:
    """The inspector's address without the step number: reversed once per walk, not per step."""
    url = reverse("walks:step", args=[walk.id, 0])
    assert url.endswith("/0/"), url
    return url[:-2]


@dataclass(frozen=True)
class StepLabels:
    """The words every step item repeats, translated once per render instead of once per step."""
    layer: str
    inspect: str

    @classmethod
    def current(cls) -> StepLabels:
        return cls(_("OSI layer"), _("Inspect"))


def step_item_html(step: presenters.StepView, labels: StepLabels, *, inspect_url: str | None = None) -> SafeString:
    """One ``<li>`` of a walk's step list: a finished walk's (``inspect_url`` given: the step's time,
    its inspector) or a live one (no time yet, nothing to inspect).

    Built with f-strings and :func:`html.escape` (what ``format_html`` does to every value, minus
    its per-argument dispatch) rather than a template or ``format_html``: a walk has ~70 steps,
    rendered once live and once in the final page, and through ``format_html`` this list was the
    dearest part of a walk's worker CPU (bench/classroom). Every value is escaped.

    The title is the row's one control (it opens the inspector); the lesson and quiz links live
    in the inspector of the selected step, not on every row."""
    seq, layer, title = _num(step.seq), _num(step.layer), escape(str(step.title))
    if inspect_url is not None:
        time_ = f'<span class="step-time">+{step.t_ms:.2f} ms</span>'
        control = (f'<button type="button" class="step-title inspect-btn" data-seq="{seq}" '
                   f'aria-label="{_word(labels.inspect)}: {title}">{title}</button>')
        inspect = f' data-inspect="{escape(inspect_url)}"'
    else:
        time_, control, inspect = "", f'<span class="step-title">{title}</span>', ""
    badge = f'<span class="badge">{_num(step.event.get("data_len", 0))} B</span>' if step.has_bytes else ""
    error = " is-error" if step.is_error else ""
    return SafeString(  # mark_safe() of a str, without its check for lazy arguments (~70 calls a render)
        f'<li class="walk-step cat-{_word(step.category)}{error}" id="step-{seq}" data-seq="{seq}" '
        f'data-t="{step.t_ms}" data-link="{_word(step.link or "")}" data-dir="{_word(step.direction)}" '
        f'data-src="{_word(step.src_node or "")}" data-dst="{_word(step.dst_node or "")}" '
        f'data-kind="{_word(str(step.kind))}" data-phase="{_word(step.phase)}"{inspect} tabindex="-1">'
        f'<span class="layer-badge layer-{layer}" title="{_word(labels.layer)} {layer}">L{layer}</span>'
        f'<span class="step-main">{control}<span class="step-summary">{escape(str(step.summary))}</span></span>'
        f'<span class="step-meta">{time_}{badge}</span></li>')


@lru_cache(maxsize=1024)
def _word(value: str) -> str:
    """An attribute value from a small vocabulary (a category, a node, a link, a kind, a phase, a
    label), escaped once: the same few dozen words recur on every step of every walk."""
    return escape(value)


def _num(value: Any) -> str:
    """An int as ``str()`` gives it (digits need no escaping); anything else escaped."""
    return str(value) if type(value) is int else escape(str(value))


def live_steps_html(events: list[dict[str, Any]], topology: dict[str, str]) -> str:
    """Live steps (appended to the list), several events in one WebSocket message."""
    items = []
    with one_language():
        labels = StepLabels.current()
        for event in events:
            step = presenters.step_view(event, topology, seq=event.get("seq", 0), t0=event["ts"])
            step.t_ms = 0.0  # live: relative times are known only at the end; the final render fills them in
            items.append(step_item_html(step, labels))
    return f'<ol id="walk-steps" hx-swap-oob="beforeend">{"".join(items)}</ol>'


def walk_context(walk: Walk, packet_query: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything a finished walk's page shows; ``packet_query`` (filter, hop, no) chooses what
    the packet view lists and which packet it opens."""
    topology = walk.detail.get("topology", {})
    steps = presenters.build_steps(walk.events, topology)
    inspect_base, labels = _inspect_base(walk), StepLabels.current()
    explanation = explain(walk.code, walk.detail.get("refusal") or walk.detail.get("outcome")) if walk.code else None
    step_ctxs = [_step_ctx(s, labels, inspect_base) for s in steps]
    return {
        "walk": walk,
        "steps": step_ctxs,
        "steps_html": steplist.items_html(steplist.list_items(step_ctxs)),
        "chapters": steplist.chapter_labels(),
        "waterfall": presenters.waterfall(steps),
        "explanation": explanation,
        "parsed": walk.detail.get("parsed"),
        "step_count": len(steps),
        "total_ms": steps[-1].t_ms if steps else 0,
        "layers_seen": sorted({s.layer for s in steps}, reverse=True),
        "capture": {**(walk.detail.get("capture") or {}), "frames": len(walk.frames or [])} if walk.frames else None,
        "timeline": timeline.waterfall_rows(steps),
        "packets": packets_context(walk, packet_query or {}) if walk.frames else None,
        "flow": wireshark.flow_graph(walk.frames or [], presenters._role) if walk.frames else None,
    }


def packets_context(walk: Walk, query: dict[str, str]) -> wireshark.PacketView:
    """The packet view for a filter, a hop and a chosen packet number, as given in the query string."""
    try:
        selected = int(query.get("no") or 0) or None
    except ValueError:
        selected = None
    return wireshark.packet_view(walk.frames or [], filter_text=str(query.get("filter", ""))[:200],
                                 hop=str(query.get("hop", "")), selected_no=selected)


def packets_html(walk: Walk, query: dict[str, str]) -> str:
    with one_language():
        return resultpage.packets_html(walk, packets_context(walk, query))


def try_walk_context(walk: Walk) -> dict[str, Any]:
    """A walk run from a lesson's "try it" panel: what fits a lesson column (the outcome, the
    phase waterfall) and the way to the full walk page, where the diagram, steps, inspector and
    packets have room and walk.js."""
    steps = presenters.build_steps(walk.events, walk.detail.get("topology", {}))
    explanation = explain(walk.code, walk.detail.get("refusal") or walk.detail.get("outcome")) if walk.code else None
    return {"walk": walk, "explanation": explanation, "step_count": len(steps),
            "total_ms": steps[-1].t_ms if steps else 0, "timeline": timeline.waterfall_rows(steps),
            "chapters": [presenters.phase_title(s.phase) for s in steps if s.phase_start]}


#: Final renders kept per process, by (walk, language, status, code, finished at): a class that
#: opens one shared walk, or a learner who reconnects, gets the render made for the first socket.
#: A finished walk changes only when a late real record replaces a ``worker_lost`` verdict, which
#: changes its status or finishing time, so the key. ~90 KB a render.
FINAL_CACHE_SIZE = 32
_final_cache: OrderedDict[tuple, str] = OrderedDict()
_final_lock = threading.Lock()
#: Walks this process has just stored (``services.walk_finish``), by id: their final render reads
#: the record still in memory instead of loading the row just written. The same values: what is
#: stored is plain JSON data (lists, dicts, strings, numbers), which the JSON round trip returns
#: unchanged (``tests/walks/test_consumer.py`` compares both on real walks). A handful: the sockets
#: of a walk ask for its render within moments of its end.
RECENT_SIZE = 8
_recent: OrderedDict[str, Walk] = OrderedDict()


def state_of(walk: Walk) -> tuple[str, str, str]:
    """(status, code, finished at): what a finished walk's render depends on besides its id."""
    return walk.status, walk.code, walk.finished_at.isoformat() if walk.finished_at else ""


def remember_stored(walk: Walk) -> None:
    """Keep a walk just stored (and never changed after) for its final render."""
    with _final_lock:
        _recent[str(walk.id)] = walk
        _recent.move_to_end(str(walk.id))
        while len(_recent) > RECENT_SIZE:
            _recent.popitem(last=False)


def recently_stored(walk_id: Any) -> Walk | None:
    """The walk as this process stored it, while it is among the last few stored."""
    with _final_lock:
        return _recent.get(str(walk_id))


def _finished_walk(walk_id: Any, state: tuple[str, str, str]) -> Walk | None:
    walk = recently_stored(walk_id)
    if walk is not None and state_of(walk) == tuple(state):
        return walk
    return Walk.objects.filter(id=walk_id).first()


def prime_final(walk_id: Any, lang: str, state: tuple[str, str, str], html: str) -> None:
    """Keep a final render made elsewhere (``netlearn.walks.finisher``) for the walk's sockets."""
    with _final_lock:
        _final_cache[(_walk_key(walk_id), lang, *state)] = html
        while len(_final_cache) > FINAL_CACHE_SIZE:
            _final_cache.popitem(last=False)


def final_html_in_memory(walk_id: Any, lang: str, state: tuple[str, str, str]) -> str | None:
    """The final render when it is already made: no query, no render (safe on the event loop)."""
    key = (_walk_key(walk_id), lang, *state)
    with _final_lock:
        html = _final_cache.get(key)
        if html is not None:
            _final_cache.move_to_end(key)
        return html


def _walk_key(walk_id: Any) -> str:
    """One spelling of a walk's id (a UUID, its text, or its hex) for the cache's keys."""
    return str(walk_id if isinstance(walk_id, uuid.UUID) else uuid.UUID(str(walk_id)))


def final_html_cached(walk_id: Any, lang: str, state: tuple[str, str, str]) -> str | None:
    """:func:`final_html` of a finished walk in ``lang``, rendered once per state of the row;
    None when the walk is gone or not finished."""
    html = final_html_in_memory(walk_id, lang, state)
    if html is not None:
        return html
    walk = _finished_walk(walk_id, state)
    if walk is None or not walk.is_finished:
        return None
    with translation.override(lang):
        html = final_html(walk)
    prime_final(walk_id, lang, state_of(walk), html)
    return html


def final_html(walk: Walk) -> str:
    with one_language():
        if walk.kind != "walk":
            return render_to_string("walks/_action_result.html", action_context(walk))
        if walk.step_id:
            return render_to_string("walks/_try_walk_result.html", try_walk_context(walk))
        return resultpage.walk_page_html(walk_context(walk))


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
    frames, earlier = step_frames(walk, step)
    return render_to_string("walks/_inspector.html", {
        "walk": walk, "step": step, "layers": presenters.inspector_layers(step.event, frames, earlier),
        "reason": summaries.choice_reason(step.event.get("detail", {})),
        "algorithm": summaries.algorithm_name(str(step.event.get("detail", {}).get("algorithm", ""))),
        "step_frames": frames or [], "lesson_url": lesson_link(step), "quiz_url": quiz_link(step)})


def step_frames(walk: Walk, step: presenters.StepView) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """The frames a step caused (``None`` when the walk has no frames at all) and the frames of the
    first one's conversation before it (for relative sequence numbers)."""
    if not walk.frames:
        return None, []
    numbers = set(step.event.get("frames") or [])
    mine = [f for f in walk.frames if f.get("no") in numbers]
    if not mine:
        return [], []
    first = mine[0]
    earlier = [f for f in walk.frames if f.get("flow") == first.get("flow") and f.get("no", 0) < first.get("no", 0)]
    return mine, earlier
