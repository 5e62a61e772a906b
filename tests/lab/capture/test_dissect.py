"""The sans-I/O dissector: bytes in, named fields with byte ranges out; malformed input never raises."""
from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from netlearn.lab.capture.dissect import Conversation, dissect
from netlearn.lab.capture.frames import _Rebuilder
from netlearn.lab.capture.pcapng import pcapng_bytes

CLIENT, SERVER = ("127.0.9.1", 40000), ("127.0.2.1", 18080)


def _rebuilt(*steps) -> list[bytes]:
    builder = _Rebuilder()
    for step, *args in steps:
        getattr(builder, step)(0.0, *args)
    return [data for _ts, data in builder.frames]


def test_tcp_fields_have_byte_ranges_and_relative_numbers() -> None:
    syn, syn_ack, ack, data = _rebuilt(("handshake", CLIENT, SERVER),
                                       ("segment", CLIENT, SERVER, b"GET / HTTP/1.1\r\n\r\n"))
    conv = Conversation()
    for frame in (syn, syn_ack, ack):
        dissect(frame, conversation=conv)
    result = dissect(data, app="http", conversation=conv)
    assert [layer.short for layer in result.layers] == ["Ethernet", "IPv4", "TCP", "HTTP"]
    tcp = result.layers[2]
    assert (tcp.start, tcp.end) == (34, 54)
    ports = {n.name: (n.start, n.end, n.value) for n in tcp.fields}
    assert ports["Source Port"] == (34, 36, "40000") and ports["Destination Port"][2] == "18080"
    assert ports["Sequence Number"][2].startswith("1 (relative)")
    assert result.info == "GET / HTTP/1.1" and result.protocol == "HTTP"
    flags = next(n for n in tcp.fields if n.name == "Flags")
    assert {c.name: c.value for c in flags.children}["PSH"] == "Set"


def test_a_rebuilt_syn_is_a_syn_with_unknown_numbers() -> None:
    syn = _rebuilt(("handshake", CLIENT, SERVER))[0]
    result = dissect(syn, unknown=frozenset({"tcp.seq", "ip.id"}))
    assert "[SYN]" in result.info and result.tcp_flags == 0x02
    tcp = result.layers[-1]
    assert next(n for n in tcp.fields if n.name == "Sequence Number").unknown
    assert next(n for n in result.layers[1].fields if n.name == "Identification").unknown


def test_dns_referral_info_names_the_delegation_and_glue() -> None:
    from dnslib import NS, QTYPE, RR, A, DNSRecord

    reply = DNSRecord.question("shop.netlearn.test").reply()
    reply.header.aa = 0
    reply.add_auth(RR("test.", QTYPE.NS, rdata=NS("ns1.nic.test."), ttl=300))
    reply.add_ar(RR("ns1.nic.test.", QTYPE.A, rdata=A("127.0.1.2"), ttl=300))
    frame = _rebuilt(("udp", ("127.0.1.1", 53), ("127.0.1.4", 5353), reply.pack()))[0]
    result = dissect(frame, app="dns")
    assert result.protocol == "DNS"
    assert result.info.endswith("A shop.netlearn.test NS ns1.nic.test A 127.0.1.2")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([None, "dns", "http", "tls", "quic"]))
def test_any_bytes_dissect_without_raising(tail: bytes, app: str | None) -> None:
    header = b"\0" * 12 + b"\x08\x00" + struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tail), 0, 0, 64,
                                                    6 if len(tail) % 2 else 17, 0, bytes(4), bytes(4))
    for frame in (header + tail, header[:20] + tail, tail):
        dissect(frame, app=app, conversation=Conversation())
        dissect(frame, app=app, brief=True)


def test_pcapng_blocks_are_well_formed() -> None:
    frames = [{"ts_ns": 1_700_000_000_123_456_789, "hex": f.hex(), "comment": "rebuilt"} for f in
              _rebuilt(("handshake", CLIENT, SERVER))]
    data = pcapng_bytes(frames, keylog="CLIENT_RANDOM aa bb")
    pos, kinds = 0, []
    while pos < len(data):
        kind, length = struct.unpack_from("<II", data, pos)
        assert length % 4 == 0 and struct.unpack_from("<I", data, pos + length - 4)[0] == length
        kinds.append(kind)
        pos += length
    assert kinds == [0x0A0D0D0A, 1, 0x0A, 6, 6, 6]
