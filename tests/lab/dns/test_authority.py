"""The authority logic, bytes in and bytes out: the three roles, every kind of answer, bad input."""

from __future__ import annotations

import struct

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSLabel, DNSRecord

from netlearn.lab.dns.authority import Authority
from netlearn.lab.dns.zone import Zone, root_zone, tld_zone
from netlearn.lab.topology import DEFAULT_ZONE_FILE, LAB_ZONE

from .helpers import question


@pytest.fixture(scope="module")
def lab_zone() -> Zone:
    return Zone.from_file(DEFAULT_ZONE_FILE, LAB_ZONE)


@pytest.fixture
def auth(lab_zone: Zone) -> Authority:
    return Authority(lab_zone, role="authoritative")


def ask(authority: Authority, name: str, qtype: str = "A", transport: str = "udp"):
    outcome = authority.respond(question(name, qtype), transport=transport)
    return outcome, DNSRecord.parse(outcome.response)


def test_fixture_zone_holds_the_documented_names(lab_zone: Zone) -> None:
    names = {str(name) for name in lab_zone.records}
    for expected in (
        "shop.netlearn.test.",
        "www.netlearn.test.",
        "api.netlearn.test.",
        "backend4.netlearn.test.",
        "registry.netlearn.test.",
        "ha.netlearn.test.",
        "v6.netlearn.test.",
        "alias2.netlearn.test.",
        "flash.netlearn.test.",
        "mail.netlearn.test.",
        "outside.netlearn.test.",
        "big.netlearn.test.",
    ):
        assert expected in names
    idna = "가게".encode("idna").decode() + ".netlearn.test."
    assert idna in names
    assert lab_zone.rrset(DNSLabel("flash.netlearn.test."), QTYPE.A)[0].ttl == 5
    assert lab_zone.negative_ttl() == 60


def test_root_refers_to_the_tld_with_glue() -> None:
    root = Authority(root_zone(root_ip="127.0.1.1", tld_ip="127.0.1.2"), role="root")
    outcome, reply = ask(root, "shop.netlearn.test")
    assert outcome.kind == "referral"
    assert reply.header.aa == 0 and not reply.rr
    assert [str(rr.rname) for rr in reply.auth] == ["test."]
    assert [str(rr.rdata) for rr in reply.ar] == ["127.0.1.2"]


def test_tld_refers_to_the_authoritative_with_glue() -> None:
    tld = Authority(
        tld_zone(root_ip="127.0.1.1", tld_ip="127.0.1.2", authoritative_ip="127.0.1.3"), role="tld"
    )
    outcome, reply = ask(tld, "www.netlearn.test")
    assert outcome.kind == "referral"
    assert str(reply.auth[0].rname) == "netlearn.test." and str(reply.auth[0].rdata) == "ns1.netlearn.test."
    assert str(reply.ar[0].rdata) == "127.0.1.3"


def test_answer_is_authoritative(auth: Authority) -> None:
    outcome, reply = ask(auth, "Shop.NetLearn.Test")  # names compare case-insensitively
    assert outcome.kind == "answer" and reply.header.aa == 1
    assert [str(rr.rdata) for rr in reply.rr] == ["127.0.2.1"]
    assert outcome.detail["answers"] == ["shop.netlearn.test. 300 IN A 127.0.2.1"]


def test_cname_chain_is_followed_inside_the_zone(auth: Authority) -> None:
    _, reply = ask(auth, "alias.netlearn.test")
    assert [QTYPE[rr.rtype] for rr in reply.rr] == ["CNAME", "CNAME", "A"]
    assert str(reply.rr[-1].rdata) == "127.0.2.1"


def test_nxdomain_carries_the_soa_with_the_negative_ttl(auth: Authority) -> None:
    outcome, reply = ask(auth, "nope.netlearn.test")
    assert outcome.kind == "nxdomain" and reply.header.rcode == RCODE.NXDOMAIN
    assert reply.auth[0].rtype == QTYPE.SOA and reply.auth[0].ttl == 60


def test_nodata_for_an_existing_name_without_that_type(auth: Authority) -> None:
    outcome, reply = ask(auth, "shop.netlearn.test", "AAAA")
    assert outcome.kind == "nodata" and reply.header.rcode == RCODE.NOERROR and not reply.rr
    assert reply.auth[0].rtype == QTYPE.SOA


def test_mx_answer_brings_the_mail_host_address(auth: Authority) -> None:
    _, reply = ask(auth, "netlearn.test", "MX")
    assert str(reply.rr[0].rdata) == "10 mail.netlearn.test."
    assert [str(rr.rdata) for rr in reply.ar] == ["127.0.3.1"]


def test_names_outside_the_zone_are_refused(auth: Authority) -> None:
    outcome, reply = ask(auth, "example.com")
    assert outcome.kind == "refused" and reply.header.rcode == RCODE.REFUSED and reply.header.aa == 0


def test_big_answer_is_truncated_over_udp_and_whole_over_tcp(auth: Authority) -> None:
    outcome, reply = ask(auth, "big.netlearn.test", "TXT")
    assert outcome.truncated and reply.header.tc == 1 and not reply.rr and len(outcome.response) <= 512
    outcome, reply = ask(auth, "big.netlearn.test", "TXT", transport="tcp")
    assert not outcome.truncated and len(reply.rr) == 6 and len(outcome.response) > 1232


def test_edns_buffer_size_is_honoured(auth: Authority) -> None:
    query = DNSRecord.question("big.netlearn.test", "TXT")
    query.add_ar(EDNS0(udp_len=4096))
    outcome = auth.respond(query.pack(), transport="udp")
    reply = DNSRecord.parse(outcome.response)
    assert not outcome.truncated and len(reply.rr) == 6
    assert any(rr.rtype == QTYPE.OPT for rr in reply.ar)


def test_malformed_question_gets_formerr_with_the_same_id(auth: Authority) -> None:
    wire = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x05abc"  # label runs past the end
    outcome = auth.respond(wire)
    assert outcome.kind == "formerr"
    reply = DNSRecord.parse(outcome.response)
    assert reply.header.id == 0xBEEF and reply.header.rcode == RCODE.FORMERR and reply.header.qr == 1


@pytest.mark.parametrize("wire", [b"", b"\x12", b"\x00" * 11])
def test_shorter_than_a_header_is_dropped(auth: Authority, wire: bytes) -> None:
    outcome = auth.respond(wire)
    assert outcome.kind == "drop" and outcome.response is None


def test_responses_are_never_answered(auth: Authority) -> None:
    reply = auth.respond(question("shop.netlearn.test")).response
    assert auth.respond(reply).kind == "drop"  # no reflection loops between two servers


def test_two_questions_are_formerr_and_other_opcodes_notimp(auth: Authority) -> None:
    two = DNSRecord.question("shop.netlearn.test")
    two.add_question(*DNSRecord.question("www.netlearn.test").questions)
    assert auth.respond(two.pack()).kind == "formerr"
    notify = bytearray(question("shop.netlearn.test"))
    notify[2] |= 4 << 3  # opcode NOTIFY
    outcome = auth.respond(bytes(notify))
    assert outcome.kind == "notimp" and DNSRecord.parse(outcome.response).header.rcode == RCODE.NOTIMP
