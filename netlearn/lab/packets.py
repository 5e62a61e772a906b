"""Rebuild the lower layers of a message the lab really exchanged, for the layer inspector.

User-space code sees the application payload and the socket's addresses and ports; the kernel
adds the transport, IP and link headers. Those headers are rebuilt here from the real values
(addresses, ports, lengths, real checksums over the real payload) with ``struct``, and labelled
"reconstructed" wherever a value could not be observed (TCP sequence numbers, MAC addresses on
loopback). ``struct`` rather than scapy: scapy takes ~0.7 s to import and would sit on the page's
hot path for four fixed-size headers.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from dnslib import DNSRecord


@dataclass(frozen=True)
class Field:
    name: str
    start: int
    end: int
    value: str = ""


@dataclass
class Header:
    layer: int
    protocol: str
    data: bytes
    fields: list[Field] = field(default_factory=list)
    observed: bool = True
    note: str = ""


def checksum16(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_header(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> Header:
    length = 8 + len(payload)
    pseudo = ipaddress.IPv4Address(src[0]).packed + ipaddress.IPv4Address(dst[0]).packed + struct.pack(
        "!BBH", 0, 17, length)
    raw = struct.pack("!HHHH", src[1], dst[1], length, 0)
    csum = checksum16(pseudo + raw + payload) or 0xFFFF
    raw = struct.pack("!HHHH", src[1], dst[1], length, csum)
    return Header(4, "UDP", raw, [
        Field("Source port", 0, 2, str(src[1])), Field("Destination port", 2, 4, str(dst[1])),
        Field("Length", 4, 6, str(length)), Field("Checksum", 6, 8, f"0x{csum:04x}")])


def tcp_header(src: tuple[str, int], dst: tuple[str, int], payload: bytes, *, flags: str = "PA") -> Header:
    flag_bits = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}
    bits = sum(flag_bits[f] for f in flags)
    raw = struct.pack("!HHIIBBHHH", src[1], dst[1], 0, 0, 5 << 4, bits, 65535, 0, 0)
    pseudo = ipaddress.IPv4Address(src[0]).packed + ipaddress.IPv4Address(dst[0]).packed + struct.pack(
        "!BBH", 0, 6, len(raw) + len(payload))
    csum = checksum16(pseudo + raw + payload)
    raw = raw[:16] + struct.pack("!H", csum) + raw[18:]
    return Header(4, "TCP", raw, [
        Field("Source port", 0, 2, str(src[1])), Field("Destination port", 2, 4, str(dst[1])),
        Field("Sequence number", 4, 8, "chosen randomly by the kernel (not visible to user space)"),
        Field("Acknowledgment number", 8, 12, "kept by the kernel"),
        Field("Header length, flags", 12, 14, f"20 bytes, {flags}"), Field("Window", 14, 16, "65535"),
        Field("Checksum", 16, 18, f"0x{csum:04x}"), Field("Urgent pointer", 18, 20, "0")],
        note="Ports, length and checksum are real; sequence numbers live in the kernel.")


def ipv4_header(src: str, dst: str, protocol: int, payload_len: int) -> Header:
    total = 20 + payload_len
    raw = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, protocol, 0,
                      ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    csum = checksum16(raw)
    raw = raw[:10] + struct.pack("!H", csum) + raw[12:]
    name = {6: "TCP", 17: "UDP"}.get(protocol, str(protocol))
    return Header(3, "IPv4", raw, [
        Field("Version, header length", 0, 1, "4, 20 bytes"), Field("DSCP/ECN", 1, 2, "0"),
        Field("Total length", 2, 4, str(total)), Field("Identification", 4, 6, "0"),
        Field("Flags, fragment offset", 6, 8, "Don't Fragment"), Field("TTL", 8, 9, "64"),
        Field("Protocol", 9, 10, f"{protocol} ({name})"), Field("Header checksum", 10, 12, f"0x{csum:04x}"),
        Field("Source address", 12, 16, src), Field("Destination address", 16, 20, dst)])


def ethernet_header() -> Header:
    raw = b"\0" * 12 + struct.pack("!H", 0x0800)
    return Header(2, "Ethernet II", raw, [
        Field("Destination MAC", 0, 6, "00:00:00:00:00:00"), Field("Source MAC", 6, 12, "00:00:00:00:00:00"),
        Field("EtherType", 12, 14, "0x0800 (IPv4)")], observed=False,
        note="Loopback has no Ethernet; this frame header is what the message would carry on a LAN, with the "
             "loopback device's all-zero addresses.")


def dns_fields(payload: bytes) -> list[Field]:
    if len(payload) < 12:
        return [Field("Malformed DNS message", 0, len(payload))]
    ident, flags, qd, an, ns, ar = struct.unpack("!6H", payload[:12])
    fields = [Field("ID", 0, 2, str(ident)), Field("Flags", 2, 4, f"0x{flags:04x}"),
              Field("Questions", 4, 6, str(qd)), Field("Answers", 6, 8, str(an)),
              Field("Authority", 8, 10, str(ns)), Field("Additional", 10, 12, str(ar))]
    pos = 12
    while pos < len(payload) and payload[pos] != 0 and payload[pos] < 64:
        pos += 1 + payload[pos]
    if qd and pos + 5 <= len(payload):
        fields += [Field("Question name", 12, pos + 1), Field("Question type", pos + 1, pos + 3),
                   Field("Question class", pos + 3, pos + 5)]
        if pos + 5 < len(payload):
            fields.append(Field("Resource records", pos + 5, len(payload)))
    return fields


def http_fields(payload: bytes) -> list[Field]:
    fields = []
    first_end = payload.find(b"\r\n")
    if first_end < 0:
        return [Field("HTTP data", 0, len(payload))]
    fields.append(Field("Start line", 0, first_end + 2, payload[:first_end].decode("latin-1")))
    head_end = payload.find(b"\r\n\r\n")
    head_end = len(payload) if head_end < 0 else head_end + 2
    if head_end > first_end + 2:
        fields.append(Field("Header fields", first_end + 2, head_end))
    if head_end + 2 <= len(payload):
        fields.append(Field("Empty line (end of head)", head_end, head_end + 2))
    if head_end + 2 < len(payload):
        fields.append(Field("Body", head_end + 2, len(payload)))
    return fields


def decode_dns(payload: bytes) -> str:
    try:
        return str(DNSRecord.parse(payload))
    except Exception as exc:  # noqa: BLE001 - show what is wrong instead of failing the page
        return f"(does not parse as DNS: {exc})"


def hexdump_rows(data: bytes, fields: list[Field], *, width: int = 16) -> list[list[tuple[str, int]]]:
    """Rows of (hex byte, field index or -1), for highlighting fields in the dump."""
    owner = [-1] * len(data)
    for index, f in enumerate(fields):
        for i in range(max(0, f.start), min(len(data), f.end)):
            owner[i] = index
    return [[(f"{data[i]:02x}", owner[i]) for i in range(start, min(start + width, len(data)))]
            for start in range(0, len(data), width)]
