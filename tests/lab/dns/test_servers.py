"""The DNS lab over real sockets on loopback: ephemeral ports on the lab's own addresses."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct
from collections.abc import AsyncIterator

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from netlearn.lab.dns import DnsLab, DnsServer, ResolverServer, Upstream, start_dns
from netlearn.lab.dns.authority import Authority
from netlearn.lab.dns.zone import root_zone
from netlearn.lab.events import Endpoint, Kind
from netlearn.lab.stream import EventStream, Recorder
from netlearn.lab.topology import LabConfig

from .helpers import CLIENT_HOST, FakeClock, ScriptedRandom, question, raw_query, tcp_ask, udp_ask

UPSTREAM_ROLES = ("root", "tld", "authoritative")


@pytest.fixture
def stream() -> EventStream:
    return EventStream()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def lab(stream: EventStream, clock: FakeClock) -> AsyncIterator[DnsLab]:
    dns = await start_dns(LabConfig.ephemeral(), stream, clock=clock, upstream_timeout=0.3)
    yield dns
    await dns.stop()


async def test_iterative_walk_is_correlated_and_in_order(lab: DnsLab, stream: EventStream) -> None:
    with Recorder(stream, correlation_id="walk-1") as rec:
        reply = await udp_ask(
            lab.resolver.address, question("shop.netlearn.test"), stream=stream, cid="walk-1"
        )
    assert reply is not None
    record = DNSRecord.parse(reply)
    assert [str(rr.rdata) for rr in record.rr] == ["127.0.2.1"] and record.header.ra == 1
    server_side = [(e.component, e.kind) for e in rec.events if e.component in UPSTREAM_ROLES]
    assert server_side == [
        ("root", Kind.QUERY),
        ("root", Kind.REFERRAL),
        ("tld", Kind.QUERY),
        ("tld", Kind.REFERRAL),
        ("authoritative", Kind.QUERY),
        ("authoritative", Kind.ANSWER),
    ]
    resolver_side = [(e.kind, e.detail.get("server_role")) for e in rec.of_kind(Kind.QUERY, "resolver")]
    assert resolver_side == [
        (Kind.QUERY, "resolver"),
        (Kind.QUERY, "root"),
        (Kind.QUERY, "tld"),
        (Kind.QUERY, "authoritative"),
    ]
    assert rec.events[-1].component == "resolver" and rec.events[-1].kind == Kind.ANSWER
    assert all(e.correlation_id == "walk-1" for e in rec.events)
    root_query = rec.of_kind(Kind.QUERY, "root")[0]
    assert root_query.transport == "udp" and root_query.src.host == lab.resolver.address.host
    assert DNSRecord.parse(root_query.data).q.qname == "shop.netlearn.test."
    assert root_query.detail["qtype"] == "A" and root_query.detail["rd"] is False
    referral = rec.of_kind(Kind.REFERRAL, "tld")[0]
    assert referral.detail["additional"] == ["ns1.netlearn.test. 86400 IN A 127.0.1.3"]
    assert all(e.detail["elapsed_ms"] >= 0 for e in rec.events if e.kind in (Kind.ANSWER, Kind.REFERRAL))
    assert lab.describe()["root"]["counters"]["queries"] == 1


async def test_second_query_comes_from_cache(lab: DnsLab, stream: EventStream) -> None:
    with Recorder(stream, correlation_id="first") as first:
        await udp_ask(lab.resolver.address, question("www.netlearn.test"), stream=stream, cid="first")
    with Recorder(stream, correlation_id="second") as second:
        reply = await udp_ask(
            lab.resolver.address, question("www.netlearn.test"), stream=stream, cid="second"
        )
    assert [str(rr.rdata) for rr in DNSRecord.parse(reply).rr] == ["127.0.2.2"]
    assert len(second.events) < len(first.events)
    assert not [e for e in second.events if e.component in UPSTREAM_ROLES]
    assert [e.detail["server_role"] for e in second.of_kind(Kind.QUERY)] == ["resolver"]
    cache_event = second.of_kind(Kind.CACHE)[0]
    assert cache_event.detail["qname"] == "www.netlearn.test." and cache_event.detail["remaining_ttl"] == 300
    assert second.of_kind(Kind.ANSWER)[-1].detail["from_cache"] is True


async def test_nxdomain_and_negative_cache(lab: DnsLab, stream: EventStream, clock: FakeClock) -> None:
    reply = DNSRecord.parse(await udp_ask(lab.resolver.address, question("nope.netlearn.test")))
    assert reply.header.rcode == RCODE.NXDOMAIN and reply.auth[0].rtype == QTYPE.SOA
    with Recorder(stream) as rec:
        clock.now += 30
        again = DNSRecord.parse(await udp_ask(lab.resolver.address, question("nope.netlearn.test", "TXT")))
    assert again.header.rcode == RCODE.NXDOMAIN
    assert not rec.of_kind(Kind.QUERY, "authoritative")
    assert rec.of_kind(Kind.CACHE)[0].detail == {
        "qname": "nope.netlearn.test.",
        "qtype": "TXT",
        "remaining_ttl": 30,
        "negative": "nxdomain",
        "zone_cut": False,
    }


async def test_cname_chain_then_partially_from_cache(
    lab: DnsLab, stream: EventStream, clock: FakeClock
) -> None:
    alias = DNSRecord.parse(await udp_ask(lab.resolver.address, question("alias.netlearn.test")))
    assert [QTYPE[rr.rtype] for rr in alias.rr] == ["CNAME", "CNAME", "A"]
    await udp_ask(lab.resolver.address, question("blink.netlearn.test"))
    clock.now += 10  # flash's A (TTL 5) is gone, blink's CNAME (TTL 300) is not
    with Recorder(stream) as rec:
        blink = DNSRecord.parse(await udp_ask(lab.resolver.address, question("blink.netlearn.test")))
    assert [QTYPE[rr.rtype] for rr in blink.rr] == ["CNAME", "A"]
    assert [e.detail["qname"] for e in rec.of_kind(Kind.QUERY, "authoritative")] == ["flash.netlearn.test."]
    assert rec.of_kind(Kind.CACHE)[0].detail["qname"] == "blink.netlearn.test."
    assert not rec.of_kind(Kind.QUERY, "root")


async def test_truncated_answer_then_tcp_fallback(lab: DnsLab, stream: EventStream) -> None:
    direct = DNSRecord.parse(await udp_ask(lab.authoritative.address, question("big.netlearn.test", "TXT")))
    assert direct.header.tc == 1 and not direct.rr
    with Recorder(stream) as rec:
        udp = DNSRecord.parse(await udp_ask(lab.resolver.address, question("big.netlearn.test", "TXT")))
        assert udp.header.tc == 1  # the resolver's answer does not fit in 512 bytes either
        whole = DNSRecord.parse(await tcp_ask(lab.resolver.address, question("big.netlearn.test", "TXT")))
    assert len(whole.rr) == 6 and whole.header.tc == 0
    auth = [
        (e.kind, e.transport, e.detail.get("truncated")) for e in rec.events if e.component == "authoritative"
    ]
    assert auth == [
        (Kind.QUERY, "udp", None),
        (Kind.ANSWER, "udp", True),
        (Kind.QUERY, "tcp", None),
        (Kind.ANSWER, "tcp", False),
    ]
    assert rec.of_kind(Kind.CACHE)[0].detail["qname"] == "big.netlearn.test."


async def test_dropped_query_is_retried(lab: DnsLab, stream: EventStream) -> None:
    lab.authoritative.rng = ScriptedRandom([0.0])  # the first query is dropped, the retry is not
    with Recorder(stream) as rec:
        lab.set_drop_share("authoritative", 0.5)
        reply = DNSRecord.parse(await udp_ask(lab.resolver.address, question("api.netlearn.test")))
    assert [str(rr.rdata) for rr in reply.rr] == ["127.0.2.2"]
    assert rec.of_kind(Kind.CONTROL)[0].detail == {
        "role": "authoritative",
        "action": "drop_share",
        "value": 0.5,
    }
    reasons = [e.detail["reason"] for e in rec.of_kind(Kind.ERROR)]
    assert reasons == ["drop_share", "timeout"]
    assert len(rec.of_kind(Kind.QUERY, "authoritative")) == 1
    assert lab.describe()["authoritative"]["counters"]["dropped"] == 1


async def test_all_queries_dropped_gives_servfail(lab: DnsLab, stream: EventStream) -> None:
    lab.set_drop_share("tld", 1.0)
    reply = DNSRecord.parse(await udp_ask(lab.resolver.address, question("shop.netlearn.test")))
    assert reply.header.rcode == RCODE.SERVFAIL
    assert lab.describe()["tld"]["counters"]["dropped"] == 2  # first try and one retry
    lab.set_drop_share("tld", 0.0)
    healed = DNSRecord.parse(await udp_ask(lab.resolver.address, question("shop.netlearn.test")))
    assert healed.header.rcode == RCODE.NOERROR


async def test_malformed_packets_get_formerr_or_silence_and_service_continues(
    lab: DnsLab, stream: EventStream
) -> None:
    with Recorder(stream) as rec:
        garbage = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x3fabc"
        formerr = DNSRecord.parse(await udp_ask(lab.authoritative.address, garbage))
        silent = await udp_ask(lab.resolver.address, b"\x01\x02\x03", timeout=0.3)
        reader, writer = await asyncio.open_connection(
            *lab.authoritative.address, local_addr=(CLIENT_HOST, 0)
        )
        writer.write(b"\x00\x40abc")  # promises 64 bytes, sends 3, hangs up
        writer.close()
        await writer.wait_closed()
        ok = DNSRecord.parse(await udp_ask(lab.authoritative.address, question("shop.netlearn.test")))
    assert formerr.header.rcode == RCODE.FORMERR and formerr.header.id == 0x1234
    assert silent is None
    assert ok.header.rcode == RCODE.NOERROR
    assert {e.detail.get("rcode") for e in rec.of_kind(Kind.ERROR)} >= {"FORMERR", None}
    assert any("mid-message" in e.summary for e in rec.of_kind(Kind.ERROR))


async def test_resolver_refuses_upstreams_outside_the_lab(stream: EventStream) -> None:
    config = LabConfig.ephemeral()
    dns = await start_dns(config, stream, upstream_timeout=0.3)
    try:
        del dns.resolver.upstreams[dns.tld.address.host]  # the root's glue now points outside the map
        with Recorder(stream) as rec:
            reply = DNSRecord.parse(await udp_ask(dns.resolver.address, question("shop.netlearn.test")))
        assert reply.header.rcode == RCODE.SERVFAIL
        refused = [e for e in rec.of_kind(Kind.ERROR) if e.detail.get("reason") == "not_a_lab_address"]
        assert refused and refused[0].detail["address"] == config.tld.host
        assert not rec.of_kind(Kind.QUERY, "tld")
        assert dns.describe()["resolver"]["counters"]["refused_upstream"] == 1
    finally:
        await dns.stop()


async def test_a_referral_to_the_internet_is_never_followed(stream: EventStream) -> None:
    """A hostile root hands out glue for a real Internet address: the resolver must not dial it."""
    root = DnsServer(
        Endpoint("127.0.1.1", 0),
        stream,
        "root",
        authority=Authority(root_zone(root_ip="127.0.1.1", tld_ip="93.184.216.34"), role="root"),
    )
    await root.start()
    resolver = ResolverServer(
        Endpoint("127.0.1.4", 0), stream, upstreams={"127.0.1.1": Upstream(root.address, "root")}, timeout=0.3
    )
    await resolver.start()
    try:
        with Recorder(stream) as rec:
            reply = DNSRecord.parse(await udp_ask(resolver.address, question("shop.netlearn.test")))
        assert reply.header.rcode == RCODE.SERVFAIL
        refused = [e for e in rec.of_kind(Kind.ERROR) if e.detail.get("reason") == "not_a_lab_address"]
        assert [e.detail["address"] for e in refused] == ["93.184.216.34"]
        assert [e.dst.host for e in rec.of_kind(Kind.QUERY, "resolver")] == ["127.0.1.4", "127.0.1.1"]
        assert resolver.describe()["counters"]["upstream_udp"] == 1
    finally:
        await resolver.stop()
        await root.stop()


async def test_stop_leaves_no_tasks_and_frees_the_ports(stream: EventStream) -> None:
    before = asyncio.all_tasks()
    dns = await start_dns(LabConfig.ephemeral(), stream)
    await udp_ask(dns.resolver.address, question("shop.netlearn.test"))
    await tcp_ask(dns.authoritative.address, question("shop.netlearn.test"))
    addresses = [dns.component(role).address for role in ("root", "tld", "authoritative", "resolver")]
    await dns.stop()
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before
    assert all(state["state"] == "stopped" for state in dns.describe().values())
    for address in addresses:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(tuple(address))  # raises if anything still holds the port
                assert sock.getsockname()[1] == address.port


async def test_single_address_fallback_still_walks_the_hierarchy(stream: EventStream) -> None:
    """Where only 127.0.0.1 exists, roles share it and the glue's lab addresses are translated."""
    base = LabConfig.ephemeral()
    config = dataclasses.replace(
        base, **{role: Endpoint("127.0.0.1", 0) for role in ("root", "tld", "authoritative", "resolver")}
    )
    dns = await start_dns(config, stream, upstream_timeout=0.3)
    try:
        with Recorder(stream) as rec:
            reply = DNSRecord.parse(await udp_ask(dns.resolver.address, question("shop.netlearn.test")))
        assert [str(rr.rdata) for rr in reply.rr] == ["127.0.2.1"]
        asked = [e.dst for e in rec.of_kind(Kind.QUERY, "resolver")][1:]
        assert asked == [dns.root.address, dns.tld.address, dns.authoritative.address]
        assert len({a.port for a in asked}) == 3 and {a.host for a in asked} == {"127.0.0.1"}
    finally:
        await dns.stop()


async def test_raw_utf8_name_is_answered_not_crashed_on(lab: DnsLab) -> None:
    """dig in a C locale sends "가게" as raw UTF-8 bytes; only its punycode form is in the zone."""
    reply = await udp_ask(lab.resolver.address, raw_query(["가게".encode(), b"netlearn", b"test"]))
    assert reply is not None and DNSRecord.parse(reply).header.rcode == RCODE.NXDOMAIN
    idna = DNSRecord.parse(await udp_ask(lab.resolver.address, question("가게.netlearn.test")))
    assert str(idna.q.qname) == "xn--o39akk.netlearn.test." and str(idna.rr[-1].rdata) == "127.0.2.1"
