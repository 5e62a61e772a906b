"""Small real-socket clients and fakes for the DNS tests (no mocks of our own servers)."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from dnslib import DNSRecord

from netlearn.lab.events import Endpoint
from netlearn.lab.stream import EventStream

CLIENT_HOST = "127.0.9.1"


class FakeClock:
    """A monotonic clock that moves only when told to: TTLs expire without sleeping."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedRandom:
    """An RNG whose ``random()`` returns a script, then 0.999... (never drop)."""

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0) if self.values else 0.999999

    def randrange(self, a: int, b: int) -> int:
        return a


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait(data)


async def udp_ask(
    server: Endpoint,
    wire: bytes,
    *,
    stream: EventStream | None = None,
    cid: str | None = None,
    timeout: float = 3.0,
) -> bytes | None:
    """Send one datagram from a fresh socket on the client address; return the reply or None."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        _Collect, local_addr=(CLIENT_HOST, 0), remote_addr=tuple(server), family=socket.AF_INET
    )
    local = Endpoint.of(transport.get_extra_info("sockname"))
    if stream is not None and cid is not None:
        stream.correlator.bind(local, cid)
    try:
        transport.sendto(wire)
        return await asyncio.wait_for(proto.queue.get(), timeout)
    except TimeoutError:
        return None
    finally:
        transport.close()
        if stream is not None and cid is not None:
            stream.correlator.unbind(local)


async def tcp_ask(server: Endpoint, wire: bytes, *, timeout: float = 3.0) -> bytes:
    reader, writer = await asyncio.open_connection(*server, local_addr=(CLIENT_HOST, 0))
    try:
        writer.write(struct.pack("!H", len(wire)) + wire)
        (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), timeout))
        return await asyncio.wait_for(reader.readexactly(length), timeout)
    finally:
        writer.close()
        await writer.wait_closed()


def question(name: str, qtype: str = "A", *, rd: bool = True) -> bytes:
    record = DNSRecord.question(name, qtype)
    record.header.rd = int(rd)
    return record.pack()


def raw_query(labels: list[bytes], qtype: int = 1) -> bytes:
    """A query built by hand: names on the wire may hold any bytes (dig in a C locale sends UTF-8)."""
    name = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    return struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", qtype, 1)
