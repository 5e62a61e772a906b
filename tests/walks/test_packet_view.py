"""The packet view of a real walk: Wireshark's list with display filters and hops, the detail
tree with byte ranges, the bytes pane, the flow graph and the phase waterfall."""
from __future__ import annotations

import re

import pytest
from django.test import AsyncClient

from netlearn.walks import wireshark
from netlearn.walks.services import walk_start

from .test_services import _finished

pytestmark = pytest.mark.django_db(transaction=True)


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr class="pkt-row[^"]*" data-no="(\d+)"', html)


async def test_filters_hops_tree_bytes_flow_and_waterfall(embedded_lab):
    walk = await _finished((await walk_start(url="http://shop.netlearn.test/", session_key="pv")).id)
    assert walk.frames, "the walk stored no frames"
    client = AsyncClient()
    page = (await client.get(walk.get_absolute_url())).content.decode()
    for column in ("No.", "Time", "Source", "Destination", "Protocol", "Length", "Info"):
        assert f'<th scope="col">{column}</th>' in page
    assert len(_rows(page)) == len(walk.frames)
    assert 'class="flow-svg"' in page and page.count('class="flow-arrow') >= len(walk.frames) - 2
    for phase in ("tl-dns", "tl-connect", "tl-wait", "tl-transfer"):
        assert f"tl-bar {phase}" in page, phase
    assert "tl-tick" in page

    async def view(**query) -> str:
        response = await client.get(f"/walk/{walk.id}/packets/", query, headers={"HX-Request": "true"})
        assert response.status_code == 200
        return response.content.decode()

    by_no = {f["no"]: f for f in walk.frames}
    dns = _rows(await view(filter="dns"))
    assert dns and all(by_no[int(n)]["protocol"] == "DNS" for n in dns)
    syn = _rows(await view(filter="tcp.flags.syn"))
    assert syn and all(wireshark.tcp_flags(by_no[int(n)]) & 0x02 for n in syn)
    assert len(syn) == 2 * len({by_no[int(n)]["flow"] for n in syn})  # a SYN and a SYN-ACK per connection
    http = _rows(await view(filter="http"))
    assert http and all(by_no[int(n)]["protocol"] == "HTTP" for n in http)
    either = _rows(await view(filter="dns || tcp.flags.syn"))
    assert sorted(either, key=int) == sorted(dns + syn, key=int)
    hop = _rows(await view(hop="balancer-backend"))
    assert hop and all(str(by_no[int(n)]["src_node"]).startswith("backend-")
                       or str(by_no[int(n)]["dst_node"]).startswith("backend-") for n in hop)
    front = _rows(await view(hop="client-balancer"))
    assert front and not set(front) & set(hop)
    bad = await view(filter="tcp.window_size < 3")
    assert 'role="alert"' in bad and len(_rows(bad)) == len(walk.frames)
    # A chosen packet: the tree's fields carry byte ranges into the bytes pane.
    first_syn = int(syn[0])
    chosen = await view(no=first_syn)
    assert re.search(rf'data-no="{first_syn}"[^>]*aria-selected="true"', chosen)
    assert "Transmission Control Protocol" in chosen and 'data-start="34"' in chosen
    assert len(re.findall(r'<span data-i="\d+">[0-9a-f]{2}</span>', chosen)) == by_no[first_syn]["length"]
    # Without htmx the same address sends the learner to the full page at the packet view.
    plain = await client.get(f"/walk/{walk.id}/packets/", {"filter": "dns"})
    assert plain.status_code == 302 and plain["Location"].endswith("?filter=dns#packets")
