"""The topology diagram: one fixed drawing of the lab, with parts lit per lesson step or walk event.

The node and link ids are the contract of docs/content-format.md (``client``, ``l4-backend-2``,
...). Geometry lives here, not in content, so every lesson, the admin preview and the walk page
draw the same picture and a step only says *what is lit*. Links are SVG ``<path>`` elements
(``id="link-<id>"``) drawn from the client side to the server side, so an animation can move a
packet along one with ``getPointAtLength``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.utils.translation import gettext_lazy as _

VIEWBOX = (0, 0, 980, 590)
NODE_W, NODE_H = 124, 42


@dataclass(frozen=True)
class Node:
    id: str
    x: int  # centre
    y: int
    label: object  # lazy translation
    kind: str  # client | dns | balancer | backend | registry | ha
    number: int = 0  # fills "%(n)s" in the label, after translation


@dataclass(frozen=True)
class Link:
    id: str
    d: str  # SVG path data, client side first


_BACKEND_Y = {1: 200, 2: 280, 3: 360, 4: 440}

NODES: tuple[Node, ...] = (
    Node("browser", 90, 175, _("Browser"), "client"),
    Node("client", 90, 290, _("Client OS"), "client"),
    Node("resolver", 330, 110, _("Resolver"), "dns"),
    Node("registry", 330, 205, _("Registry"), "registry"),
    Node("root", 560, 45, _("Root (.)"), "dns"),
    Node("tld", 720, 45, _("TLD (.test)"), "dns"),
    Node("authoritative", 880, 45, _("Authoritative"), "dns"),
    Node("l4", 420, 305, _("L4 LB · VIP"), "balancer"),
    Node("l7", 420, 400, _("L7 LB"), "balancer"),
    *(Node(f"backend-{i}", 770, y, _("Backend %(n)s"), "backend", i) for i, y in _BACKEND_Y.items()),
    Node("ha-active", 560, 530, _("HA active"), "ha"),
    Node("ha-standby", 800, 530, _("HA standby"), "ha"),
)

_C = (90, 290)  # client centre: most links start here
_LINKS: list[Link] = [
    Link("client-resolver", "M90,290 C200,290 220,110 330,110"),
    Link("resolver-root", "M330,110 C420,110 470,45 560,45"),
    Link("resolver-tld", "M330,110 C500,125 700,115 720,45"),
    Link("resolver-authoritative", "M330,110 C520,160 860,150 880,45"),
    Link("client-l4", "M90,290 C240,290 280,305 420,305"),
    Link("client-l7", "M90,290 C250,290 260,400 420,400"),
    Link("client-registry", "M90,290 C200,290 220,205 330,205"),
]
for _i, _y in _BACKEND_Y.items():
    _LINKS.append(Link(f"l4-backend-{_i}", f"M420,305 C600,305 600,{_y} 770,{_y}"))
for _i, _y in _BACKEND_Y.items():
    _LINKS.append(Link(f"l7-backend-{_i}", f"M420,400 C600,400 600,{_y} 770,{_y}"))
for _i, _y in _BACKEND_Y.items():
    _LINKS.append(Link(f"client-backend-{_i}", f"M90,290 C330,245 600,245 770,{_y}"))
_LINKS += [
    Link("client-ha-active", "M90,290 C150,480 400,530 560,530"),
    Link("client-ha-standby", "M90,290 C120,600 700,600 800,530"),
    Link("ha-active-ha-standby", "M560,530 L800,530"),
]
LINKS: tuple[Link, ...] = tuple(_LINKS)

NODE_IDS: frozenset[str] = frozenset(n.id for n in NODES)
LINK_IDS: frozenset[str] = frozenset(link.id for link in LINKS)


def diagram_problems(value: object, path: str) -> list[str]:
    """Validate ``{"nodes": [...], "links": [...]}`` against the fixed ids."""
    if not isinstance(value, dict):
        return [f"{path}: expected an object with 'nodes' and 'links'"]
    problems = []
    unknown_keys = set(value) - {"nodes", "links"}
    if unknown_keys:
        problems.append(f"{path}: unknown key(s) {sorted(unknown_keys)}")
    for key, known in (("nodes", NODE_IDS), ("links", LINK_IDS)):
        items = value.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            problems.append(f"{path}.{key}: expected a list of ids")
            continue
        for i, item in enumerate(items):
            if item not in known:
                problems.append(f"{path}.{key}[{i}]: unknown {key[:-1]} id {item!r}")
    return problems


@dataclass(frozen=True)
class DrawnNode:
    id: str
    x: int  # top-left corner of the box
    y: int
    cx: int  # centre, where the label sits
    cy: int
    label: str
    kind: str
    lit: bool


@dataclass(frozen=True)
class DrawnLink:
    id: str
    d: str
    lit: bool


@lru_cache(maxsize=512)
def drawing(lit_nodes: frozenset[str], lit_links: frozenset[str],
            lang: str) -> tuple[tuple[DrawnNode, ...], tuple[DrawnLink, ...]]:
    """Everything the template needs; ``lang`` is part of the key because labels are translated."""
    nodes = tuple(
        DrawnNode(n.id, n.x - NODE_W // 2, n.y - NODE_H // 2, n.x, n.y + 5,
                  str(n.label) % {"n": n.number} if n.number else str(n.label), n.kind, n.id in lit_nodes)
        for n in NODES
    )
    links = tuple(DrawnLink(link.id, link.d, link.id in lit_links) for link in LINKS)
    return nodes, links
