"""Sans-I/O dissection of one captured loopback frame: Ethernet II, IPv4, TCP or UDP, and the
lab's application protocols (DNS, HTTP/1.1, TLS record headers, QUIC), into a tree of named
fields with byte ranges in the *whole frame*, as Wireshark's middle pane shows them.

Pure functions of bytes: no sockets, no clock. A frame that ends early still dissects as far as
its bytes go (a field is never read past the end); what cannot be told is said, not guessed.

``Conversation`` holds what Wireshark keeps per TCP stream to print relative sequence numbers:
the first sequence number each side used.
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from ..dnsparse import parsed
from ..tls.records import CONTENT_TYPES, HANDSHAKE_TYPES, VERSIONS

ETHERTYPES = {0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP"}
IP_PROTOCOLS = {6: "TCP", 17: "UDP", 1: "ICMP"}
TCP_FLAGS = ((0x100, "AE"), (0x80, "CWR"), (0x40, "ECE"), (0x20, "URG"), (0x10, "ACK"), (0x08, "PSH"),
             (0x04, "RST"), (0x02, "SYN"), (0x01, "FIN"))
#: The order Wireshark's Info column names flags in: [SYN, ACK], [FIN, ACK], [PSH, ACK].
INFO_FLAG_ORDER = ((0x01, "FIN"), (0x02, "SYN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"), (0x20, "URG"),
                   (0x40, "ECE"), (0x80, "CWR"))
TCP_OPTIONS = {0: "End of option list", 1: "No-Operation", 2: "Maximum segment size", 3: "Window scale",
               4: "SACK permitted", 5: "SACK", 8: "Timestamps"}


@dataclass
class Node:
    name: str
    value: str
    start: int
    end: int
    unknown: bool = False
    children: list[Node] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "start": self.start, "end": self.end,
                "unknown": self.unknown, "children": [c.as_dict() for c in self.children]}


@dataclass
class Layer:
    short: str  # Ethernet, IPv4, TCP, UDP, DNS, HTTP, TLS, QUIC
    protocol: str  # Wireshark's long name
    layer: int  # OSI layer number
    start: int
    end: int
    summary: str
    fields: list[Node] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"short": self.short, "protocol": self.protocol, "layer": self.layer, "start": self.start,
                "end": self.end, "summary": self.summary, "fields": [f.as_dict() for f in self.fields]}


@dataclass
class Dissection:
    layers: list[Layer]
    protocol: str  # the highest layer's short name
    info: str
    src: tuple[str, int] | None = None
    dst: tuple[str, int] | None = None
    transport: str | None = None
    tcp_flags: int = 0
    seq: int = 0
    ack: int = 0
    payload: bytes = b""


@dataclass
class Conversation:
    """First sequence number per side of one TCP stream (Wireshark's relative numbering)."""

    base: dict[tuple[str, int], int] = field(default_factory=dict)

    def relative(self, side: tuple[str, int], value: int) -> int | None:
        base = self.base.get(side)
        return None if base is None else (value - base) & 0xFFFFFFFF


def flag_names(flags: int) -> str:
    return ", ".join(name for bit, name in TCP_FLAGS if flags & bit) or "none"


def dissect(frame: bytes, *, app: str | None = None, conversation: Conversation | None = None,
            unknown: frozenset[str] = frozenset(), brief: bool = False) -> Dissection:
    """Dissect one Ethernet frame. ``app`` names the application protocol the lab runs on the
    frame's port ("dns", "http", "tls", "quic"); ``conversation`` gives relative TCP numbers and
    learns the stream's first sequence numbers; ``unknown`` names fields user space could not see
    (rebuilt frames), which are marked rather than passed off as real."""
    layers: list[Layer] = []
    if len(frame) < 14:
        return Dissection([], "Ethernet", "frame shorter than an Ethernet header")
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if brief and ethertype == 0x0800 and len(frame) >= 34:
        # Only what the packet list needs (addresses, protocol, Info): no field trees.
        ihl = (frame[14] & 0x0F) * 4
        ip_end = min(len(frame), 14 + struct.unpack_from("!H", frame, 16)[0])
        ip = Layer("IPv4", "Internet Protocol Version 4", 3, 14, 14 + ihl, "")
        layers = [ip]
    else:
        ip = None
    if ip is None:
        layers.append(Layer("Ethernet", "Ethernet II", 2, 0, 14, f"Src: {_mac(frame[6:12])}, Dst: {_mac(frame[0:6])}", [
        Node("Destination", _mac(frame[0:6]), 0, 6), Node("Source", _mac(frame[6:12]), 6, 12),
        Node("Type", f"{ETHERTYPES.get(ethertype, 'unknown')} (0x{ethertype:04x})", 12, 14)]))
    if ethertype != 0x0800 or len(frame) < 34:
        return Dissection(layers, "Ethernet", f"EtherType 0x{ethertype:04x}")
    if ip is None:
        ip, ip_end = _ipv4(frame, unknown)
        layers.append(ip)
    proto = frame[23]
    src_ip, dst_ip = socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])
    l4 = ip.end
    if proto == 6 and len(frame) >= l4 + 20:
        return _tcp(frame, l4, ip_end, src_ip, dst_ip, layers, app, conversation, unknown, brief)
    if proto == 17 and len(frame) >= l4 + 8:
        return _udp(frame, l4, ip_end, src_ip, dst_ip, layers, app, brief)
    return Dissection(layers, "IPv4", f"{src_ip} → {dst_ip} protocol {proto}")


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _ipv4(frame: bytes, unknown: frozenset[str]) -> tuple[Layer, int]:
    b = 14
    ver_ihl, tos, total, ident, frag, ttl, proto, csum = struct.unpack_from("!BBHHHBBH", frame, b)
    ihl = (ver_ihl & 0x0F) * 4
    end = min(len(frame), b + total)
    flags = frag >> 13
    flag_text = ", ".join(n for bit, n in ((2, "Don't fragment"), (1, "More fragments")) if flags & bit) or "none"
    src, dst = socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])
    fields = [
        Node("Version", str(ver_ihl >> 4), b, b + 1), Node("Header Length", f"{ihl} bytes ({ihl // 4})", b, b + 1),
        Node("Differentiated Services Field", f"0x{tos:02x} (DSCP {tos >> 2}, ECN {tos & 3})", b + 1, b + 2),
        Node("Total Length", str(total), b + 2, b + 4),
        Node("Identification", f"0x{ident:04x} ({ident})", b + 4, b + 6, unknown="ip.id" in unknown),
        Node("Flags", f"0x{flags:x}: {flag_text}", b + 6, b + 8),
        Node("Fragment Offset", str(frag & 0x1FFF), b + 6, b + 8),
        Node("Time to Live", str(ttl), b + 8, b + 9, unknown="ip.ttl" in unknown),
        Node("Protocol", f"{IP_PROTOCOLS.get(proto, 'unknown')} ({proto})", b + 9, b + 10),
        Node("Header Checksum", f"0x{csum:04x} [{'correct' if _ip_checksum_ok(frame[b:b + ihl]) else 'incorrect'}]",
             b + 10, b + 12, unknown="ip.id" in unknown),
        Node("Source Address", src, b + 12, b + 16), Node("Destination Address", dst, b + 16, b + 20)]
    layer = Layer("IPv4", "Internet Protocol Version 4", 3, b, b + ihl, f"Src: {src}, Dst: {dst}", fields)
    return layer, end


def _ip_checksum_ok(header: bytes) -> bool:
    if len(header) % 2:
        return False
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def _tcp(frame: bytes, b: int, ip_end: int, src_ip: str, dst_ip: str, layers: list[Layer], app: str | None,
         conv: Conversation | None, unknown: frozenset[str], brief: bool = False) -> Dissection:
    sport, dport, seq, ack, off_flags, window, csum, urg = struct.unpack_from("!HHIIHHHH", frame, b)
    hlen = (off_flags >> 12) * 4
    flags = off_flags & 0x01FF
    src, dst = (src_ip, sport), (dst_ip, dport)
    payload = frame[b + hlen:ip_end]
    if conv is not None and src not in conv.base:
        # As Wireshark: a side first seen without its SYN (a RST refusing a SYN) counts from 1.
        conv.base[src] = seq if flags & 0x02 else (seq - 1) & 0xFFFFFFFF
    rel_seq = conv.relative(src, seq) if conv else None
    rel_ack = conv.relative(dst, ack) if conv and flags & 0x10 else None
    seq_unknown = "tcp.seq" in unknown

    def numbered(name: str, raw: int, rel: int | None, start: int) -> Node:
        if seq_unknown:
            return Node(name, f"{rel if rel is not None else raw} (relative; the real number lives in the kernel)",
                        start, start + 4, unknown=True)
        text = f"{rel} (relative), raw {raw}" if rel is not None else str(raw)
        return Node(name, text, start, start + 4)

    flag_short = ", ".join(n for bit, n in INFO_FLAG_ORDER if flags & bit)
    shown_seq = rel_seq if rel_seq is not None else seq
    info = f"{sport} → {dport} [{flag_short}] Seq={shown_seq}"
    if flags & 0x10:
        info += f" Ack={rel_ack if rel_ack is not None else ack}"
    info += f" Win={window} Len={len(payload)}"
    if brief:
        layers.append(Layer("TCP", "Transmission Control Protocol", 4, b, b + hlen, ""))
        result = Dissection(layers, "TCP", info, src, dst, "tcp", flags, seq, ack, payload)
        if payload:
            _application(result, frame, b + hlen, ip_end, app, "tcp", brief=True)
        return result
    flag_node = Node("Flags", f"0x{flags:03x} ({flag_names(flags)})", b + 12, b + 14, children=[
        Node(name, "Set" if flags & bit else "Not set", b + 12, b + 14) for bit, name in TCP_FLAGS])
    fields = [Node("Source Port", str(sport), b, b + 2), Node("Destination Port", str(dport), b + 2, b + 4),
              numbered("Sequence Number", seq, rel_seq, b + 4),
              numbered("Acknowledgment Number", ack, rel_ack if flags & 0x10 else None, b + 8)
              if flags & 0x10 else Node("Acknowledgment Number", f"{ack} (not used: ACK not set)", b + 8, b + 12),
              Node("Header Length", f"{hlen} bytes ({hlen // 4})", b + 12, b + 13), flag_node,
              Node("Window", str(window), b + 14, b + 16, unknown="tcp.window" in unknown),
              Node("Checksum", f"0x{csum:04x} [unverified: on loopback the kernel leaves it to offload]"
                   if "tcp.checksum" not in unknown else f"0x{csum:04x} (computed here over the rebuilt segment)",
                   b + 16, b + 18),
              Node("Urgent Pointer", str(urg), b + 18, b + 20)]
    if hlen > 20:
        fields.append(_tcp_options(frame, b + 20, b + hlen))
    if payload:
        fields.append(Node("TCP payload", f"{len(payload)} bytes", b + hlen, ip_end))
    summary = f"Src Port: {sport}, Dst Port: {dport}, Seq: {shown_seq}" + (
        f", Ack: {rel_ack if rel_ack is not None else ack}" if flags & 0x10 else "") + f", Len: {len(payload)}"
    layers.append(Layer("TCP", "Transmission Control Protocol", 4, b, b + hlen, summary, fields))
    result = Dissection(layers, "TCP", info, src, dst, "tcp", flags, seq, ack, payload)
    if payload:
        _application(result, frame, b + hlen, ip_end, app, "tcp")
    return result


def _tcp_options(frame: bytes, start: int, end: int) -> Node:
    end = min(end, len(frame))  # a header length that points past the frame: dissect what is there
    node = Node("Options", f"{max(0, end - start)} bytes", start, end)
    pos = start
    while pos < end:
        kind = frame[pos]
        if kind in (0, 1):
            node.children.append(Node(TCP_OPTIONS[kind], "", pos, pos + 1))
            pos += 1
            continue
        if pos + 1 >= end or frame[pos + 1] < 2:
            node.children.append(Node("Malformed option", f"kind {kind}", pos, end))
            break
        length = frame[pos + 1]
        body = frame[pos + 2:pos + length]
        value = ""
        if kind == 2 and len(body) == 2:
            value = str(struct.unpack("!H", body)[0])
        elif kind == 3 and len(body) == 1:
            value = f"shift {body[0]} (multiply by {1 << body[0]})"
        elif kind == 8 and len(body) == 8:
            value = "TSval {}, TSecr {}".format(*struct.unpack("!II", body))
        node.children.append(Node(TCP_OPTIONS.get(kind, f"Option {kind}"), value, pos, min(end, pos + length)))
        pos += length
    return node


def _udp(frame: bytes, b: int, ip_end: int, src_ip: str, dst_ip: str, layers: list[Layer],
         app: str | None, brief: bool = False) -> Dissection:
    sport, dport, length, csum = struct.unpack_from("!HHHH", frame, b)
    payload = frame[b + 8:ip_end]
    if brief:
        layers.append(Layer("UDP", "User Datagram Protocol", 4, b, b + 8, ""))
    else:
        layers.append(Layer("UDP", "User Datagram Protocol", 4, b, b + 8,
                            f"Src Port: {sport}, Dst Port: {dport}", [
                                Node("Source Port", str(sport), b, b + 2),
                                Node("Destination Port", str(dport), b + 2, b + 4),
                                Node("Length", str(length), b + 4, b + 6),
                                Node("Checksum", f"0x{csum:04x} [unverified]", b + 6, b + 8),
                                Node("UDP payload", f"{len(payload)} bytes", b + 8, ip_end)]))
    result = Dissection(layers, "UDP", f"{sport} → {dport} Len={len(payload)}", (src_ip, sport), (dst_ip, dport),
                        "udp", payload=payload)
    if payload:
        _application(result, frame, b + 8, ip_end, app, "udp", brief=brief)
    return result


def _application(result: Dissection, frame: bytes, start: int, end: int, app: str | None, transport: str, *,
                 brief: bool = False) -> None:
    """The application layer on top; ``brief``: only its summary (the Info column), no field tree."""
    payload = frame[start:end]
    if app == "dns":
        offset = start + (2 if transport == "tcp" else 0)
        if transport == "tcp" and len(payload) < 14:
            return
        layer = dns_layer(frame[offset:end], offset, length_prefix=start if transport == "tcp" else None,
                          brief=brief)
    elif app == "http":
        layer = http_layer(payload, start, brief=brief)
    elif app == "tls" and transport == "tcp":
        layer = tls_layer(payload, start)
    elif app == "quic" and transport == "udp":
        layer = quic_layer(payload, start)
    else:
        return
    if layer is None:
        return
    result.layers.append(layer)
    result.protocol = layer.short
    result.info = layer.summary


def dns_layer(message: bytes, offset: int, *, length_prefix: int | None = None, brief: bool = False) -> Layer | None:
    """The DNS layer; ``brief``: its Info text only (the packet list's), without the field tree
    and the sections' zone-file texts, which cost as much as dnslib's parse."""
    if len(message) < 12:
        return None
    ident, flags, qd, an, ns, ar = struct.unpack_from("!6H", message)
    start = length_prefix if length_prefix is not None else offset
    fields = []
    is_response = bool(flags & 0x8000)
    if not brief:
        if length_prefix is not None:
            fields.append(Node("Length", str(len(message)), length_prefix, length_prefix + 2))
        fields += [Node("Transaction ID", f"0x{ident:04x}", offset, offset + 2),
                   Node("Flags", f"0x{flags:04x} ({'response' if is_response else 'query'}, "
                                 f"RD={flags >> 8 & 1}, RA={flags >> 7 & 1}, AA={flags >> 10 & 1}, "
                                 f"TC={flags >> 9 & 1}, rcode {flags & 0xF})", offset + 2, offset + 4),
                   Node("Questions", str(qd), offset + 4, offset + 6),
                   Node("Answer RRs", str(an), offset + 6, offset + 8),
                   Node("Authority RRs", str(ns), offset + 8, offset + 10),
                   Node("Additional RRs", str(ar), offset + 10, offset + 12)]
    try:
        record = parsed(message)
    except Exception as exc:  # noqa: BLE001 - say what is wrong instead of failing the page
        if not brief:
            fields.append(Node("Malformed", str(exc), offset + 12, offset + len(message)))
        return Layer("DNS", "Domain Name System", 7, length_prefix or offset, offset + len(message),
                     f"DNS 0x{ident:04x} (malformed)", fields)
    question = record.questions[0] if record.questions else None
    qtext = f"{_qtype(question.qtype)} {str(question.qname).rstrip('.')}" if question else ""
    if not brief:
        sections = [("Answers", record.rr), ("Authoritative nameservers", record.auth),
                    ("Additional records", record.ar)]
        pos = offset + 12
        if question is not None:
            q_end = _skip_question(message, 12)
            fields.append(Node("Queries", qtext, pos, offset + q_end))
            pos = offset + q_end
        for title, rrs in sections:
            if rrs:
                fields.append(Node(title, "; ".join(str(rr).replace("\t", " ") for rr in rrs), pos,
                                   offset + len(message)))
    rcode = {0: "", 2: " server failure", 3: " No such name", 5: " refused"}.get(flags & 0xF, f" rcode {flags & 0xF}")
    if is_response:
        records = " ".join(_rr_text(rr) for rr in (*record.rr, *record.auth, *record.ar))
        info = f"Standard query response 0x{ident:04x}{rcode} {qtext}" + (f" {records}" if records else "")
    else:
        info = f"Standard query 0x{ident:04x} {qtext}"
    return Layer("DNS", "Domain Name System", 7, start, offset + len(message), info, fields)


def _rr_text(rr: object) -> str:
    """A record as Wireshark's Info column names it: type and the first word of its data."""
    kind = _qtype(rr.rtype)  # type: ignore[attr-defined]
    if kind == "OPT":
        return "OPT"
    data = str(rr.rdata).split()  # type: ignore[attr-defined]
    return f"{kind} {data[0].rstrip('.') if data else ''}".strip()


def _qtype(value: int) -> str:
    from dnslib import QTYPE

    return QTYPE.get(value, str(value))


def _skip_question(message: bytes, pos: int) -> int:
    while pos < len(message):
        label = message[pos]
        if label == 0:
            return min(len(message), pos + 5)
        if label & 0xC0 == 0xC0:
            return min(len(message), pos + 6)
        pos += 1 + label
    return len(message)


def http_layer(payload: bytes, offset: int, *, brief: bool = False) -> Layer | None:
    """The HTTP layer; ``brief``: its start line only (the Info column), without the headers."""
    line_end = payload.find(b"\r\n")
    first = payload[:line_end].decode("latin-1") if line_end > 0 else ""
    is_start = first.startswith("HTTP/1.") or any(
        first.startswith(m + " ") and first.endswith((" HTTP/1.1", " HTTP/1.0"))
        for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"))
    if not is_start:
        return Layer("HTTP", "Hypertext Transfer Protocol", 7, offset, offset + len(payload),
                     "Continuation", [] if brief else [Node("Data", f"{len(payload)} bytes", offset,
                                                            offset + len(payload))])
    if brief:
        return Layer("HTTP", "Hypertext Transfer Protocol", 7, offset, offset + len(payload), first)
    fields = [Node("Start line", first, offset, offset + line_end + 2)]
    head_end = payload.find(b"\r\n\r\n")
    head_end = len(payload) if head_end < 0 else head_end + 2
    pos = line_end + 2
    while pos < head_end:
        nxt = payload.find(b"\r\n", pos)
        nxt = head_end if nxt < 0 or nxt > head_end else nxt
        line = payload[pos:nxt].decode("latin-1")
        if line:
            name, _, value = line.partition(":")
            fields.append(Node(name.strip(), value.strip(), offset + pos, offset + nxt + 2))
        pos = nxt + 2
    if head_end + 2 <= len(payload):
        fields.append(Node("End of head", "\\r\\n", offset + head_end, offset + head_end + 2))
    if head_end + 2 < len(payload):
        fields.append(Node("Body", f"{len(payload) - head_end - 2} bytes", offset + head_end + 2,
                           offset + len(payload)))
    return Layer("HTTP", "Hypertext Transfer Protocol", 7, offset, offset + len(payload), first, fields)


def tls_layer(payload: bytes, offset: int) -> Layer | None:
    pos, names, fields = 0, [], []
    while pos + 5 <= len(payload):
        ctype, version, length = struct.unpack_from("!BHH", payload, pos)
        if ctype not in CONTENT_TYPES:
            break
        end = min(len(payload), pos + 5 + length)
        label = CONTENT_TYPES[ctype]
        if ctype == 22 and pos + 5 < len(payload):
            label = HANDSHAKE_TYPES.get(payload[pos + 5], f"handshake type {payload[pos + 5]}")
        pretty = label.replace("_", " ").title().replace("Tls", "TLS")
        names.append(pretty)
        fields.append(Node(f"TLS record: {pretty}", f"{CONTENT_TYPES[ctype]}, {VERSIONS.get(version, hex(version))}, "
                                                    f"{length} bytes", offset + pos, offset + end, children=[
                               Node("Content Type", f"{CONTENT_TYPES[ctype]} ({ctype})", offset + pos,
                                    offset + pos + 1),
                               Node("Version", VERSIONS.get(version, hex(version)), offset + pos + 1, offset + pos + 3),
                               Node("Length", str(length), offset + pos + 3, offset + pos + 5)]))
        pos += 5 + length
    if not fields:
        return Layer("TLS", "Transport Layer Security", 6, offset, offset + len(payload), "Continuation Data",
                     [Node("Data", f"{len(payload)} bytes", offset, offset + len(payload))])
    return Layer("TLS", "Transport Layer Security", 6, offset, offset + len(payload), ", ".join(names), fields)


def quic_layer(payload: bytes, offset: int) -> Layer:
    first = payload[0] if payload else 0
    if first & 0x80:
        kind = {0: "Initial", 1: "0-RTT", 2: "Handshake", 3: "Retry"}[(first >> 4) & 3]
        summary = f"{kind} (long header)"
    else:
        summary = "Protected Payload (short header)"
    return Layer("QUIC", "QUIC IETF", 4, offset, offset + len(payload), summary,
                 [Node("Header form", "long" if first & 0x80 else "short", offset, offset + 1),
                  Node("Packets", f"{len(payload)} bytes, encrypted", offset, offset + len(payload))])
