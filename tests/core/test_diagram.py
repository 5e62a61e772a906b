"""The topology drawing: the ids of docs/content-format.md, paths for links, lit parts."""
from __future__ import annotations

import re
from pathlib import Path

from django.template.loader import render_to_string

from netlearn.core.diagram import LINK_IDS, NODE_IDS, diagram_problems

DOC = Path(__file__).resolve().parents[2] / "docs" / "content-format.md"


def test_every_documented_node_id_is_drawn() -> None:
    doc = DOC.read_text(encoding="utf-8")
    section = doc.split("Node ids:")[1].split("Link ids")[0]
    documented = set(re.findall(r"`([a-z0-9-]+)`", section))
    assert documented == NODE_IDS


def test_link_ids_join_two_node_ids() -> None:
    for link in LINK_IDS:
        assert any(link.startswith(a + "-") and link[len(a) + 1:] in NODE_IDS for a in NODE_IDS), link
    assert {"client-resolver", "l4-backend-4", "l7-backend-1", "client-backend-3", "ha-active-ha-standby"} <= LINK_IDS


def test_include_draws_ids_and_lit_classes() -> None:
    html = render_to_string("core/_topology.html", {"lit_nodes": ["client", "l4"], "lit_links": "client-l4"})
    assert 'id="node-client" class="topo-node kind-client lit"' in html
    assert 'id="node-resolver" class="topo-node kind-dns"' in html
    assert re.search(r'<path id="link-client-l4" class="topo-link lit" d="M', html)
    assert html.count("<path ") == len(LINK_IDS)


def test_unknown_ids_are_reported_with_their_path() -> None:
    problems = diagram_problems({"nodes": ["client", "mainframe"], "links": ["client-moon"]}, "x.diagram")
    assert problems == ["x.diagram.nodes[1]: unknown node id 'mainframe'",
                        "x.diagram.links[0]: unknown link id 'client-moon'"]
