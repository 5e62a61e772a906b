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
from html import escape
from typing import Any
from urllib.parse import quote

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_noop as N_

from . import packetview
from .fragments import gettext as _
from .fragments import number, text

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

    @property
    def hex_html(self) -> SafeString:
        """The bytes pane's rows, built here rather than in the template: two spans per byte made
        its nested loops the dearest part of a walk's final render (bench/classroom)."""
        return hex_pane_html(self.hexrows)

    @property
    def tree_html(self) -> SafeString:
        return tree_html(self.tree)


def packet_rows_html(view: PacketView, packets_url: str) -> SafeString:
    """The packet list's rows (each a link to that packet, plain and for htmx), built here rather
    than in the template: a walk has dozens of rows, each a dozen template variables."""
    query_tail = f"&amp;filter={escape(quote(view.filter_text, safe='/'))}&amp;hop={escape(view.hop)}"
    selected = view.selected.get("no") if view.selected else None
    rebuilt = f' <span class="badge">{escape(_("rebuilt"))}</span>'
    label = _("Packet %(no)s")
    url = escape(packets_url)
    out = []
    for f in view.rows:
        no = escape(str(f.get("no")))
        chosen = selected is not None and f.get("no") == selected
        step = f.get("step")
        step_attr = f' data-step="{escape(str(step))}"' if step is not None else ""
        selected_attrs = (" is-selected", ' aria-selected="true"') if chosen else ("", "")
        aria = label % {"no": no}
        src, dst, time_ = _first(f.get("src")), _first(f.get("dst")), escape(str(f.get("time", "")))
        protocol, length = escape(str(f.get("protocol", ""))), escape(str(f.get("length", "")))
        info = escape(str(f.get("info", ""))) + ("" if f.get("captured") else rebuilt)
        out.append(
            f'\n        <tr class="pkt-row proto-{escape(str(f.get("protocol", "")).lower())}'
            f'{selected_attrs[0]}" data-no="{no}" data-frame-no="{no}"{step_attr}{selected_attrs[1]}>\n'
            f'          <td><a href="?no={no}{query_tail}#packets"\n'
            f'                 hx-get="{url}?no={no}{query_tail}"\n'
            f'                 hx-target="#packet-view" hx-swap="innerHTML" aria-label="{aria}">{no}</a></td>\n'
            f'          <td class="num">{time_}</td><td translate="no">{src}</td><td translate="no">{dst}</td>\n'
            f'          <td>{protocol}</td><td class="num">{length}</td>'
            f'<td class="pkt-info" translate="no">{info}</td>\n'
            f'        </tr>\n      ')
    return mark_safe("".join(out))


def tree_html(tree: list[dict[str, Any]]) -> SafeString:
    """The selected packet's detail tree (one ``details`` per layer, the last and all but the first
    two open), built here rather than by the template including itself for every field; byte for
    byte what ``_packets.html`` and ``_packet_fields.html`` printed, every value escaped."""
    out = []
    for n, node in enumerate(tree, start=1):
        summary = node.get("summary")
        summary_html = f', <span translate="no">{text(summary)}</span>' if summary else ""
        out.append(
            f'\n      <li><details {"open" if n == len(tree) or n > 2 else ""}>\n'
            f'        <summary><span class="pkt-field" '
            f'data-start="{number(node.get("start", ""))}" data-end="{number(node.get("end", ""))}" tabindex="0">'
            f'<strong>{text(node.get("protocol", ""))}</strong>'
            f'{summary_html}</span></summary>\n        '
            f'{fields_html(node.get("fields"))}\n      </details></li>\n      ')
    return mark_safe("".join(out))


def fields_html(fields: list[dict[str, Any]] | None) -> str:
    """``_packet_fields.html``: a layer's fields, nested, with their byte ranges."""
    if not fields:
        return "\n"
    unknown = f' <span class="badge">{text(_("unknown"))}</span>'
    out = ["<ul>"]
    for f in fields:
        is_unknown = f.get("unknown")
        children = f.get("children")
        out.append(f'<li><span class="pkt-field{" is-unknown" if is_unknown else ""}" '
                   f'data-start="{number(f.get("start", ""))}" data-end="{number(f.get("end", ""))}" tabindex="0">'
                   f'{text(f.get("name", ""))}: <span translate="no">{text(f.get("value", ""))}</span>'
                   f'{unknown if is_unknown else ""}</span>'
                   f'{fields_html(children) if children else ""}</li>')
    out.append("</ul>\n")
    return "".join(out)


def _first(address: Any) -> str:
    """``{{ f.src.0 }}``: the host of a [host, port] pair, escaped; "" when there is none."""
    return escape(str(address[0])) if isinstance(address, (list, tuple)) and address else ""


def hex_pane_html(hexrows: list[dict[str, Any]]) -> SafeString:
    """One ``div.pkt-hexrow`` per row: offset, the hex cells, the printable text (each byte's
    ``data-i`` ties its two cells together); every value escaped."""
    out = []
    for row in hexrows:
        cells = row["cells"]
        hexes = "".join(f'<span data-i="{i}">{escape(cell)}</span>' for cell, i, _ch in cells)
        chars = "".join(f'<span data-i="{i}">{escape(ch)}</span>' for _cell, i, ch in cells)
        out.append(f'<div class="pkt-hexrow"><span class="pkt-off">{escape(row["offset"])}</span>'
                   f'<span class="pkt-hex">{hexes}</span><span class="pkt-ascii">{chars}</span></div>')
    return mark_safe("".join(out))


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


def flow_arrows_html(arrows: list[dict[str, Any]], comment_x: float) -> SafeString:
    """The flow graph's arrows as SVG, one ``g`` per frame: built here rather than in the template
    (a walk has dozens, and a variable through the template engine costs more than the arrow)."""
    out = []
    for a in arrows:
        y, x2 = a["y"], a["x2"]
        out.append(
            f'<g class="flow-arrow proto-{escape(str(a["proto"]))}" data-no="{escape(str(a["no"]))}">\n'
            f'      <text class="flow-time" x="4" y="{y}">{escape(a["time"])}</text>\n'
            f'      <line x1="{a["x1"]}" y1="{y}" x2="{x2}" y2="{y}"/>\n'
            f'      <path d="M{x2} {y} l{"-7" if a["dir"] > 0 else "7"} -4 v8 z"/>\n'
            f'      <text class="flow-label" x="{a["mid"]}" y="{y - 4}" text-anchor="middle">'
            f'{escape(a["label"])}</text>\n'
            f'      <text class="flow-comment" x="{comment_x}" y="{y + 3}">{escape(a["comment"])}</text></g>')
    return mark_safe("".join(out))


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
            "arrows_html": flow_arrows_html(arrows, comment_x),
            "width": int(comment_x + widest * CHAR_W + 12), "height": height, "line_end": height - 6}
