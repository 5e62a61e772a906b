"""Write a walk's frames as pcapng (Wireshark's own format), with an optional TLS key log.

One Section Header Block, one Interface Description Block for ``lo`` with link type 1 (Ethernet:
loopback frames carry a 14-byte header of zero MACs) and nanosecond timestamps, then a Decryption
Secrets Block with the TLS key log in ``SSLKEYLOGFILE`` format when there is one, then one Enhanced
Packet Block per frame. A rebuilt frame carries a comment saying so, so nobody reading the file
mistakes it for a capture.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

LINKTYPE_ETHERNET = 1
SECRETS_TLS_KEYLOG = 0x544C534B
_OPT_END = struct.pack("<HH", 0, 0)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def section_header(application: str = "NetLearn lab capture") -> bytes:
    body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _option(4, application.encode()) + _OPT_END
    return _block(0x0A0D0D0A, body)


def interface_description(name: str = "lo", snaplen: int = 262144) -> bytes:
    body = (struct.pack("<HHI", LINKTYPE_ETHERNET, 0, snaplen) + _option(2, name.encode()) + _option(9, b"\x09")
            + _OPT_END)
    return _block(0x00000001, body)


def decryption_secrets(keylog: str) -> bytes:
    data = keylog.encode()
    return _block(0x0000000A, struct.pack("<II", SECRETS_TLS_KEYLOG, len(data)) + _pad(data))


def enhanced_packet(ts_ns: int, data: bytes, comment: str = "") -> bytes:
    body = struct.pack("<IIIII", 0, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data), len(data)) + _pad(data)
    if comment:
        body += _option(1, comment.encode()) + _OPT_END
    return _block(0x00000006, body)


def pcapng_bytes(frames: Iterable[Mapping], *, keylog: str = "") -> bytes:
    """The whole file for stored frame dicts (``ts_ns``, ``hex``, optional ``comment``)."""
    parts = [section_header(), interface_description()]
    if keylog.strip():
        parts.append(decryption_secrets(keylog if keylog.endswith("\n") else keylog + "\n"))
    for frame in frames:
        parts.append(enhanced_packet(int(frame["ts_ns"]), bytes.fromhex(frame["hex"]), frame.get("comment", "")))
    return b"".join(parts)
