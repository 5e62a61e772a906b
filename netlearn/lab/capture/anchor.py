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


def _head_of_payload(frame: dict[str, Any], transport: str | None) -> tuple[int, bytes]:
    """A frame's TCP flags and the first 32 bytes of its payload (all :func:`_carries` compares),
    decoding only the headers and those bytes of its hex, not the whole frame twice."""
    text = frame["hex"]
    raw = bytes.fromhex(text[:200])  # Ethernet + the longest IPv4 header + TCP's fixed part
    l4 = 14 + (raw[14] & 0x0F) * 4
    end = 14 + int.from_bytes(raw[16:18], "big")
    if transport == "tcp":
        flags = raw[l4 + 13] if len(raw) > l4 + 13 else 0
        start = l4 + (raw[l4 + 12] >> 4) * 4
    else:
        flags, start = 0, l4 + 8
    return flags, bytes.fromhex(text[2 * start:2 * min(end, start + 32)])


def anchor_events(events: list[dict[str, Any]], frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events re-timed and re-ordered (``seq`` = position), each with ``ts_emitted`` and
    ``frames``; each frame gains ``step`` and ``t_ms``. Mutates and returns ``events``."""
    for event in events:
        event.setdefault("ts_emitted", event["ts"])
        event["frames"] = []
    # What each frame's ties need, read once: endpoints, conversation, transport, TCP flags.
    facts: list[tuple[dict[str, Any], tuple | None, tuple | None, frozenset | None, str | None, int]] = []
    by_flow: dict[Any, list[tuple[dict[str, Any], tuple, int]]] = {}
    for frame in frames:
        transport = frame.get("transport")
        flags = _flags(frame)
        if frame.get("src") and frame.get("dst"):
            src, dst = tuple(frame["src"]), tuple(frame["dst"])
            pair = frozenset((src, dst))
            by_flow.setdefault((pair, transport), []).append((frame, src, flags))
            facts.append((frame, src, dst, pair, transport, flags))
        else:
            facts.append((frame, None, None, None, transport, flags))
    for event in events:
        if event.get("transport") != "tcp" or not event.get("src") or not event.get("dst"):
            continue
        kind = event["kind"]
        if kind == "connect":
            flow = by_flow.get((_pair(event["src"], event["dst"]), "tcp"), ())
            syn = next((f for f, _src, flags in flow if flags & SYN and not flags & 0x10), None)
            if syn is not None:
                event["ts"] = syn["ts"]
        elif kind == "close" and event["component"] == "client":
            flow = by_flow.get((_pair(event["src"], event["dst"]), "tcp"), ())
            closer = tuple(event["src"])
            fin = next((f for f, src, flags in flow if flags & (FIN | RST) and src == closer), None)
            if fin is not None:
                event["ts"] = fin["ts"]
    events.sort(key=lambda e: e["ts"])
    for seq, event in enumerate(events):
        event["seq"] = seq
    _tie_frames(events, facts)
    t0 = events[0]["ts"] if events else (frames[0]["ts"] if frames else 0.0)
    for frame in frames:
        frame["t_ms"] = round((frame["ts"] - t0) * 1000, 3)
    return events


def _tie_frames(events: list[dict[str, Any]], facts: list[tuple[dict[str, Any], tuple | None, tuple | None,
                                                                frozenset | None, str | None, int]]) -> None:
    owners: dict[Any, dict[str, Any]] = {}  # (pair, kind) → the event owning that part of a conversation
    # The events that may own a frame's bytes, by (source, destination), in order, each with the
    # first 32 bytes of what it sent (all :func:`_carries` compares); an event leaves its list
    # once a frame has claimed it, so later frames do not look at it again.
    by_route: dict[tuple, list[tuple[dict[str, Any], bytes]]] = {}
    for event in events:
        src, dst = event.get("src"), event.get("dst")
        if not src or not dst:
            continue
        kind = event["kind"]
        if kind in ("connect", "accept"):
            if event.get("transport") == "tcp":
                pair = _pair(src, dst)
                current = owners.get((pair, "open"))
                if current is None or (kind == "connect" and current["kind"] != "connect"):
                    owners[(pair, "open")] = event  # the opener's CONNECT, else the ACCEPT
        elif kind in ("close", "error") and event.get("transport") in ("tcp", None):
            pair = _pair(src, dst)
            if event["component"] == "client" or (pair, "close") not in owners:
                owners[(pair, "close")] = event  # the browser's close, else the first one reported
        if kind in DATA_KINDS and event.get("data_hex"):
            by_route.setdefault((tuple(src), tuple(dst)), []).append((event, bytes.fromhex(event["data_hex"][:64])))
    previous: dict[Any, dict[str, Any]] = {}
    for frame, src, dst, conversation, transport, flags in facts:
        if conversation is None:
            frame["step"] = None
            continue
        pair = conversation
        owner: dict[str, Any] | None = None
        if flags & SYN:
            owner = owners.get((pair, "open"))
        elif flags & (FIN | RST):
            owner = owners.get((pair, "close"))
        if owner is None and (frame.get("length", 0) > 54 or transport == "udp"):
            candidates = by_route.get((src, dst))
            if candidates:
                payload = _head_of_payload(frame, transport)[1]
                if payload:
                    for index, (event, head) in enumerate(candidates):
                        if _carries(head, payload):
                            owner = event
                            del candidates[index]
                            break
        if owner is None:  # a bare ACK, or bytes no event reported: with its conversation's previous frame
            owner = previous.get((pair, transport))
        frame["step"] = owner["seq"] if owner is not None else None
        if owner is not None:
            owner["frames"].append(frame["no"])
            previous[(pair, transport)] = owner
