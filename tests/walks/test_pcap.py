"""/walk/<id>.pcapng: the walk's frames for the learner who walked it, 404 for anyone else."""
from __future__ import annotations

import json
import struct

import pytest
from django.test import AsyncClient

from .test_services import _finished

pytestmark = pytest.mark.django_db(transaction=True)


def _blocks(data: bytes) -> list[int]:
    types, pos = [], 0
    while pos < len(data):
        block_type, length = struct.unpack_from("<II", data, pos)
        assert length % 4 == 0 and struct.unpack_from("<I", data, pos + length - 4)[0] == length
        types.append(block_type)
        pos += length
    return types


async def test_the_owner_downloads_the_pcapng_and_others_get_404(embedded_lab) -> None:
    owner = AsyncClient()
    response = await owner.post("/walk/", {"url": "https://shop.netlearn.test/", "cache": "cold"})
    walk = await _finished(response["Location"].rstrip("/").split("/")[-1])
    assert walk.params["cache"] == "cold" and walk.frames
    pcap = await owner.get(f"/walk/{walk.id}.pcapng")
    assert pcap.status_code == 200 and pcap["Content-Type"] == "application/x-pcapng"
    assert "attachment" in pcap["Content-Disposition"]
    types = _blocks(pcap.content)
    assert types[:3] == [0x0A0D0D0A, 1, 0x0A]  # section, interface (Ethernet), TLS key log
    assert types.count(6) == len(walk.frames)
    page = (await owner.get(walk.get_absolute_url())).content.decode()
    assert f"/walk/{walk.id}.pcapng" in page
    # The page lists the packets in kernel-timestamp order: the order tshark shows (tests/walks/test_tshark.py).
    import re

    listed = [int(n) for n in re.findall(r'data-frame-no="(\d+)"', page)]
    by_time = [f["no"] for f in sorted(walk.frames, key=lambda f: f["ts_ns"])]
    assert listed == by_time and len(listed) == len(walk.frames)
    stranger = AsyncClient()
    assert (await stranger.get(f"/walk/{walk.id}.pcapng")).status_code == 404
    # docs/capture.md: the JSON carries the frames (without ts, app, unknown, comment) and says
    # *whether* there is a key log, never the secrets themselves.
    text = (await owner.get(f"/walk/{walk.id}.json")).content.decode()
    document = json.loads(text)
    assert document["capture"]["keylog"] is True and "TRAFFIC_SECRET" not in text
    assert {"mode", "reason", "frames", "lost", "kernel_drops", "cut_short", "cache", "keylog"} <= set(
        walk.detail["capture"])  # the summary docs/capture.md describes
    documented = {"no", "ts_ns", "t_ms", "src", "dst", "src_node", "dst_node", "hop", "transport", "flow",
                  "protocol", "length", "info", "hex", "captured", "step"}
    assert len(document["frames"]) == len(walk.frames)
    assert all(documented <= set(f) and not {"ts", "app", "unknown", "comment"} & set(f) for f in document["frames"])
    # README: the page itself is shareable by its unguessable id; the history lists only your own walks.
    assert (await stranger.get(walk.get_absolute_url())).status_code == 200
    assert str(walk.id) in (await owner.get("/walk/")).content.decode()
    assert str(walk.id) not in (await stranger.get("/walk/")).content.decode()
    assert (await owner.get("/walk/00000000-0000-0000-0000-000000000000.pcapng")).status_code == 404


async def test_first_walk_is_cold_and_the_form_offers_the_choice(embedded_lab) -> None:
    client = AsyncClient()
    form = (await client.get("/walk/")).content.decode()
    assert 'name="cache" value="cold" checked' in form
    first = await _finished((await client.post("/walk/", {"url": "http://shop.netlearn.test/"}))["Location"]
                            .rstrip("/").split("/")[-1])
    assert first.params["cache"] == "cold" and first.detail["capture"]["cache"] == "cold"
    assert any(e["kind"] == "referral" for e in first.events)
    second = await _finished((await client.post("/walk/", {"url": "http://shop.netlearn.test/"}))["Location"]
                             .rstrip("/").split("/")[-1])
    assert second.params["cache"] == "warm"  # the shared cache: the cold walk's private one warmed nobody
    third = await _finished((await client.post("/walk/", {"url": "http://shop.netlearn.test/", "cache": "warm"}))[
        "Location"].rstrip("/").split("/")[-1])
    assert any(e["kind"] == "cache" for e in third.events) and not any(e["kind"] == "referral" for e in third.events)
    form = (await client.get("/walk/")).content.decode()
    assert 'name="cache" value="warm" checked' in form


async def test_healthz_and_page_say_when_packets_are_rebuilt(transactional_db, monkeypatch) -> None:
    from netlearn.lab.topology import LabConfig
    from netlearn.walks import bridge

    monkeypatch.setenv("NETLEARN_CAPTURE", "off")
    await bridge.start_embedded_lab(LabConfig.ephemeral())
    try:
        client = AsyncClient()
        health = (await client.get("/healthz")).json()
        assert health["lab"]["capture"]["mode"] == "rebuilt"
        walk = await _finished((await client.post("/walk/", {"url": "http://shop.netlearn.test/"}))["Location"]
                               .rstrip("/").split("/")[-1])
        page = (await client.get(walk.get_absolute_url())).content.decode()
        assert "Packets rebuilt from real values" in page
        assert walk.frames and not any(f["captured"] for f in walk.frames)
        assert (await client.get(f"/walk/{walk.id}.pcapng")).status_code == 200
    finally:
        await bridge.stop_embedded_lab()
