"""SSRF: hostile URLs through the real walk service and the embedded lab never reach past loopback.

Every test watches every ``connect``, ``sendto``, ``sendmsg`` and ``sendmmsg`` system call of this
process, on every thread, the lab's uvloop thread included (``connect_watch``: ``strace`` attached to
the test process, ``tests/syscall_watch.py``; ``test_syscall_watch.py`` proves it sees a deliberate
outside dial from each kind of socket) and checks that nothing went outside loopback, and that the
walk ends with a clear refusal or failure code. The DNS cases edit the authoritative server's zone in
memory, on the lab's own loop, to play an attacker who controls a lab record: pointing it outside, delegating a sub-zone
to a foreign name server, and rebinding a name in the middle of a walk.
"""
from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest
from dnslib import QTYPE, RR, DNSLabel

from netlearn.lab.events import Kind
from netlearn.walks.models import Walk
from netlearn.walks.services import walk_start
from tests.syscall_watch import SyscallWatch

pytestmark = pytest.mark.django_db(transaction=True)

OUTSIDE = "93.184.216.34"  # what outside.netlearn.test points at in the lab zone
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")

#: URL → the refusal code walk_start stores (no socket may be opened for any of them).
HOSTILE_URLS: dict[str, str] = {
    # other hosts, and names that only look like the lab
    "http://example.com/": "outside_lab",
    "http://localhost/": "outside_lab",
    "http://localhost./": "outside_lab",
    "http://metadata.google.internal/computeMetadata/v1/": "outside_lab",
    "http://127.0.0.1.nip.io/": "outside_lab",
    "http://shop.netlearn.test.evil.com/": "outside_lab",
    "http://netlearn.test.evil.com./": "outside_lab",
    "http://evilnetlearn.test/": "outside_lab",
    "http://ｅｖｉｌ.com/": "outside_lab",  # full-width letters fold to evil.com
    "http://shop.netlearn.test\u3002evil.com/": "outside_lab",  # ideographic full stop is a dot
    "http://xn--80ak6aa92e.com/": "outside_lab",
    "http:\\\\evil.com\\": "outside_lab",
    # IP literals in every notation inet_aton and browsers accept
    "http://127.0.0.1/": "ip_literal",
    "http://127.1/": "ip_literal",
    "http://0/": "ip_literal",
    "http://0.0.0.0/": "ip_literal",
    "http://2130706433/": "ip_literal",  # decimal 127.0.0.1
    "http://1572395042/": "ip_literal",  # decimal 93.184.216.34
    "http://017700000001/": "ip_literal",  # octal
    "http://0177.0.0.1/": "ip_literal",
    "http://0x7f000001/": "ip_literal",  # hex
    "http://0x5db8d822/": "ip_literal",
    "http://0x7f.0.0.1/": "ip_literal",
    "https://93.184.216.34/": "ip_literal",
    "http://169.254.169.254/latest/meta-data/": "ip_literal",
    "http://[::1]/": "ip_literal",
    "http://[::1]:80/": "ip_literal",
    "http://[::ffff:127.0.0.1]/": "ip_literal",  # IPv4-mapped
    "http://[::ffff:5db8:d822]/": "ip_literal",
    "http://[0:0:0:0:0:ffff:93.184.216.34]/": "ip_literal",
    # userinfo tricks: whichever side the parser thinks is the host, credentials are refused
    "http://shop.netlearn.test@evil.com/": "credentials",
    "http://evil.com@shop.netlearn.test/": "credentials",
    "http://shop.netlearn.test:80@evil.com/": "credentials",
    "http://shop.netlearn.test%2f@evil.com/": "credentials",
    "http://evil.com\\@shop.netlearn.test/": "credentials",
    # percent-encoded and NUL-laden hosts
    "http://%65xample.com/": "bad_host",
    "http://shop%2enetlearn%2etest/": "bad_host",
    "http://evil.com%40shop.netlearn.test/": "bad_host",
    "http://shop.netlearn.test%00.evil.com/": "bad_host",
    "http://shop.netlearn.test\t.evil.com/": "control_chars",
    # overlong names: a 64-byte label, a name over 253 bytes, a URL over the limit
    "http://" + "a" * 64 + ".netlearn.test/": "bad_host",
    "http://" + ".".join(["a" * 60] * 5) + ".netlearn.test/": "bad_host",
    "http://shop.netlearn.test/" + "a" * 5000: "too_long",
    # other ports and schemes
    "http://shop.netlearn.test:8080/": "port",
    "http://shop.netlearn.test:22/": "port",
    "gopher://shop.netlearn.test/": "scheme",
    "file:///etc/passwd": "scheme",
    "ftp://shop.netlearn.test/": "scheme",
    "javascript:alert(1)": "scheme",
    "data:text/html,<script>alert(1)</script>": "scheme",
    "//evil.com/": "no_host",
}


def _outside(watch: SyscallWatch) -> set[str]:
    """Destinations that are not loopback (and socket families that could leave the machine)."""
    return watch.outside()


async def _finished(walk: Walk, timeout: float = 15.0) -> Walk:
    async with asyncio.timeout(timeout):
        while True:
            walk = await Walk.objects.aget(id=walk.id)
            if walk.is_finished:
                return walk
            await asyncio.sleep(0.05)


def _set_record(lab: Any, name: str, rtype: str, *values: str, ttl: int = 5) -> None:
    """Replace a record set in the authoritative server's zone (run on the lab's loop)."""
    zone = lab.dns.authoritative.authority.zone
    rrs = [RR.fromZone(f"{name} {ttl} IN {rtype} {value}")[0] for value in values]
    zone.records.setdefault(DNSLabel(name), {})[getattr(QTYPE, rtype)] = rrs


def _step_codes(walk: Walk) -> list[str]:
    return [e["detail"].get("step") for e in walk.events if e["kind"] == Kind.STEP.value]


@pytest.mark.parametrize("url", list(HOSTILE_URLS))
async def test_hostile_url_is_refused_by_the_walk_service_without_any_socket(url: str, connect_watch) -> None:
    walk = await walk_start(url=url, session_key="attacker")
    assert (walk.status, walk.code) == (Walk.Status.REFUSED, HOSTILE_URLS[url])
    assert connect_watch.destinations == []


async def test_lab_names_pointing_outside_are_refused_and_never_dialled(embedded_lab, connect_watch) -> None:
    embedded_lab.call(lambda lab: _set_record(lab, "evilalias.netlearn.test.", "CNAME", "outside.netlearn.test."))
    for number, url in enumerate(("http://outside.netlearn.test/", "http://OUTSIDE.netlearn.test./",
                                  "http://evilalias.netlearn.test/", "https://outside.netlearn.test/")):
        walk = await _finished(await walk_start(url=url, session_key=f"s{number}"))
        assert (walk.status, walk.code) == (Walk.Status.REFUSED, "address_outside_lab"), url
        assert walk.detail["outcome"]["address"] == OUTSIDE
    assert _outside(connect_watch) == set()
    resolver = embedded_lab.call(lambda lab: lab.endpoints()["resolver"]["host"])
    assert resolver in connect_watch.hosts()  # the walks did ask DNS: the watch saw them


async def test_a_lab_in_its_own_process_dials_nothing_outside(connect_watch, settings, transactional_db) -> None:
    """``NETLEARN_LAB_MODE=process``: the lab is a child of this process, started while the watch
    is attached, so ``strace -f`` follows it; its walker really dialled the resolver (seen), and
    never the outside address a lab name points at."""
    from netlearn.lab.process import LabProcess
    from netlearn.lab.topology import LabConfig
    from netlearn.walks import bridge

    settings.NETLEARN_LAB_MODE = "process"
    lab = await bridge.start_embedded_lab(LabConfig.ephemeral())
    try:
        assert isinstance(lab, LabProcess)
        for number, url in enumerate(("http://outside.netlearn.test/", "https://outside.netlearn.test/")):
            walk = await _finished(await walk_start(url=url, session_key=f"p{number}"))
            assert (walk.status, walk.code) == (Walk.Status.REFUSED, "address_outside_lab"), url
        walk = await _finished(await walk_start(url="http://shop.netlearn.test/", session_key="p-shop"))
        assert walk.status == Walk.Status.DONE, (walk.code, walk.detail)
    finally:
        await bridge.stop_embedded_lab()
    assert _outside(connect_watch) == set()
    assert lab.endpoints["resolver"]["host"] in connect_watch.hosts()  # the child's own dials were seen


async def test_a_sub_zone_delegated_outside_the_lab_is_never_asked(embedded_lab, connect_watch) -> None:
    def delegate(lab: Any) -> None:
        _set_record(lab, "evil.netlearn.test.", "NS", "ns.evil.netlearn.test.")
        _set_record(lab, "ns.evil.netlearn.test.", "A", OUTSIDE)

    embedded_lab.call(delegate)
    walk = await _finished(await walk_start(url="http://www.evil.netlearn.test/", session_key="s1"))
    assert walk.status == Walk.Status.FAILED and walk.code in {"no_address", "dns_servfail", "dns_timeout"}, walk.code
    assert any(e["detail"].get("reason") == "not_a_lab_address" for e in walk.events)
    assert _outside(connect_watch) == set()


async def test_rebinding_after_a_walk_is_caught_on_the_next_walk(embedded_lab, connect_watch) -> None:
    first = await _finished(await walk_start(url="http://flash.netlearn.test/", session_key="s1"))
    assert (first.status, first.backends != []) == (Walk.Status.DONE, True)

    def rebind(lab: Any) -> None:
        _set_record(lab, "flash.netlearn.test.", "A", OUTSIDE, ttl=0)
        lab.dns.resolver.flush_cache()

    embedded_lab.call(rebind)
    second = await _finished(await walk_start(url="http://flash.netlearn.test/", session_key="s2"))
    assert (second.status, second.code) == (Walk.Status.REFUSED, "address_outside_lab")
    third = await _finished(await walk_start(url="http://blink.netlearn.test/", session_key="s3"))  # CNAME → flash
    assert (third.status, third.code) == (Walk.Status.REFUSED, "address_outside_lab")
    assert _outside(connect_watch) == set()


async def test_rebinding_mid_resolution_is_refused(embedded_lab, connect_watch) -> None:
    """The record changes after the TLD's referral, before the authoritative server is asked."""
    rebound: list[str] = []

    def on_event(event: Any) -> None:  # runs on the lab's loop, in order with the servers' work
        if event.component == "tld" and event.kind == Kind.REFERRAL and not rebound:
            _set_record(embedded_lab.lab, "flash.netlearn.test.", "A", OUTSIDE, ttl=0)
            rebound.append(event.correlation_id or "")

    unsubscribe = embedded_lab.stream.subscribe(on_event)
    try:
        walk = await _finished(await walk_start(url="http://flash.netlearn.test/", session_key="s1"))
    finally:
        unsubscribe()
    assert rebound == [walk.id.hex]
    assert (walk.status, walk.code) == (Walk.Status.REFUSED, "address_outside_lab")
    assert "resolved" in _step_codes(walk) and Kind.CONNECT.value not in {e["kind"] for e in walk.events
                                                                  if e["component"] == "client"}
    assert _outside(connect_watch) == set()


async def test_rebinding_between_the_answer_and_the_connect_cannot_redirect_the_connection(
        embedded_lab, connect_watch) -> None:
    """The walker dials the vetted lab address it was given, never a fresh lookup."""
    rebound: list[str] = []

    def on_event(event: Any) -> None:
        if event.kind == Kind.STEP and event.detail.get("step") == "resolved" and not rebound:
            lab = embedded_lab.lab
            _set_record(lab, "flash.netlearn.test.", "A", OUTSIDE, ttl=0)
            lab.dns.resolver.flush_cache()
            rebound.append(event.detail["address"])

    unsubscribe = embedded_lab.stream.subscribe(on_event)
    try:
        walk = await _finished(await walk_start(url="http://flash.netlearn.test/", session_key="s1"))
    finally:
        unsubscribe()
    assert rebound and ipaddress.ip_address(rebound[0]) in LOOPBACK
    assert walk.status == Walk.Status.DONE, walk.code
    assert OUTSIDE not in connect_watch.hosts() and _outside(connect_watch) == set()
    # And the very next walk sees the new record and refuses it.
    again = await _finished(await walk_start(url="http://flash.netlearn.test/", session_key="s2"))
    assert (again.status, again.code) == (Walk.Status.REFUSED, "address_outside_lab")
    assert _outside(connect_watch) == set()
