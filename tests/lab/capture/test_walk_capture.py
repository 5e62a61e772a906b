"""The lab's capture on real walks: real frames on lo, per walk, in kernel order; the fallback."""
from __future__ import annotations

import asyncio
import struct
import uuid

import pytest

from netlearn.lab.capture.dissect import dissect
from netlearn.lab.capture.pcapng import pcapng_bytes
from netlearn.lab.capture.session import LabCapture
from netlearn.lab.events import Endpoint, Kind, make_event
from netlearn.lab.runner import Lab
from netlearn.lab.topology import LabConfig


def _tcp(frame: dict) -> tuple[int, int, int]:
    """(flags, raw seq, raw ack) of a stored TCP frame."""
    raw = bytes.fromhex(frame["hex"])
    l4 = 14 + (raw[14] & 0x0F) * 4
    seq, ack = struct.unpack_from("!II", raw, l4 + 4)
    return raw[l4 + 13], seq, ack


def _captured(record) -> None:
    if record.capture["mode"] != "captured":
        pytest.skip(f"no capture here: {record.capture['reason']}")


async def test_handshakes_carry_real_flags_and_sequence_numbers(lab: Lab) -> None:
    record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex, cold=True)
    _captured(record)
    tcp = [f for f in record.frames if f["transport"] == "tcp"]
    syns = [f for f in tcp if _tcp(f)[0] == 0x02]
    assert len(syns) == 2  # browser → L4, L4 → backend
    for syn in syns:
        flow = [f for f in tcp if f["flow"] == syn["flow"]]
        (f1, isn_c, _), (f2, isn_s, ack2), (f3, seq3, ack3) = (_tcp(f) for f in flow[:3])
        assert (f1, f2, f3) == (0x02, 0x12, 0x10)
        assert ack2 == (isn_c + 1) % 2**32 and seq3 == (isn_c + 1) % 2**32 and ack3 == (isn_s + 1) % 2**32
        # Both directions of the conversation end with FIN exchanges, each acknowledged.
        fins = [f for f in flow if _tcp(f)[0] & 0x01]
        assert len(fins) == 2 and {tuple(f["src"]) for f in fins} == {tuple(syn["src"]), tuple(syn["dst"])}
    assert not record.capture["cut_short"] and record.capture["lost"] == 0


async def test_the_packet_list_says_what_the_full_dissection_says(lab: Lab) -> None:
    """The stored frames come from a brief dissection (no field trees): their protocol and Info
    column are the full dissection's, frame by frame, on a cold walk (DNS referrals, HTTP)."""
    from netlearn.lab.capture.dissect import Conversation

    record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex, cold=True)
    _captured(record)
    conversations: dict = {}
    for frame in record.frames:
        conversation = conversations.setdefault(frame["flow"], Conversation()) if frame["transport"] == "tcp" else None
        full = dissect(bytes.fromhex(frame["hex"]), app=frame["app"], conversation=conversation)
        assert (frame["protocol"], frame["info"]) == (full.protocol, full.info), frame["no"]
    assert {"DNS", "HTTP", "TCP"} <= {frame["protocol"] for frame in record.frames}


async def test_each_dns_message_of_a_walk_is_parsed_once(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server checking a query, the resolver matching, describing and learning from an answer,
    the stub reading it and the dissector all read the same bytes: dnslib parses them once."""
    from dnslib import DNSRecord

    from netlearn.lab import dnsparse

    parses: list[bytes] = []
    real = DNSRecord.parse

    def counted(wire: bytes) -> DNSRecord:
        parses.append(bytes(wire))
        return real(wire)

    dnsparse.parsed.cache_clear()
    monkeypatch.setattr(dnsparse.DNSRecord, "parse", staticmethod(counted))
    record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex, cold=True)
    _captured(record)
    dns = [f for f in record.frames if f["protocol"] == "DNS"]
    assert len(dns) == 8  # stub → resolver, resolver ↔ root, TLD, authoritative, resolver → stub
    assert len(parses) == len(set(parses)) == 8


async def test_walk_order_follows_the_kernel_clock(lab: Lab) -> None:
    """The story reads in wire order: the browser's SYN before the balancer accepts, the balancer's
    SYN before the backend accepts (reported in the opposite order by the lab's own code)."""
    record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex, cold=True)
    _captured(record)
    events = record.event_dicts()
    first = {}
    for event in events:
        first.setdefault((event["component"], event["kind"]), event)
    backend = next(e["component"] for e in events if e["component"].startswith("backend-"))
    client_connect, l4_connect = first[("client", "connect")], first[("l4", "connect")]
    assert (client_connect["seq"] < first[("l4", "accept")]["seq"] < l4_connect["seq"]
            < first[(backend, "accept")]["seq"])
    frames = {f["no"]: f for f in record.frames}
    for connect in (client_connect, l4_connect):
        syn = frames[connect["frames"][0]]
        assert _tcp(syn)[0] == 0x02 and connect["ts"] == syn["ts"] and connect["ts_emitted"] > syn["ts"]
    # Frames are stored in kernel-timestamp order and every one of them belongs to a step.
    assert [f["ts_ns"] for f in record.frames] == sorted(f["ts_ns"] for f in record.frames)
    assert all(f["step"] is not None for f in record.frames)


async def test_cold_walk_sees_the_referrals_a_warm_walk_skips(lab: Lab) -> None:
    await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex)  # warms the shared cache
    warm = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex)
    cold = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex, cold=True)
    def asked(r):
        return [e.detail.get("server_role") for e in r.events
                if e.component == "resolver" and e.kind == Kind.QUERY and e.detail.get("server_role") != "resolver"]
    assert asked(warm) == [] and any(e.kind == Kind.CACHE for e in warm.events)
    assert asked(cold)[:3] == ["root", "tld", "authoritative"]
    assert cold.capture["cache"] == "cold" and warm.capture["cache"] == "warm"
    dns_frames = [f for f in cold.frames if f["protocol"] == "DNS"]
    assert len(dns_frames) >= 8  # stub → resolver, three referral round trips, resolver → stub
    # The cold walk's private cache warmed nobody: the shared cache still answers the next walk.
    again = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex)
    assert asked(again) == []


async def test_concurrent_walks_keep_their_own_frames(lab: Lab) -> None:
    one, two = await asyncio.gather(
        lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex, cold=True),
        lab.walk("http://www.netlearn.test/api/hello", correlation_id=uuid.uuid4().hex, cold=True))
    _captured(one)
    client = lab.config.client_host
    def ends(r):
        return {tuple(e) for f in r.frames for e in (f["src"], f["dst"]) if e[0] == client}
    assert ends(one) and ends(two) and not ends(one) & ends(two)
    assert not {f["hex"] for f in one.frames} & {f["hex"] for f in two.frames}


async def test_a_full_buffer_counts_the_frames_it_lost(lab: Lab) -> None:
    if lab.capture.sniffer is None:
        pytest.skip(lab.capture.reason)
    lab.capture.sniffer.max_frames = 6
    record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex, cold=True)
    assert len(record.frames) == 6 and record.capture["lost"] > 0
    assert record.outcome.status == "done"


async def test_settle_reports_a_walk_cut_short_when_a_close_never_comes() -> None:
    capture = LabCapture("off")
    accept = make_event(component="backend-1", layer=4, kind=Kind.ACCEPT, summary="accepted", transport="tcp",
                        src=Endpoint("127.0.2.1", 40000), dst=Endpoint("127.0.3.1", 18001), correlation_id="w")
    from netlearn.lab.stream import EventStream

    assert await capture.settle(EventStream(), "w", [accept], None, deadline=0.05) is True
    close = make_event(component="backend-1", layer=4, kind=Kind.CLOSE, summary="closed", transport="tcp",
                       src=Endpoint("127.0.3.1", 18001), dst=Endpoint("127.0.2.1", 40000), correlation_id="w")
    assert await capture.settle(EventStream(), "w", [accept, close], None, deadline=5) is False


async def test_without_capture_frames_are_rebuilt_and_say_so() -> None:
    lab = Lab(LabConfig.ephemeral(), capture="off")
    await lab.start()
    try:
        record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex, cold=True)
        assert lab.describe()["capture"]["mode"] == "rebuilt"
    finally:
        await lab.stop()
    assert record.outcome.status == "done"
    assert record.capture["mode"] == "rebuilt" and "NETLEARN_CAPTURE=off" in record.capture["reason"]
    assert record.frames and not any(f["captured"] for f in record.frames)
    tcp = [f for f in record.frames if f["transport"] == "tcp"]
    # A rebuilt SYN is a SYN (never PSH-ACK), the handshake is consistent, and what user space
    # cannot see is marked unknown instead of passed off as real.
    assert [_tcp(f)[0] for f in tcp[:3]] == [0x02, 0x12, 0x10]
    assert "[SYN]" in tcp[0]["info"] and any(_tcp(f)[0] & 0x01 for f in tcp)
    layers = dissect(bytes.fromhex(tcp[0]["hex"]), unknown=frozenset(tcp[0]["unknown"])).layers
    seq = next(n for n in layers[-1].fields if n.name == "Sequence Number")
    assert seq.unknown and "kernel" in seq.value
    assert b"rebuilt from real values" in pcapng_bytes(record.frames)
