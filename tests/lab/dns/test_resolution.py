"""The iterative-resolution state machine and its cache, without sockets.

The "network" here is the real authority logic of the three roles, called directly: bytes in,
bytes out. Hostile upstreams (loops, poisoning, endless referrals) are hand-made messages.
"""

from __future__ import annotations

import random

import pytest
from dnslib import CNAME, NS, QTYPE, RCODE, RR, A, DNSLabel, DNSRecord

from netlearn.lab.dns.authority import Authority
from netlearn.lab.dns.cache import DnsCache
from netlearn.lab.dns.resolution import MAX_CNAME_HOPS, MAX_REFERRALS, Done, Resolution, SendQuery
from netlearn.lab.dns.wire import Query, check_query
from netlearn.lab.dns.zone import Zone, root_zone, tld_zone
from netlearn.lab.topology import DEFAULT_ZONE_FILE, LAB_ZONE

from .helpers import FakeClock, question

ROOT, TLD, AUTH = "127.0.1.1", "127.0.1.2", "127.0.1.3"
SERVERS = {
    ROOT: Authority(root_zone(root_ip=ROOT, tld_ip=TLD), role="root"),
    TLD: Authority(tld_zone(root_ip=ROOT, tld_ip=TLD, authoritative_ip=AUTH), role="tld"),
    AUTH: Authority(Zone.from_file(DEFAULT_ZONE_FILE, LAB_ZONE), role="authoritative"),
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> DnsCache:
    return DnsCache(clock=clock)


def resolve(cache: DnsCache, name: str, qtype: str = "A") -> tuple[Done, list[SendQuery], Resolution]:
    query = check_query(question(name, qtype))
    assert isinstance(query, Query)
    machine = Resolution(query, cache=cache, root_hints=[ROOT], rng=random.Random(7))
    sent: list[SendQuery] = []
    action = machine.start()
    while isinstance(action, SendQuery):
        sent.append(action)
        assert machine.matches(
            SERVERS[action.server_ip].respond(action.wire, transport=action.transport).response
        )
        action = machine.feed(
            SERVERS[action.server_ip].respond(action.wire, transport=action.transport).response
        )
    return action, sent, machine


def test_walks_root_then_tld_then_authoritative(cache: DnsCache) -> None:
    done, sent, _ = resolve(cache, "shop.netlearn.test")
    assert [s.server_ip for s in sent] == [ROOT, TLD, AUTH]
    assert [s.zone for s in sent] == [".", "test.", "netlearn.test."]
    assert done.rcode == "NOERROR" and not done.from_cache
    assert [str(rr.rdata) for rr in done.reply.rr] == ["127.0.2.1"]
    assert done.reply.header.ra == 1 and done.reply.header.aa == 0
    assert all(DNSRecord.parse(s.wire).header.rd == 0 for s in sent)  # iterative questions


def test_second_query_is_answered_from_cache_with_lower_ttl(cache: DnsCache, clock: FakeClock) -> None:
    resolve(cache, "shop.netlearn.test")
    clock.now += 42
    done, sent, machine = resolve(cache, "shop.netlearn.test")
    assert sent == [] and done.from_cache
    assert done.reply.rr[0].ttl == 300 - 42


def test_known_zone_cut_skips_root_and_tld(cache: DnsCache) -> None:
    resolve(cache, "shop.netlearn.test")
    _, sent, machine = resolve(cache, "www.netlearn.test")
    assert [s.server_ip for s in sent] == [AUTH]


def test_ttl_expiry_sends_the_question_again(cache: DnsCache, clock: FakeClock) -> None:
    resolve(cache, "flash.netlearn.test")
    clock.now += 4
    assert resolve(cache, "flash.netlearn.test")[1] == []
    clock.now += 2  # TTL 5 is over
    assert [s.server_ip for s in resolve(cache, "flash.netlearn.test")[1]] == [AUTH]


def test_nxdomain_is_cached_for_the_soa_minimum_and_for_every_type(cache: DnsCache, clock: FakeClock) -> None:
    done, sent, _ = resolve(cache, "nope.netlearn.test")
    assert done.rcode == "NXDOMAIN" and done.reply.auth[0].rtype == QTYPE.SOA
    done, sent, _ = resolve(cache, "nope.netlearn.test", "AAAA")
    assert sent == [] and done.rcode == "NXDOMAIN" and done.from_cache
    clock.now += 61
    assert resolve(cache, "nope.netlearn.test")[1] != []


def test_nodata_is_cached_per_type(cache: DnsCache) -> None:
    done, _, _ = resolve(cache, "shop.netlearn.test", "AAAA")
    assert done.rcode == "NOERROR" and not done.reply.rr
    assert resolve(cache, "shop.netlearn.test", "AAAA")[1] == []
    assert resolve(cache, "shop.netlearn.test", "A")[1] != []


def test_cname_chain_partially_from_cache(cache: DnsCache, clock: FakeClock) -> None:
    resolve(cache, "blink.netlearn.test")  # blink CNAME flash (300 s), flash A (5 s)
    clock.now += 10
    done, sent, machine = resolve(cache, "blink.netlearn.test")
    assert [(s.server_ip, s.qname) for s in sent] == [(AUTH, "flash.netlearn.test.")]
    assert [QTYPE[rr.rtype] for rr in done.reply.rr] == ["CNAME", "A"]


def test_timeout_retries_once_then_servfail(cache: DnsCache) -> None:
    query = check_query(question("shop.netlearn.test"))
    machine = Resolution(query, cache=cache, root_hints=[ROOT], rng=random.Random(1))
    first = machine.start()
    second = machine.timed_out()
    assert isinstance(second, SendQuery) and second.server_ip == first.server_ip
    assert second.qname == first.qname and second.transport == "udp"
    done = machine.timed_out()
    assert isinstance(done, Done) and done.rcode == "SERVFAIL"


def test_truncated_answer_is_asked_again_over_tcp(cache: DnsCache) -> None:
    done, sent, _ = resolve(cache, "big.netlearn.test", "TXT")
    assert [(s.server_ip, s.transport) for s in sent][-2:] == [(AUTH, "udp"), (AUTH, "tcp")]
    assert len(done.reply.rr) == 6


# -- hostile upstreams ------------------------------------------------------------------------------
def _reply_to(action: SendQuery, **sections: list[RR]) -> bytes:
    reply = DNSRecord.parse(action.wire).reply(aa=1, ra=0)
    for rr in sections.get("answers", []):
        reply.add_answer(rr)
    for rr in sections.get("authority", []):
        reply.add_auth(rr)
    for rr in sections.get("additional", []):
        reply.add_ar(rr)
    return reply.pack()


def _start(cache: DnsCache, name: str = "shop.netlearn.test") -> tuple[Resolution, SendQuery]:
    query = check_query(question(name))
    machine = Resolution(query, cache=cache, root_hints=[ROOT], rng=random.Random(3))
    action = machine.start()
    assert isinstance(action, SendQuery)
    return machine, action


def test_cname_loop_is_detected(cache: DnsCache) -> None:
    machine, action = _start(cache, "a.netlearn.test")
    wire = _reply_to(
        action,
        answers=[
            RR("a.netlearn.test.", QTYPE.CNAME, rdata=CNAME("b.netlearn.test.")),
            RR("b.netlearn.test.", QTYPE.CNAME, rdata=CNAME("a.netlearn.test.")),
        ],
    )
    done = machine.feed(wire)
    assert isinstance(done, Done) and done.rcode == "SERVFAIL" and "loop" in done.reason


def test_endless_cname_chain_is_cut_off(cache: DnsCache) -> None:
    machine, action = _start(cache, "c0.netlearn.test")
    chain = [
        RR(f"c{i}.netlearn.test.", QTYPE.CNAME, rdata=CNAME(f"c{i + 1}.netlearn.test.")) for i in range(20)
    ]
    done = machine.feed(_reply_to(action, answers=chain))
    assert isinstance(done, Done) and done.rcode == "SERVFAIL" and str(MAX_CNAME_HOPS) in done.reason


def test_endless_referrals_are_cut_off(cache: DnsCache) -> None:
    machine, action = _start(cache, ".".join(f"l{i}" for i in range(20)) + ".test")
    zone = "test."
    for depth in range(MAX_REFERRALS + 1):
        zone = f"l{19 - depth}.{zone}"
        ns = f"ns.{zone}"
        action = machine.feed(
            _reply_to(
                action,
                authority=[RR(zone, QTYPE.NS, rdata=NS(ns))],
                additional=[RR(ns, QTYPE.A, rdata=A("127.0.1.9"))],
            )
        )
        if isinstance(action, Done):
            break
    assert isinstance(action, Done) and action.rcode == "SERVFAIL" and "referrals" in action.reason


def test_referral_that_does_not_go_down_is_ignored(cache: DnsCache) -> None:
    machine, action = _start(cache)
    upward = _reply_to(
        action,
        authority=[RR(".", QTYPE.NS, rdata=NS("evil.example."))],
        additional=[RR("evil.example.", QTYPE.A, rdata=A("93.184.216.34"))],
    )
    done = machine.feed(upward)
    assert isinstance(done, Done) and done.rcode == "SERVFAIL"


def test_out_of_bailiwick_records_are_not_cached(cache: DnsCache) -> None:
    done, _, _ = resolve(cache, "shop.netlearn.test")
    machine, action = _start(cache, "www.netlearn.test")  # goes straight to the authoritative
    poisoned = _reply_to(
        action,
        answers=[
            RR("www.netlearn.test.", QTYPE.A, rdata=A("127.0.2.2")),
            RR("bank.example.", QTYPE.A, rdata=A("6.6.6.6")),
        ],
    )
    assert isinstance(machine.feed(poisoned), Done)
    assert cache.get(DNSLabel("bank.example."), QTYPE.A) is None


def test_unrelated_answers_do_not_match_the_pending_query(cache: DnsCache) -> None:
    machine, action = _start(cache)
    other = DNSRecord.question("www.netlearn.test").reply()
    assert not machine.matches(other.pack())
    assert machine.matches(_reply_to(action))


def test_upstream_refused_moves_on_and_ends_in_servfail(cache: DnsCache) -> None:
    machine, action = _start(cache)
    reply = DNSRecord.parse(_reply_to(action))
    reply.header.rcode = RCODE.REFUSED
    done = machine.feed(reply.pack())
    assert isinstance(done, Done) and done.rcode == "SERVFAIL" and "REFUSED" in done.reason


def test_cache_is_bounded(clock: FakeClock) -> None:
    cache = DnsCache(clock=clock, max_entries=3)
    for i in range(10):
        cache.put_rrset(
            DNSLabel(f"n{i}.test."), QTYPE.A, [RR(f"n{i}.test.", QTYPE.A, ttl=60, rdata=A("127.0.0.1"))]
        )
    assert len(cache) == 3
    assert cache.get(DNSLabel("n9.test."), QTYPE.A) is not None
    assert cache.get(DNSLabel("n0.test."), QTYPE.A) is None
