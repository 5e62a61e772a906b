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
from netlearn.lab.dns.zone import Zone
from netlearn.lab.topology import DEFAULT_ZONE_FILE, LAB_ZONE

from .helpers import FakeClock, question

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
