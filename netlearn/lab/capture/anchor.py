"""Put a walk's events and frames on one clock, and tie each frame to the step that caused it.

Components report events when Python gets round to it: the browser's "TCP handshake" event is
published after ``connect()`` returned, so it used to sort *after* the backend's accept, which the
handshake caused. The kernel's capture timestamps say when things crossed the wire; an event that
stands for a packet takes that packet's time:

* a CONNECT takes the time of its SYN (the connection opens when the SYN leaves);
* a CLOSE by the side that closed takes the time of its first FIN.

Every other event keeps the time it was reported (a sender reports before sending, a receiver
after receiving, so both already sit on the right side of their packet).

Frames are tied to steps: a handshake to the CONNECT (or ACCEPT) of its conversation, data to the
first event that carries the same bytes between the same endpoints, FINs and RSTs to the CLOSE,
and a bare ACK to whatever its conversation's previous frame belonged to. Pure functions over the
stored dicts, so a replay computes nothing new.
"""
from __future__ import annotations

from typing import Any

DATA_KINDS = ("query", "answer", "referral", "request", "response", "tls_record", "packet", "frame")
FIN, SYN, RST = 0x01, 0x02, 0x04


def _flags(frame: dict[str, Any]) -> int:
    if frame.get("transport") != "tcp":
        return 0
    raw = bytes.fromhex(frame["hex"][:200])
    l4 = 14 + (raw[14] & 0x0F) * 4
    return raw[l4 + 13] if len(raw) > l4 + 13 else 0


def _payload(frame: dict[str, Any]) -> bytes:
    raw = bytes.fromhex(frame["hex"])
    ihl = (raw[14] & 0x0F) * 4
    l4 = 14 + ihl
    total = int.from_bytes(raw[16:18], "big")
    if frame.get("transport") == "tcp":
        return raw[l4 + (raw[l4 + 12] >> 4) * 4:14 + total]
    return raw[l4 + 8:14 + total]


def _pair(a: Any, b: Any) -> frozenset:
    return frozenset((tuple(a), tuple(b)))


def _carries(event_data: bytes, payload: bytes) -> bool:
    """Does a segment or datagram start with the bytes an event reported? (A message split over
    several segments is tied by its first; the rest follow their conversation's previous frame.)"""
    if not event_data or not payload:
        return False
    head = event_data[:32]
    return payload.startswith(head) or event_data.startswith(payload[:32])


def anchor_events(events: list[dict[str, Any]], frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events re-timed and re-ordered (``seq`` = position), each with ``ts_emitted`` and
    ``frames``; each frame gains ``step`` and ``t_ms``. Mutates and returns ``events``."""
    for event in events:
        event.setdefault("ts_emitted", event["ts"])
        event["frames"] = []
    by_flow: dict[Any, list[dict[str, Any]]] = {}
    flags: dict[int, int] = {}  # by id(frame): each frame's TCP flags, read once
    for frame in frames:
        flags[id(frame)] = _flags(frame)
        if frame.get("src") and frame.get("dst"):
            by_flow.setdefault((_pair(frame["src"], frame["dst"]), frame.get("transport")), []).append(frame)
    for event in events:
        if event.get("transport") != "tcp" or not event.get("src") or not event.get("dst"):
            continue
        flow = by_flow.get((_pair(event["src"], event["dst"]), "tcp"), [])
        if event["kind"] == "connect":
            syn = next((f for f in flow if flags[id(f)] & SYN and not flags[id(f)] & 0x10), None)
            if syn is not None:
                event["ts"] = syn["ts"]
        elif event["kind"] == "close" and event["component"] == "client":
            fin = next((f for f in flow if flags[id(f)] & (FIN | RST) and f["src"] == event["src"]), None)
            if fin is not None:
                event["ts"] = fin["ts"]
    events.sort(key=lambda e: e["ts"])
    for seq, event in enumerate(events):
        event["seq"] = seq
    _tie_frames(events, frames, flags)
    t0 = events[0]["ts"] if events else (frames[0]["ts"] if frames else 0.0)
    for frame in frames:
        frame["t_ms"] = round((frame["ts"] - t0) * 1000, 3)
    return events


def _tie_frames(events: list[dict[str, Any]], frames: list[dict[str, Any]], flags_of: dict[int, int]) -> None:
    owners: dict[Any, dict[str, Any]] = {}  # (pair, kind) → the event owning that part of a conversation
    senders: list[dict[str, Any]] = []
    for event in events:
        if not event.get("src") or not event.get("dst"):
            continue
        pair = _pair(event["src"], event["dst"])
        if event["kind"] in ("connect", "accept") and event.get("transport") == "tcp":
            current = owners.get((pair, "open"))
            if current is None or (event["kind"] == "connect" and current["kind"] != "connect"):
                owners[(pair, "open")] = event  # the opener's CONNECT, else the ACCEPT
        elif event["kind"] in ("close", "error") and event.get("transport") in ("tcp", None) and (
                event["component"] == "client" or (pair, "close") not in owners):
            owners[(pair, "close")] = event  # the browser's close, else the first one reported
        if event["kind"] in DATA_KINDS and event.get("data_hex"):
            senders.append(event)
    # The events that may own a frame's bytes, by (source, destination), in order, each with the
    # first 32 bytes of what it sent (all :func:`_carries` compares): not every sender's whole
    # payload decoded again for every frame.
    by_route: dict[tuple, list[tuple[int, bytes]]] = {}
    for index, event in enumerate(senders):
        by_route.setdefault((tuple(event["src"]), tuple(event["dst"])), []).append(
            (index, bytes.fromhex(event["data_hex"][:64])))
    claimed: set[int] = set()
    previous: dict[Any, dict[str, Any]] = {}
    for frame in frames:
        if not frame.get("src") or not frame.get("dst"):
            frame["step"] = None
            continue
        pair = _pair(frame["src"], frame["dst"])
        flags = flags_of[id(frame)]
        owner: dict[str, Any] | None = None
        payload = _payload(frame) if frame.get("length", 0) > 54 or frame.get("transport") == "udp" else b""
        if flags & SYN:
            owner = owners.get((pair, "open"))
        elif flags & (FIN | RST):
            owner = owners.get((pair, "close"))
        if owner is None and payload:
            for index, head in by_route.get((tuple(frame["src"]), tuple(frame["dst"])), ()):
                if index not in claimed and _carries(head, payload):
                    owner = senders[index]
                    claimed.add(index)
                    break
        if owner is None:  # a bare ACK, or bytes no event reported: with its conversation's previous frame
            owner = previous.get((pair, frame.get("transport")))
        frame["step"] = owner["seq"] if owner is not None else None
        if owner is not None:
            owner["frames"].append(frame["no"])
            previous[(pair, frame.get("transport"))] = owner
