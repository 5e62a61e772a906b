"""Property-based: random and mutated bytes never make the protocol objects raise."""

from __future__ import annotations

import random

from dnslib import DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlearn.lab.dns.authority import Authority
from netlearn.lab.dns.cache import DnsCache
from netlearn.lab.dns.resolution import Done, Resolution, SendQuery
from netlearn.lab.dns.wire import Query, check_query
from netlearn.lab.dns.zone import Zone, root_zone, tld_zone
from netlearn.lab.topology import DEFAULT_ZONE_FILE, LAB_ZONE

from .helpers import FakeClock, question, raw_query

AUTH = Authority(Zone.from_file(DEFAULT_ZONE_FILE, LAB_ZONE), role="authoritative")
SEEDS = [
    question(n, t)
    for n, t in (
        ("shop.netlearn.test", "A"),
        ("big.netlearn.test", "TXT"),
        ("alias.netlearn.test", "A"),
        ("nope.netlearn.test", "MX"),
    )
]
REPLIES = [AUTH.respond(seed, transport="tcp").response for seed in SEEDS]
LAB = {
    "127.0.1.1": Authority(root_zone(root_ip="127.0.1.1", tld_ip="127.0.1.2"), role="root"),
    "127.0.1.2": Authority(
        tld_zone(root_ip="127.0.1.1", tld_ip="127.0.1.2", authoritative_ip="127.0.1.3"), role="tld"
    ),
    "127.0.1.3": AUTH,
}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            data[pos] = draw(st.integers(0, 255))
    return bytes(data)


def _check_outcome(wire: bytes, transport: str) -> None:
    outcome = AUTH.respond(wire, transport=transport)
    assert outcome.kind in {
        "answer",
        "referral",
        "nodata",
        "nxdomain",
        "refused",
        "formerr",
        "notimp",
        "drop",
    }
    if outcome.response is not None:
        reply = DNSRecord.parse(outcome.response)  # whatever we send is itself well-formed
        assert reply.header.qr == 1
        if transport == "udp":
            assert len(outcome.response) <= 4096


@FUZZ
@given(st.binary(max_size=600), st.sampled_from(["udp", "tcp"]))
def test_random_bytes_never_raise(wire: bytes, transport: str) -> None:
    _check_outcome(wire, transport)


@FUZZ
@given(mutated(SEEDS), st.sampled_from(["udp", "tcp"]))
def test_mutated_queries_never_raise(wire: bytes, transport: str) -> None:
    _check_outcome(wire, transport)


def resolve_through_lab(wire: bytes) -> tuple[Done, list[SendQuery]]:
    """Run a whole resolution against the three authorities' logic (no sockets)."""
    query = check_query(wire)
    assert isinstance(query, Query)
    machine = Resolution(
        query, cache=DnsCache(clock=FakeClock()), root_hints=["127.0.1.1"], rng=random.Random(2)
    )
    action, sent = machine.start(), []
    while isinstance(action, SendQuery):
        sent.append(action)
        reply = LAB[action.server_ip].respond(action.wire, transport=action.transport).response
        assert reply is not None and machine.matches(reply)
        action = machine.feed(reply)
    return action, sent


def _machine() -> tuple[Resolution, SendQuery]:
    query = check_query(question("alias.netlearn.test"))
    assert isinstance(query, Query)
    machine = Resolution(
        query, cache=DnsCache(clock=FakeClock()), root_hints=["127.0.1.1"], rng=random.Random(1)
    )
    action = machine.start()
    assert isinstance(action, SendQuery)
    return machine, action


@FUZZ
@given(st.one_of(st.binary(max_size=600), mutated(REPLIES)))
def test_resolution_fed_garbage_never_raises(wire: bytes) -> None:
    machine, _ = _machine()
    machine.matches(wire)
    action = machine.feed(wire)
    assert isinstance(action, (SendQuery, Done))
    if isinstance(action, Done):
        assert DNSRecord.parse(action.reply.pack()).header.qr == 1


@FUZZ
@given(st.lists(st.binary(min_size=1, max_size=12), max_size=4), st.sampled_from([1, 5, 16, 28, 255]))
def test_any_label_bytes_resolve_without_raising(prefix: list[bytes], qtype: int) -> None:
    wire = raw_query([*prefix, b"netlearn", b"test"], qtype)
    checked = check_query(wire)
    if not isinstance(checked, Query):  # dnslib refuses some bytes (e.g. invalid UTF-8): FORMERR
        assert checked.rcode == "FORMERR" and DNSRecord.parse(checked.response).header.id == 0x4242
        return
    done, _ = resolve_through_lab(wire)
    assert done.rcode in {"NOERROR", "NXDOMAIN"}
    assert DNSRecord.parse(done.reply.pack()).header.id == 0x4242


def test_raw_utf8_name_gets_nxdomain() -> None:
    done, sent = resolve_through_lab(raw_query(["가게".encode(), b"netlearn", b"test"]))
    assert done.rcode == "NXDOMAIN" and len(sent) == 3  # only the punycode form exists
