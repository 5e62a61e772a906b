"""VRRP-like advertisements, sans-I/O: 12 bytes on the wire, parsed strictly, checked against the lab.

Wire format (VRRPv3's, RFC 5798 §5.1, IPv4 with one address)::

    0        4        8               16              24              32
    +--------+--------+---------------+---------------+---------------+
    |Version | Type   | Virtual Rtr ID|   Priority    | Count IPvX=1  |
    +--------+--------+---------------+---------------+---------------+
    |(rsvd)  |     Max Adver Int (centiseconds)       |   Checksum    |
    +--------+----------------------------------------+---------------+
    |                    IPv4 virtual address                         |
    +-----------------------------------------------------------------+

Priority 0 means "the master is resigning" (a clean stop: the backup takes over at once instead
of waiting); 255 is reserved for the router that owns the address — no lab node does, so 255 is
treated as forged. The checksum is the Internet checksum over the 12 bytes (real VRRP adds an IP
pseudo-header; we send over UDP on loopback, whose own checksum already covers the transport).

:class:`AdvertPolicy` is the lab's trust rule: an advertisement must come from a configured peer,
for our VRID and virtual address, with that peer's configured priority (or 0). Anything else is
a forgery and is reported, never acted on.
"""
from __future__ import annotations

import ipaddress
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from ..packets import checksum16

VERSION = 3
TYPE_ADVERTISEMENT = 1
SIZE = 12
_FORMAT = "!BBBBHH4s"


class AdvertError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Advertisement:
    vrid: int
    priority: int
    interval: float  # seconds, sent as centiseconds
    address: str
    version: int = VERSION

    def serialize(self) -> bytes:
        centis = round(self.interval * 100)
        if not 0 < centis < 4096:
            raise AdvertError("bad_interval", "the interval must be 0.01-40.95 s")
        if not (0 <= self.vrid <= 255 and 0 <= self.priority <= 255):
            raise AdvertError("bad_field", "vrid and priority are single bytes")
        header = struct.pack(_FORMAT, (self.version << 4) | TYPE_ADVERTISEMENT, self.vrid, self.priority, 1,
                             centis, 0, ipaddress.IPv4Address(self.address).packed)
        return header[:6] + struct.pack("!H", internet_checksum(header)) + header[8:]


def parse(data: bytes) -> Advertisement:
    if len(data) != SIZE:
        raise AdvertError("bad_length", f"an advertisement is {SIZE} bytes, not {len(data)}")
    version_type, vrid, priority, count, interval, checksum, address = struct.unpack(_FORMAT, data)
    if version_type >> 4 != VERSION or version_type & 0x0F != TYPE_ADVERTISEMENT:
        raise AdvertError("bad_version", f"version/type 0x{version_type:02x} is not VRRPv3 advertisement")
    if count != 1:
        raise AdvertError("bad_count", f"exactly one address is carried, not {count}")
    if internet_checksum(data[:6] + b"\0\0" + data[8:]) != checksum:
        raise AdvertError("bad_checksum", "checksum mismatch: the packet was altered")
    centis = interval & 0x0FFF
    if centis == 0:
        raise AdvertError("bad_interval", "an advertisement interval of 0")
    return Advertisement(vrid, priority, centis / 100, str(ipaddress.IPv4Address(address)), version_type >> 4)


def internet_checksum(data: bytes) -> int:
    """RFC 1071, the same sum the layer inspector puts in rebuilt IP/UDP/TCP headers."""
    return checksum16(data)


@dataclass(frozen=True)
class AdvertPolicy:
    vrid: int
    virtual_address: str
    #: Peer advertisement addresses and the priority each is configured with.
    peers: Mapping[str, int]

    def check(self, advert: Advertisement, sender_host: str) -> None:
        if sender_host not in self.peers:
            raise AdvertError("unknown_peer", f"{sender_host} is not a member of this pair")
        if advert.vrid != self.vrid:
            raise AdvertError("wrong_vrid", f"VRID {advert.vrid} is not ours ({self.vrid})")
        if advert.address != self.virtual_address:
            raise AdvertError("forged_address", f"{advert.address} is not the lab's virtual address")
        if advert.priority == 255 or (advert.priority != 0 and advert.priority != self.peers[sender_host]):
            raise AdvertError("forged_priority", f"priority {advert.priority} is not what {sender_host} is "
                                                 f"configured with ({self.peers[sender_host]})")
