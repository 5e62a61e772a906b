"""A walk's frames as stored data: captured ones dissected, or rebuilt ones built from events.

Both produce the same dict per frame (see docs/capture.md), so the page, the pcapng download and
the tests never ask which mode they are in except to say it.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from ..events import Kind, LabEvent
from ..packets import checksum16
from .dissect import Conversation, dissect
from .sniffer import NEEDS_PRIVILEGE, WalkCapture

AppPorts = Mapping[tuple[str, int], str]
#: Events whose bytes are one message on the wire, per transport.
MESSAGE_KINDS = {"udp": (Kind.QUERY, Kind.ANSWER, Kind.REFERRAL),
                 "tcp": (Kind.REQUEST, Kind.RESPONSE, Kind.QUERY, Kind.ANSWER, Kind.TLS_RECORD)}
#: What a rebuilt frame cannot know: user space never sees these values.
REBUILT_UNKNOWN = ("tcp.seq", "ip.id", "ip.ttl", "tcp.window", "tcp.checksum")


def app_ports(endpoints: Mapping[str, Any]) -> dict[tuple[str, int], str]:
    """``(transport, port) → application protocol`` from ``Lab.endpoints()``."""
    roles = {"root": "dns", "tld": "dns", "authoritative": "dns", "resolver": "dns", "l4": "http", "l7": "http",
             "backends": "http", "l4_tls": "tls", "tls_front": "tls", "backends_tls": "tls", "quic_l4": "quic",
             "quic_l7": "quic"}
    ports: dict[tuple[str, int], str] = {}
    for role, app in roles.items():
        value = endpoints.get(role)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Mapping) and isinstance(item.get("port"), int):
                transports = ("udp",) if app == "quic" else ("udp", "tcp") if app == "dns" else ("tcp",)
                for transport in transports:
                    ports[(transport, item["port"])] = app
    return ports


def _app_for(ports: AppPorts, transport: str, src_port: int, dst_port: int) -> str | None:
    return ports.get((transport, dst_port)) or ports.get((transport, src_port))


def _frame_dict(number: int, ts_ns: int, ts: float, data: bytes, *, ports: AppPorts,
                conversations: dict[frozenset, Conversation], flows: dict[frozenset, int], captured: bool,
                unknown: frozenset[str] = frozenset(), comment: str = "") -> dict[str, Any]:
    ihl = (data[14] & 0x0F) * 4 if len(data) > 14 else 20
    l4 = 14 + ihl
    transport = {6: "tcp", 17: "udp"}.get(data[23] if len(data) > 23 else 0)
    app = None
    key: frozenset | None = None
    if transport and len(data) >= l4 + 4:
        sport, dport = struct.unpack_from("!HH", data, l4)
        app = _app_for(ports, transport, sport, dport)
        key = frozenset(((socket.inet_ntoa(data[26:30]), sport), (socket.inet_ntoa(data[30:34]), dport), transport))
    conv = conversations.setdefault(key, Conversation()) if key is not None and transport == "tcp" else None
    result = dissect(data, app=app, conversation=conv, unknown=unknown, brief=True)
    if key is not None and key not in flows:
        flows[key] = len(flows)
    frame: dict[str, Any] = {"no": number, "ts_ns": ts_ns, "ts": ts, "src": list(result.src) if result.src else None,
             "dst": list(result.dst) if result.dst else None, "transport": transport,
             "flow": flows.get(key) if key is not None else None, "protocol": result.protocol, "app": app,
             "length": len(data), "info": result.info, "hex": data.hex(), "captured": captured}
    if unknown:
        frame["unknown"] = sorted(unknown)
    if comment:
        frame["comment"] = comment
    return frame


def frames_from_capture(capture: WalkCapture, ports: AppPorts) -> list[dict[str, Any]]:
    """The captured frames in kernel-timestamp order (the order tshark shows), dissected."""
    conversations: dict[frozenset, Conversation] = {}
    flows: dict[frozenset, int] = {}
    ordered = sorted(capture.frames, key=lambda f: f.ts_ns)
    return [_frame_dict(n, f.ts_ns, capture.perf_seconds(f.ts_ns), f.data, ports=ports,
                        conversations=conversations, flows=flows, captured=True)
            for n, f in enumerate(ordered, start=1)]


# -- Rebuilt frames -----------------------------------------------------------------------------
def frames_from_events(events: Iterable[LabEvent], ports: AppPorts, *, clock_offset_ns: int,
                       reason: str = NEEDS_PRIVILEGE) -> list[dict[str, Any]]:
    """Frames rebuilt from what the lab's own sockets saw: real addresses, ports and payloads;
    SYN/SYN-ACK/ACK for each connection the client or a balancer opened, FIN/ACK exchanges for
    each close. Sequence numbers are relative (counted from 0: the kernel's ISN is unknown)."""
    builder = _Rebuilder()
    seen_payloads: set[tuple] = set()
    for event in sorted(events, key=lambda e: e.ts):
        if event.src is None or event.dst is None or ":" in event.src.host or ":" in event.dst.host:
            continue
        src, dst = (event.src.host, event.src.port), (event.dst.host, event.dst.port)
        if event.transport == "tcp" and event.kind == Kind.CONNECT:
            builder.handshake(event.ts, src, dst)
        elif event.transport == "tcp" and event.kind == Kind.CLOSE:
            builder.close(event.ts, src, dst)
        elif event.data and event.kind in MESSAGE_KINDS.get(event.transport or "", ()):
            key = (event.transport, src, dst, event.data)  # sender and receiver report the same bytes: one frame
            if key not in seen_payloads:
                seen_payloads.add(key)
                (builder.udp if event.transport == "udp" else builder.segment)(event.ts, src, dst, event.data)
    conversations: dict[frozenset, Conversation] = {}
    flows: dict[frozenset, int] = {}
    comment = f"rebuilt from real values: {reason}"
    built = sorted(builder.frames, key=lambda item: item[0])
    return [_frame_dict(n, int(ts * 1e9) + clock_offset_ns, ts, data, ports=ports, conversations=conversations,
                        flows=flows, captured=False, unknown=frozenset(REBUILT_UNKNOWN), comment=comment)
            for n, (ts, data) in enumerate(built, start=1)]


class _Rebuilder:
    """Builds consistent segments: each side's relative sequence number grows by what it sent."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.next_seq: dict[tuple, int] = {}
        self.closed: set[frozenset] = set()
        self.tick = 0

    def _ts(self, ts: float) -> float:
        self.tick += 1
        return ts + self.tick * 1e-9  # keep the order of segments rebuilt from one event

    def udp(self, ts: float, src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> None:
        length = 8 + len(payload)
        pseudo = _pseudo(src[0], dst[0], 17, length)
        header = struct.pack("!HHHH", src[1], dst[1], length, 0)
        csum = checksum16(pseudo + header + payload) or 0xFFFF
        datagram = header[:6] + struct.pack("!H", csum) + payload
        self.frames.append((self._ts(ts), _ip_frame(src[0], dst[0], 17, datagram)))

    def _tcp(self, ts: float, src: tuple[str, int], dst: tuple[str, int], flags: int, payload: bytes = b"") -> None:
        seq = self.next_seq.get((src, dst), 0)
        ack = self.next_seq.get((dst, src), 0)
        header = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack if flags & 0x10 else 0, 5 << 4, flags, 65535, 0, 0)
        csum = checksum16(_pseudo(src[0], dst[0], 6, len(header) + len(payload)) + header + payload)
        header = header[:16] + struct.pack("!H", csum) + header[18:]
        self.frames.append((self._ts(ts), _ip_frame(src[0], dst[0], 6, header + payload)))
        self.next_seq[(src, dst)] = (seq + len(payload) + (1 if flags & 0x03 else 0)) & 0xFFFFFFFF

    def handshake(self, ts: float, client: tuple[str, int], server: tuple[str, int]) -> None:
        self._tcp(ts, client, server, 0x02)
        self._tcp(ts, server, client, 0x12)
        self._tcp(ts, client, server, 0x10)

    def segment(self, ts: float, src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> None:
        self._tcp(ts, src, dst, 0x18, payload)

    def close(self, ts: float, a: tuple[str, int], b: tuple[str, int]) -> None:
        key = frozenset((a, b))
        if key in self.closed or (a, b) not in self.next_seq:
            return
        self.closed.add(key)
        self._tcp(ts, a, b, 0x11)
        self._tcp(ts, b, a, 0x11)
        self._tcp(ts, a, b, 0x10)


def _pseudo(src: str, dst: str, protocol: int, length: int) -> bytes:
    return ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed + struct.pack("!BBH", 0, protocol,
                                                                                               length)


def _ip_frame(src: str, dst: str, protocol: int, segment: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(segment), 0, 0x4000, 64, protocol, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    header = header[:10] + struct.pack("!H", checksum16(header)) + header[12:]
    return b"\0" * 12 + b"\x08\x00" + header + segment
