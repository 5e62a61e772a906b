"""The inspector's rebuilt headers (netlearn/lab/packets.py, hand-written with ``struct``) agree
byte for byte with scapy's, an independent packet library, for the same addresses, ports,
flags and payloads; and scapy's own parser reads them back to the same fields.

scapy only builds bytes here: nothing is sent. It is imported in this test alone (it costs ~0.7 s
to import, and writes a cache under ``XDG_CACHE_HOME``, pointed at a temporary folder).
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlearn.lab.packets import ethernet_header, ipv4_header, tcp_header, udp_header

ports = st.integers(min_value=1, max_value=65535)
hosts = st.sampled_from(["127.0.9.1", "127.0.1.4", "127.0.2.1", "127.0.3.4", "10.1.2.3"])
payloads = st.binary(max_size=600)


@pytest.fixture(scope="module")
def scapy(tmp_path_factory):
    import os

    os.environ.setdefault("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("scapy-cache")))
    from scapy import all as scapy_all

    return scapy_all


def _frame(scapy, src, dst, sport, dport, payload, transport):
    return (scapy.Ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00")
            / scapy.IP(src=src, dst=dst, id=0, flags="DF", ttl=64) / transport(sport, dport) / scapy.Raw(payload))


@settings(max_examples=60, deadline=None)
@given(src=hosts, dst=hosts, sport=ports, dport=ports, payload=payloads)
def test_udp_ipv4_ethernet_match_scapy(scapy, src, dst, sport, dport, payload) -> None:
    udp = udp_header((src, sport), (dst, dport), payload)
    ip = ipv4_header(src, dst, 17, len(udp.data) + len(payload))
    ours = ethernet_header().data + ip.data + udp.data + payload
    theirs = bytes(_frame(scapy, src, dst, sport, dport, payload, lambda s, d: scapy.UDP(sport=s, dport=d)))
    assert ours == theirs
    parsed = scapy.Ether(ours)
    assert (parsed[scapy.IP].src, parsed[scapy.IP].dst, parsed[scapy.UDP].sport, parsed[scapy.UDP].dport) == (
        src, dst, sport, dport)
    assert parsed[scapy.UDP].len == 8 + len(payload) and bytes(parsed[scapy.UDP].payload) == payload


@settings(max_examples=60, deadline=None)
@given(src=hosts, dst=hosts, sport=ports, dport=ports, payload=payloads,
       flags=st.sampled_from(["S", "SA", "A", "PA", "FA", "R"]))
def test_tcp_ipv4_match_scapy(scapy, src, dst, sport, dport, payload, flags) -> None:
    tcp = tcp_header((src, sport), (dst, dport), payload, flags=flags)
    ip = ipv4_header(src, dst, 6, len(tcp.data) + len(payload))
    ours = ethernet_header().data + ip.data + tcp.data + payload
    theirs = bytes(_frame(scapy, src, dst, sport, dport, payload,
                          lambda s, d: scapy.TCP(sport=s, dport=d, seq=0, ack=0, flags=flags, window=65535)))
    assert ours == theirs
    parsed = scapy.Ether(ours)
    assert parsed[scapy.TCP].flags == flags and bytes(parsed[scapy.TCP].payload) == payload
