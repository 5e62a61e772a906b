"""A sans-I/O reader of TLS records and of the two handshake messages TLS 1.3 sends in clear.

Theory of operation
-------------------
TLS sits between TCP and HTTP (the "presentation" layer 6 of the OSI picture): TCP delivers a
byte stream, TLS cuts it into *records* of at most 2^14 bytes of plaintext, each with a 5-byte
header ``type(1) version(2) length(2)``. :class:`RecordReader` is fed whatever bytes arrived and
hands out complete records, keeping any partial one for the next feed (TCP may split or join
records arbitrarily). A header that cannot be TLS (unknown type, absurd length) raises
:class:`TlsParseError`: a reader must never wait for 60 kB that will never come.

In TLS 1.3 only ClientHello and ServerHello travel in clear. From ServerHello on, both sides
switch to handshake keys, and every record is disguised as ``application_data`` (type 23) with the
real type hidden inside the ciphertext; a ``change_cipher_spec`` record (type 20) may still appear
for middlebox compatibility (RFC 8446 appendix D.4). :class:`TlsObserver` follows both directions
of one connection and marks records encrypted exactly then.

Every parse is bounded by the record's own length fields and checks each length before use:
malformed input gives ``TlsParseError`` with a message saying which field was wrong, never an
IndexError or a read past the end.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

MAX_RECORD = 2**14 + 256  # RFC 8446 5.2: ciphertext may exceed 2^14 by at most 256
CONTENT_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data", 24: "heartbeat"}
HANDSHAKE_TYPES = {1: "client_hello", 2: "server_hello", 4: "new_session_ticket", 8: "encrypted_extensions",
                   11: "certificate", 13: "certificate_request", 15: "certificate_verify", 20: "finished"}
VERSIONS = {0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
CIPHER_SUITES = {
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384", 0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", 0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", 0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", 0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
}
GROUPS = {0x001D: "x25519", 0x001E: "x448", 0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1",
          0x0100: "ffdhe2048", 0x0101: "ffdhe3072", 0x0102: "ffdhe4096", 0x0103: "ffdhe6144", 0x0104: "ffdhe8192",
          0x11EC: "X25519MLKEM768"}
EXTENSIONS = {0: "server_name", 10: "supported_groups", 11: "ec_point_formats", 13: "signature_algorithms",
              16: "application_layer_protocol_negotiation", 21: "padding", 22: "encrypt_then_mac",
              23: "extended_master_secret", 35: "session_ticket", 41: "pre_shared_key", 42: "early_data",
              43: "supported_versions", 44: "cookie", 45: "psk_key_exchange_modes", 49: "post_handshake_auth",
              51: "key_share", 57: "quic_transport_parameters", 65281: "renegotiation_info"}
#: ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3): SHA-256("HelloRetryRequest").
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


class TlsParseError(ValueError):
    """The bytes are not (well-formed) TLS; the message names the field that was wrong."""


def _name(table: dict[int, str], value: int) -> str:
    return table.get(value, f"0x{value:04x}")


class _Cursor:
    """Bounds-checked reads over one buffer: every read names its field for the error message."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int, field_name: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TlsParseError(f"{self.what}: {field_name} needs {n} bytes, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self, f: str) -> int:
        return self.take(1, f)[0]

    def u16(self, f: str) -> int:
        return int(struct.unpack("!H", self.take(2, f))[0])

    def u24(self, f: str) -> int:
        return int.from_bytes(self.take(3, f), "big")

    def vec(self, length_bytes: int, f: str) -> bytes:
        n = int.from_bytes(self.take(length_bytes, f + " length"), "big")
        return self.take(n, f)

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


@dataclass(frozen=True)
class TlsRecord:
    content_type: int
    version: int
    fragment: bytes

    @property
    def length(self) -> int:
        return len(self.fragment)

    @property
    def type_name(self) -> str:
        return CONTENT_TYPES.get(self.content_type, f"unknown({self.content_type})")

    @property
    def raw(self) -> bytes:
        return struct.pack("!BHH", self.content_type, self.version, len(self.fragment)) + self.fragment


class RecordReader:
    """Feed stream bytes, get complete records. Holds at most one partial record."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[TlsRecord]:
        self._buffer += data
        records: list[TlsRecord] = []
        while len(self._buffer) >= 5:
            ctype, version, length = struct.unpack("!BHH", self._buffer[:5])
            if ctype not in CONTENT_TYPES:
                raise TlsParseError(f"record header: content type {ctype} is not a TLS record type")
            if version >> 8 != 3:
                raise TlsParseError(f"record header: version 0x{version:04x} is not TLS")
            if length > MAX_RECORD:
                raise TlsParseError(f"record header: length {length} exceeds the maximum {MAX_RECORD}")
            if len(self._buffer) < 5 + length:
                break
            records.append(TlsRecord(ctype, version, bytes(self._buffer[5:5 + length])))
            del self._buffer[:5 + length]
        return records

    @property
    def pending(self) -> int:
        """Bytes of a record still incomplete (a truncated stream leaves them here)."""
        return len(self._buffer)


@dataclass(frozen=True)
class ClientHello:
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suites: list[int]
    extensions: list[tuple[int, int]]  # (type, length) in wire order
    sni: str | None = None
    alpn: list[str] = field(default_factory=list)
    supported_groups: list[int] = field(default_factory=list)
    key_shares: list[tuple[int, int]] = field(default_factory=list)  # (group, key length)
    supported_versions: list[int] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": "ClientHello", "legacy_version": _name(VERSIONS, self.legacy_version),
            "random": self.random.hex(), "session_id_len": len(self.session_id), "sni": self.sni, "alpn": self.alpn,
            "cipher_suites": [_name(CIPHER_SUITES, c) for c in self.cipher_suites],
            "supported_groups": [_name(GROUPS, g) for g in self.supported_groups],
            "key_shares": [{"group": _name(GROUPS, g), "key_bytes": n} for g, n in self.key_shares],
            "supported_versions": [_name(VERSIONS, v) for v in self.supported_versions],
            "signature_algorithms": [f"0x{s:04x}" for s in self.signature_algorithms],
            "extensions": [{"type": _name(EXTENSIONS, t), "length": n} for t, n in self.extensions],
        }


@dataclass(frozen=True)
class ServerHello:
    legacy_version: int
    random: bytes
    cipher_suite: int
    extensions: list[tuple[int, int]]
    selected_version: int | None = None
    key_share_group: int | None = None
    hello_retry: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": "HelloRetryRequest" if self.hello_retry else "ServerHello",
            "legacy_version": _name(VERSIONS, self.legacy_version), "random": self.random.hex(),
            "cipher_suite": _name(CIPHER_SUITES, self.cipher_suite),
            "selected_version": _name(VERSIONS, self.selected_version) if self.selected_version else None,
            "key_share_group": _name(GROUPS, self.key_share_group) if self.key_share_group is not None else None,
            "extensions": [{"type": _name(EXTENSIONS, t), "length": n} for t, n in self.extensions],
        }


def split_handshake(fragment: bytes) -> list[tuple[int, bytes]]:
    """Handshake messages in one record: ``type(1) length(3) body``. A message split across
    records is reported as an error (the lab's hellos always fit in one record)."""
    cur = _Cursor(fragment, "handshake")
    out = []
    while cur.left:
        msg_type = cur.u8("msg_type")
        body = cur.take(cur.u24("length"), f"{_name(HANDSHAKE_TYPES, msg_type)} body")
        out.append((msg_type, body))
    return out


def _extensions(cur: _Cursor, what: str) -> list[tuple[int, bytes]]:
    if not cur.left:
        return []
    block = _Cursor(cur.vec(2, "extensions"), what + " extensions")
    out = []
    while block.left:
        ext_type = block.u16("extension type")
        out.append((ext_type, block.vec(2, f"extension {_name(EXTENSIONS, ext_type)}")))
    if cur.left:
        raise TlsParseError(f"{what}: {cur.left} bytes after the extensions")
    return out


def _u16_list(data: bytes, what: str, length_bytes: int = 2) -> list[int]:
    cur = _Cursor(data, what)
    inner = cur.vec(length_bytes, what)
    if len(inner) % 2:
        raise TlsParseError(f"{what}: odd length {len(inner)}")
    return [int.from_bytes(inner[i:i + 2], "big") for i in range(0, len(inner), 2)]


def parse_client_hello(body: bytes) -> ClientHello:
    cur = _Cursor(body, "ClientHello")
    legacy_version = cur.u16("legacy_version")
    random = cur.take(32, "random")
    session_id = cur.vec(1, "legacy_session_id")
    suites_raw = cur.vec(2, "cipher_suites")
    if len(suites_raw) % 2 or not suites_raw:
        raise TlsParseError(f"ClientHello: cipher_suites length {len(suites_raw)} is not a non-zero even number")
    suites = [int.from_bytes(suites_raw[i:i + 2], "big") for i in range(0, len(suites_raw), 2)]
    cur.vec(1, "legacy_compression_methods")
    exts = _extensions(cur, "ClientHello")
    values: dict[str, Any] = {}
    for ext_type, data in exts:
        if ext_type == 0:
            names = _Cursor(_Cursor(data, "server_name").vec(2, "server_name_list"), "server_name_list")
            while names.left:
                name_type = names.u8("name_type")
                host = names.vec(2, "host_name")
                if name_type == 0:
                    values["sni"] = host.decode("ascii", "replace")
        elif ext_type == 16:
            protos = _Cursor(_Cursor(data, "alpn").vec(2, "protocol_name_list"), "alpn")
            values["alpn"] = []
            while protos.left:
                values["alpn"].append(protos.vec(1, "protocol_name").decode("ascii", "replace"))
        elif ext_type == 10:
            values["supported_groups"] = _u16_list(data, "supported_groups")
        elif ext_type == 13:
            values["signature_algorithms"] = _u16_list(data, "signature_algorithms")
        elif ext_type == 43:
            values["supported_versions"] = _u16_list(data, "supported_versions", length_bytes=1)
        elif ext_type == 51:
            shares = _Cursor(_Cursor(data, "key_share").vec(2, "client_shares"), "key_share")
            values["key_shares"] = []
            while shares.left:
                group = shares.u16("group")
                values["key_shares"].append((group, len(shares.vec(2, "key_exchange"))))
    return ClientHello(legacy_version, random, session_id, suites, [(t, len(d)) for t, d in exts], **values)


def parse_server_hello(body: bytes) -> ServerHello:
    cur = _Cursor(body, "ServerHello")
    legacy_version = cur.u16("legacy_version")
    random = cur.take(32, "random")
    cur.vec(1, "legacy_session_id_echo")
    suite = cur.u16("cipher_suite")
    cur.u8("legacy_compression_method")
    exts = _extensions(cur, "ServerHello")
    selected, group = None, None
    for ext_type, data in exts:
        if ext_type == 43:
            selected = _Cursor(data, "supported_versions").u16("selected_version")
        elif ext_type == 51:
            group = _Cursor(data, "key_share").u16("group")
    return ServerHello(legacy_version, random, suite, [(t, len(d)) for t, d in exts], selected, group,
                       random == HRR_RANDOM)


@dataclass
class ObservedRecord:
    """One record as the walk shows it: who sent it, its real bytes, what can be read of it."""

    direction: str  # "client" | "server" (who sent it)
    record: TlsRecord
    encrypted: bool
    messages: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str:
        if self.encrypted:
            return f"encrypted record ({self.record.length} bytes, outer type application_data)"
        if self.messages:
            return " + ".join(m["message"] for m in self.messages)
        return self.record.type_name


class TlsObserver:
    """Both directions of one TLS connection: records out, hellos decoded, encryption tracked."""

    def __init__(self) -> None:
        self.readers = {"client": RecordReader(), "server": RecordReader()}
        self.client_hello: ClientHello | None = None
        self.server_hello: ServerHello | None = None
        self.keys_active = False

    def feed(self, direction: str, data: bytes) -> list[ObservedRecord]:
        out = []
        for record in self.readers[direction].feed(data):
            encrypted = self.keys_active and record.content_type == 23
            observed = ObservedRecord(direction, record, encrypted)
            if record.content_type == 22 and not self.keys_active:
                try:
                    for msg_type, body in split_handshake(record.fragment):
                        observed.messages.append(self._decode(msg_type, body))
                except TlsParseError as exc:
                    observed.error = str(exc)
            elif record.content_type == 21 and not encrypted and len(record.fragment) == 2:
                observed.messages.append({"message": "Alert", "level": record.fragment[0],
                                          "description": record.fragment[1]})
            out.append(observed)
        return out

    def _decode(self, msg_type: int, body: bytes) -> dict[str, Any]:
        if msg_type == 1:
            self.client_hello = parse_client_hello(body)
            return self.client_hello.as_dict()
        if msg_type == 2:
            self.server_hello = parse_server_hello(body)
            if not self.server_hello.hello_retry and self.server_hello.selected_version == 0x0304:
                self.keys_active = True  # TLS 1.3: everything after ServerHello is encrypted
            return self.server_hello.as_dict()
        return {"message": _name(HANDSHAKE_TYPES, msg_type), "length": len(body)}
