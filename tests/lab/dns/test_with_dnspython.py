"""The DNS lab asked by an independent client: dnspython, not the dnslib the lab is built on.

Whatever dnslib and the lab might agree on by sharing code, dnspython parses every answer with
its own wire code, follows the resolver's CNAME chains, falls back to TCP on TC=1 by itself and
reads referrals and NXDOMAIN as any stub resolver or ``dig`` would.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

import dns.asyncquery
import dns.asyncresolver
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from netlearn.lab.dns import DnsLab, start_dns
from netlearn.lab.stream import EventStream
from netlearn.lab.topology import LabConfig

from .helpers import CLIENT_HOST


@pytest.fixture
async def dns_lab() -> AsyncIterator[DnsLab]:
    lab = await start_dns(LabConfig.ephemeral(), EventStream(), upstream_timeout=1.0)
    yield lab
    await lab.stop()


def _stub(lab: DnsLab) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [lab.resolver.address.host]
    resolver.port = lab.resolver.address.port
    resolver.lifetime = 10
    return resolver


async def test_the_recursive_resolver_answers_a_stub_resolver(dns_lab: DnsLab) -> None:
    answer = await _stub(dns_lab).resolve("shop.netlearn.test", "A", source=CLIENT_HOST)
    assert [rr.address for rr in answer] == ["127.0.2.1"]
    assert answer.response.flags & dns.flags.RA and answer.response.flags & dns.flags.RD


async def test_a_cname_chain_and_an_idna_name(dns_lab: DnsLab) -> None:
    chained = await _stub(dns_lab).resolve("alias.netlearn.test", "A", source=CLIENT_HOST)
    assert chained.canonical_name == dns.name.from_text("shop.netlearn.test.")
    assert [rr.address for rr in chained] == ["127.0.2.1"]
    korean = await _stub(dns_lab).resolve(dns.name.from_unicode("가게.netlearn.test."), "A", source=CLIENT_HOST)
    assert korean.qname.to_text() == "xn--o39akk.netlearn.test."
    assert [rr.address for rr in korean] == ["127.0.2.1"]


async def test_nxdomain_is_an_nxdomain(dns_lab: DnsLab) -> None:
    with pytest.raises(dns.asyncresolver.NXDOMAIN):
        await _stub(dns_lab).resolve("nope.netlearn.test", "A", source=CLIENT_HOST)


async def test_a_big_answer_is_truncated_over_udp_and_whole_over_tcp(dns_lab: DnsLab) -> None:
    query = dns.message.make_query("big.netlearn.test", "TXT")
    server = dns_lab.resolver.address
    udp = await dns.asyncquery.udp(query, server.host, port=server.port, source=CLIENT_HOST, timeout=10,
                                   ignore_trailing=True)
    assert udp.flags & dns.flags.TC
    whole, used_tcp = await dns.asyncquery.udp_with_fallback(query, server.host, port=server.port,
                                                              source=CLIENT_HOST, timeout=10)
    assert used_tcp and not whole.flags & dns.flags.TC
    texts = sorted(b"".join(rr.strings).decode() for rr in whole.answer[0])
    assert len(texts) == 6 and texts[0].startswith("1/6 A DNS message over UDP")


async def test_the_root_refers_to_the_tld_with_glue(dns_lab: DnsLab) -> None:
    query = dns.message.make_query("shop.netlearn.test", "A")
    query.flags &= ~dns.flags.RD  # like dig +norec
    root = dns_lab.root.address
    referral = await dns.asyncquery.udp(query, root.host, port=root.port, source=CLIENT_HOST, timeout=10)
    assert referral.rcode() == dns.rcode.NOERROR and not referral.answer
    [ns] = [rrset for rrset in referral.authority if rrset.rdtype == dns.rdatatype.NS]
    assert ns.name == dns.name.from_text("test.")
    glue = {rrset.name.to_text(): [rr.address for rr in rrset] for rrset in referral.additional
            if rrset.rdtype == dns.rdatatype.A}
    assert dns_lab.tld.address.host in [a for addresses in glue.values() for a in addresses]
