"""Compare mode: the same page over HTTP/1.1, HTTP/1.1 + TLS, HTTP/2 and HTTP/3, really walked.

Each row is a complete walk through the lab (DNS, balancers, backends), one after another so the
rows do not slow each other down. The round trips are the walk's own tally: the client counts a
trip each time something it sent needed an answer (SYN, ClientHello, QUIC Initial, a request
flight) and the first bytes of that answer arrived, so they come from what was really sent, not
from a textbook table. Bars are built from the client's events.

On loopback a round trip takes ~0.1 ms and every protocol looks instant, so ``added_rtt_ms``
delays everything the client sends by that much (a one-way delay on the client's link): each
round trip then costs at least that, and the rows differ the way they would on a real network.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .events import Kind, LabEvent

#: (key, scheme, protocol option, label).
ROWS = (("h1", "http", "h1", "HTTP/1.1"), ("h1tls", "https", "h1", "HTTP/1.1 + TLS"),
        ("h2", "https", "h2", "HTTP/2"), ("h3", "https", "h3", "HTTP/3"))
MAX_ADDED_RTT_MS = 200


@dataclass
class CompareRow:
    key: str
    label: str
    url: str
    status: str
    code: str
    round_trips: int
    trips: list[dict[str, Any]]
    total_ms: float
    bars: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    transport: str = "tcp"
    backends: list[str] = field(default_factory=list)
    correlation_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _step(events: list[LabEvent], name: str) -> LabEvent | None:
    return next((e for e in events if e.kind == Kind.STEP and e.detail.get("step") == name), None)


def bars_from_events(events: list[LabEvent]) -> tuple[list[dict[str, Any]], float]:
    """Waterfall bars (ms from the moment the name was resolved) and the total, from client events."""
    client = [e for e in events if e.component == "client"]
    start = _step(client, "resolved") or (client[0] if client else None)
    if start is None:
        return [], 0.0
    t0 = start.ts

    def ms(e: LabEvent) -> float:
        return round((e.ts - t0) * 1000, 3)

    bars: list[dict[str, Any]] = []
    for e in client:
        if e.kind == Kind.CONNECT:
            connect_ms = float(e.detail.get("connect_ms", 0))
            bars.append({"label": "TCP connect", "kind": "tcp", "start": max(0.0, ms(e) - connect_ms), "end": ms(e)})
    first_record = next((e for e in client if e.kind == Kind.TLS_RECORD), None)
    tls_done = _step(client, "tls_established") or _step(client, "cert_failed")
    if first_record is not None and tls_done is not None:
        bars.append({"label": "TLS handshake", "kind": "tls", "start": ms(first_record), "end": ms(tls_done)})
    first_packet = next((e for e in client if e.kind == Kind.PACKET), None)
    quic_done = _step(client, "quic_established")
    if first_packet is not None and quic_done is not None:
        bars.append({"label": "QUIC handshake", "kind": "quic", "start": ms(first_packet), "end": ms(quic_done)})
    pending: dict[str, LabEvent] = {}
    for e in client:
        target = str(e.detail.get("target", ""))
        if e.kind == Kind.REQUEST:
            pending[target] = e
        elif e.kind == Kind.RESPONSE and target in pending:
            req = pending.pop(target)
            bars.append({"label": target, "kind": "http", "start": ms(req), "end": ms(e),
                         "wait_end": ms(req) + float(e.detail.get("ttfb_ms", 0)), "status": e.detail.get("status"),
                         "stream": e.detail.get("stream_id")})
    # The page is on screen when the last answer is in; closing the connection comes after.
    total = max([b["end"] for b in bars] + [0.001])
    for bar in bars:
        bar["left_pct"] = round(bar["start"] / total * 100, 2)
        bar["width_pct"] = max(round((bar["end"] - bar["start"]) / total * 100, 2), 0.6)
        bar["ms"] = round(bar["end"] - bar["start"], 2)
        if "wait_end" in bar:
            span = max(bar["end"] - bar["start"], 1e-6)
            bar["wait_pct"] = min(round((bar["wait_end"] - bar["start"]) / span * 100, 1), 100.0)
    return bars, round(total, 3)


def row_from_walk(key: str, label: str, url: str, record: Any) -> CompareRow:
    events: list[LabEvent] = record.events
    trips_step = _step(events, "round_trips")
    bars, total = bars_from_events(events)
    client = [e for e in events if e.component == "client"]
    packets = any(e.kind == Kind.PACKET for e in client)
    return CompareRow(key=key, label=label, url=url, status=record.outcome.status, code=record.outcome.code,
                      round_trips=int(trips_step.detail.get("count", 0)) if trips_step else 0,
                      trips=list(trips_step.detail.get("trips", [])) if trips_step else [], total_ms=total, bars=bars,
                      connections=sum(1 for e in client if e.kind == Kind.CONNECT) + (1 if packets else 0),
                      transport="udp" if packets else "tcp", backends=list(record.outcome.backends),
                      correlation_id=record.correlation_id)


def row_urls(url: str) -> list[tuple[str, str, str, str]]:
    """``(key, label, url, protocol)`` per row: the same host and path under each scheme."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    rest = parts.netloc + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return [(key, label, f"{scheme}://{rest}", protocol) for key, scheme, protocol, label in ROWS]


async def compare_protocols(lab: Any, url: str, *, added_rtt_ms: float = 0.0,
                            correlation_prefix: str | None = None) -> list[CompareRow]:
    """Walk ``url`` four ways on ``lab`` (a running :class:`~netlearn.lab.runner.Lab`)."""
    delay = max(0.0, min(float(added_rtt_ms), MAX_ADDED_RTT_MS)) / 1000
    prefix = correlation_prefix or uuid.uuid4().hex[:12]
    rows = []
    for key, label, row_url, protocol in row_urls(url):
        record = await lab.walk(row_url, correlation_id=f"{prefix}-{key}", protocol=protocol, added_rtt=delay)
        rows.append(row_from_walk(key, label, row_url, record))
    return rows
