"""The packet view of a walk, modelled on Wireshark: a packet list with a display filter, the
selected packet's detail tree, its bytes, and a flow graph of the walk's hosts.

Pure functions over the stored frames (docs/capture.md). The display filter understands the
handful of expressions a learner needs, in Wireshark's own words (``dns``, ``tcp.flags.syn``,
``http``, ``tls``, ``quic``, ``udp``, ``tcp``, ``tcp.flags.fin``, ``tcp.flags.reset``, joined by
``||``/``or`` and ``&&``/``and``), and a hop selector picks one stretch of the path.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_

from . import packetview

Frame = dict[str, Any]

#: The hops a learner can pick, by the kinds of node at either end.
BALANCERS = {"l4", "l7", "tls-front", "quic-l4", "quic-l7"}
DNS_SERVERS = {"root", "tld", "authoritative"}
HOPS: dict[str, tuple[str, Callable[[str, str], bool]]] = {
    "client-balancer": (N_("browser ↔ balancer"), lambda a, b: "client" in {a, b} and bool({a, b} & BALANCERS)),
    "balancer-backend": (N_("balancer ↔ backend"), lambda a, b: bool({a, b} & BALANCERS) and (
        a.startswith("backend-") or b.startswith("backend-"))),
    "client-resolver": (N_("browser ↔ resolver"), lambda a, b: {a, b} == {"client", "resolver"}),
    "resolver-dns": (N_("resolver ↔ DNS servers"), lambda a, b: "resolver" in {a, b} and bool({a, b} & DNS_SERVERS)),
}

#: Examples offered under the filter box (each is a valid filter).
FILTER_EXAMPLES = ("dns", "tcp.flags.syn", "http", "tls", "quic", "tcp.flags.fin")


class FilterError(ValueError):
    """A display filter this page does not understand; the message names the bad word."""


def tcp_flags(frame: Frame) -> int:
    """The TCP flags byte read from the frame itself (Ethernet 14 B, then IPv4 with its IHL)."""
    data = packetview.frame_bytes(frame)
    if frame.get("transport") != "tcp" or len(data) < 34:
        return 0
    ihl = (data[14] & 0x0F) * 4
    offset = 14 + ihl + 13
    return data[offset] if offset < len(data) else 0


def protocols(frame: Frame) -> set[str]:
    """The filter words a frame answers to."""
    names = {"eth", "ip", str(frame.get("transport", "")).lower(), str(frame.get("protocol", "")).lower()}
    if "tls" in names and frame.get("transport") == "tcp":
        names.add("ssl")
    if frame.get("protocol") == "HTTP" or "HTTP/2" in str(frame.get("info", "")):
        names.add("http")
    return names - {""}


FLAG_BITS = {"tcp.flags.fin": 0x01, "tcp.flags.syn": 0x02, "tcp.flags.reset": 0x04, "tcp.flags.push": 0x08,
             "tcp.flags.ack": 0x10}
WORDS = {"eth", "ip", "tcp", "udp", "dns", "http", "tls", "ssl", "quic"}


def _term(word: str) -> Callable[[Frame], bool]:
    word = word.strip().lower().replace("==1", "").replace("== 1", "").strip()
    if word in FLAG_BITS:
        bit = FLAG_BITS[word]
        return lambda f: bool(tcp_flags(f) & bit)
    if word in WORDS:
        return lambda f: word in protocols(f)
    raise FilterError(word)


def compile_filter(text: str) -> Callable[[Frame], bool]:
    """``a || b && c`` (``&&`` binds tighter, as in Wireshark). Empty: every frame."""
    text = (text or "").strip()
    if not text:
        return lambda f: True
    normalised = text.replace(" or ", " || ").replace(" and ", " && ")
    alternatives = []
    for part in normalised.split("||"):
        terms = [_term(t) for t in part.split("&&")]
        if not terms or any(not t for t in part.split("&&")):
            raise FilterError(part)
        alternatives.append(terms)
    return lambda f: any(all(t(f) for t in terms) for terms in alternatives)


def hop_matches(hop: str, frame: Frame) -> bool:
    if hop not in HOPS:
        return True
    return bool(HOPS[hop][1](str(frame.get("src_node") or ""), str(frame.get("dst_node") or "")))


@dataclass
class PacketView:
    rows: list[Frame]
    total: int
    selected: Frame | None
    tree: list[dict[str, Any]]
    hexrows: list[dict[str, Any]]
    filter_text: str
    filter_error: str
    hop: str
    hops: list[tuple[str, str]]
    examples: tuple[str, ...]


def packet_view(frames: list[Frame], *, filter_text: str = "", hop: str = "", selected_no: int | None = None
                ) -> PacketView:
    error = ""
    try:
        keep = compile_filter(filter_text)
    except FilterError as exc:
        error = _("“%(word)s” is not a filter this page knows. Try one of: %(examples)s.") % {
            "word": str(exc), "examples": ", ".join(FILTER_EXAMPLES)}
        def keep(f: dict[str, Any]) -> bool:
            return True
    rows = [{**f, "time": f"{f.get('t_ms', 0.0):.3f}", "flags": tcp_flags(f)} for f in frames
            if keep(f) and hop_matches(hop, f)]
    chosen = next((f for f in frames if f.get("no") == selected_no), None) or (rows[0] if rows else None)
    tree: list[dict[str, Any]] = []
    hexrows: list[dict[str, Any]] = []
    if chosen is not None:
        flow = [f for f in frames if f.get("flow") == chosen.get("flow") and f.get("no", 0) <= chosen.get("no", 0)]
        tree = packetview.frame_trees(flow)[-1] if chosen.get("transport") == "tcp" else packetview.frame_tree(chosen)
        hexrows = [{"offset": r["offset"], "cells": [(h, i, r["ascii"][k]) for k, (h, i) in enumerate(r["cells"])]}
                   for r in packetview.hexdump(chosen)]
    return PacketView(rows=rows, total=len(frames), selected=chosen, tree=tree, hexrows=hexrows,
                      filter_text=filter_text, filter_error=error, hop=hop if hop in HOPS else "",
                      hops=[(key, _(label)) for key, (label, _test) in HOPS.items()], examples=FILTER_EXAMPLES)


# --- Flow graph -----------------------------------------------------------------------------------

HOST_ORDER = ("client", "resolver", "root", "tld", "authoritative", "tls-front", "quic-l4", "quic-l7", "l4", "l7")
COLUMN_W, ROW_H, LEFT, TOP = 118, 22, 64, 46
#: Width of one character of the graph's 10 px monospace font, with a little room to spare.
CHAR_W = 6.2
#: Longest comment (Wireshark's right-hand "Comment" column: the packet's whole Info).
COMMENT_CHARS = 96
_PORTS = re.compile(r"^\d+ → \d+ ")
_DNS_ID = re.compile(r"^Standard query (response )?0x[0-9a-f]{4} ")


def _host_name_px(name: str) -> float:
    """A host name's width in the graph's 12 px bold heading font (Hangul is about twice as wide
    as Latin): columns widen to fit the longest name, so names never run into each other."""
    return sum(12.5 if ord(c) >= 0x1100 else 7.6 for c in name)


def arrow_label(info: str, room_px: float) -> str:
    """What fits above an arrow: the Info without what the columns already say (the ports, the
    DNS id), cut with an ellipsis to the arrow's length. Why: a label longer than its arrow runs
    over the next host's lifeline and the next label; the whole Info stays in the comment column."""
    text = _DNS_ID.sub(lambda m: "Response " if m.group(1) else "Query ", _PORTS.sub("", info.strip()))
    room = max(int(room_px // CHAR_W), 4)
    return text if len(text) <= room else text[:room - 1].rstrip() + "…"


def flow_graph(frames: list[Frame], role_name: Callable[[str], str]) -> dict[str, Any]:
    """Wireshark's flow graph: one column per host, one arrow per frame, top to bottom in time,
    a short label on each arrow and the packet's whole Info in a comment column on the right."""
    nodes = {str(f.get("src_node") or "") for f in frames} | {str(f.get("dst_node") or "") for f in frames}
    nodes.discard("")
    ordered = [n for n in HOST_ORDER if n in nodes] + sorted(n for n in nodes if n not in HOST_ORDER)
    names = {n: role_name(n) for n in ordered}
    column = max([COLUMN_W, *(int(_host_name_px(name)) + 16 for name in names.values())])
    x = {n: LEFT + column // 2 + i * column for i, n in enumerate(ordered)}
    comment_x = LEFT + column * max(len(ordered), 1) + 8
    arrows: list[dict[str, Any]] = []
    for f in frames:
        a, b = str(f.get("src_node") or ""), str(f.get("dst_node") or "")
        if a not in x or b not in x:
            continue
        y = TOP + 14 + len(arrows) * ROW_H
        x1, x2 = x[a], x[b]
        info = str(f.get("info", ""))
        comment = info if len(info) <= COMMENT_CHARS else info[:COMMENT_CHARS - 1] + "…"
        arrows.append({"no": f.get("no"), "y": y, "x1": x1, "x2": x2, "mid": (x1 + x2) / 2,
                       "dir": 1 if x2 >= x1 else -1, "label": arrow_label(info, abs(x2 - x1) - 12),
                       "comment": comment, "time": f"{f.get('t_ms', 0.0):.2f}",
                       "proto": str(f.get("protocol", "")).lower()})
    height = TOP + 24 + len(arrows) * ROW_H
    widest = max((len(a["comment"]) for a in arrows), default=0)
    hosts = [{"id": n, "name": names[n], "x": x[n]} for n in ordered]
    return {"hosts": hosts, "arrows": arrows, "comment_x": comment_x,
            "width": int(comment_x + widest * CHAR_W + 12), "height": height, "line_end": height - 6}
