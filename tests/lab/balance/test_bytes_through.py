"""Byte for byte through each balancer: what the client sent is what the backend received.

Behind each balancer sits a *recording* backend: a plain asyncio server that keeps every byte it
reads from each connection, exactly as the kernel delivered them, and answers with a response
whose body holds every byte value. It is a test peer, not a stand-in for one of our servers: the
balancers are what is tested here.

- L4 forwards a TCP stream: the backend must receive the client's bytes unchanged (a request with
  a binary body, pipelined behind another), and the client must receive the backend's bytes
  unchanged.
- L7 is an HTTP proxy that rewrites the head (RFC 9110 §7.6): it promises the request line and the
  body intact, the client's end-to-end header fields intact (same bytes, same order), hop-by-hop
  fields dropped, and ``X-Forwarded-For``, ``X-Forwarded-Proto`` and ``Via`` added; a chunked
  body arrives whole with a ``Content-Length``.
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import h11
import pytest

from netlearn.lab.balance import HealthConfig, L4Balancer
from netlearn.lab.balance.l7 import L7Balancer
from netlearn.lab.balance.l7_session import VIA
from netlearn.lab.events import Endpoint
from netlearn.lab.stream import EventStream
from tests.waiting import eventually

BODY = bytes(range(256)) * 12  # every byte value, 3 KiB
ANSWER_BODY = bytes(reversed(range(256))) * 8
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-Backend: recorder\r\n"
          b"Content-Length: " + str(len(ANSWER_BODY)).encode() + b"\r\n\r\n" + ANSWER_BODY)
HEALTH = HealthConfig(interval=0.1, threshold=1, timeout=1.0)


class _Recorder(asyncio.Protocol):
    """One connection: keep the raw bytes, answer each complete request with ``ANSWER``."""

    def __init__(self, connections: list[bytearray]) -> None:
        self.received = bytearray()
        connections.append(self.received)
        self.parser = h11.Connection(h11.SERVER)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data
        self.parser.receive_data(data)
        while True:
            event = self.parser.next_event()
            if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                return
            if isinstance(event, h11.EndOfMessage):
                self.transport.write(ANSWER)  # raw, as written above; h11 only tracks the cycle
                self.parser.send(h11.Response(status_code=200, headers=[("Content-Length", str(len(ANSWER_BODY)))]))
                self.parser.send(h11.Data(data=ANSWER_BODY))
                self.parser.send(h11.EndOfMessage())
                self.parser.start_next_cycle()


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[Endpoint, list[bytearray]]]:
    connections: list[bytearray] = []
    server = await asyncio.get_running_loop().create_server(lambda: _Recorder(connections), "127.0.3.1", 0)
    yield Endpoint.of(server.sockets[0].getsockname()), connections
    server.close()
    await server.wait_closed()


def _carrying(connections: list[bytearray], marker: bytes) -> bytes:
    """The one backend connection whose bytes carry ``marker`` (health checks have their own)."""
    [found] = [bytes(c) for c in connections if marker in c]
    return found


async def _exchange(address: Endpoint, data: bytes, answers: int) -> bytes:
    reader, writer = await asyncio.open_connection(*address, local_addr=("127.0.9.1", 0))
    writer.write(data)
    received = b""
    while received.count(b"HTTP/1.1 ") < answers or not received.endswith(ANSWER_BODY):
        chunk = await asyncio.wait_for(reader.read(65536), 20)
        assert chunk, f"the connection closed after {len(received)} bytes"
        received += chunk
    writer.close()
    return received


async def test_l4_forwards_both_directions_byte_for_byte(recorder) -> None:
    backend, connections = recorder
    lb = L4Balancer(Endpoint("127.0.2.1", 0), EventStream(), backends=[("recorder", backend)], health=HEALTH,
                    rng=random.Random(1))
    await lb.start()
    try:
        assert await lb.pool.wait_round(lambda p: all(s.healthy for s in p.states), 20)
        sent = (b"GET /first HTTP/1.1\r\nHost: shop.netlearn.test\r\nX-Marker: l4-byte-test\r\n\r\n"
                b"PUT /upload?x=%00 HTTP/1.1\r\nhOsT: shop.netlearn.test\r\nX-Odd:  spaced \t\r\n"
                b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
        received = await _exchange(lb.address, sent, answers=2)
        await eventually(lambda: any(bytes(c) == sent for c in connections), "the backend got every byte")
        assert _carrying(connections, b"l4-byte-test") == sent  # unchanged: not a byte added, lost or moved
        assert received == ANSWER * 2  # and back again, unchanged
    finally:
        await lb.stop()


@pytest.fixture
async def l7(recorder):
    """An L7 balancer whose two pools are the recording backend, healthy; yields (lb, connections)."""
    backend, connections = recorder
    lb = L7Balancer(Endpoint("127.0.2.2", 0), EventStream(), pools={"web": [("recorder", backend)],
                                                                      "api": [("recorder", backend)]},
                    health=HEALTH, rng=random.Random(1))
    await lb.start()
    try:
        assert await lb.pools["web"].wait_round(lambda p: all(s.healthy for s in p.states), 20)
        yield lb, connections
    finally:
        await lb.stop()


async def test_l7_keeps_the_request_line_body_and_headers_and_adds_only_its_own(l7) -> None:
    lb, connections = l7
    end_to_end = (b"Host: www.netlearn.test\r\nX-Marker: l7-byte-test\r\nAccept: */*\r\n"
                  b"Cookie: a=1; b=2\r\nX-Forwarded-For: 203.0.113.7\r\n")
    sent = (b"POST /upload/%E2%9C%93?q=a+b&r=%00 HTTP/1.1\r\n" + end_to_end
            + b"Connection: keep-alive\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
    received = await _exchange(lb.address, sent, answers=1)
    await eventually(lambda: any(b"l7-byte-test" in c and c.endswith(BODY) for c in connections),
                     "the backend got the whole request")
    got = _carrying(connections, b"l7-byte-test")
    head, _, body = got.partition(b"\r\n\r\n")
    line, *fields = head.split(b"\r\n")
    assert line == b"POST /upload/%E2%9C%93?q=a+b&r=%00 HTTP/1.1"  # the request line, intact
    assert body == BODY  # the body, intact
    client_fields = [f for f in end_to_end.split(b"\r\n") if f and not f.startswith(b"X-Forwarded-For")]
    assert fields[:len(client_fields)] == client_fields  # end-to-end fields: same bytes, same order
    added = fields[len(client_fields):]
    assert added == [b"X-Forwarded-For: 203.0.113.7, 127.0.9.1", b"X-Forwarded-Proto: http",
                     b"Via: " + VIA.encode(), b"Content-Length: " + str(len(BODY)).encode()]
    assert not any(f.lower().startswith(b"connection:") for f in fields)  # hop-by-hop: not forwarded
    # The answer's body comes back intact (its head gains Via and the sticky cookie).
    answer_head, _, answer_body = received.partition(b"\r\n\r\n")
    assert answer_body == ANSWER_BODY and answer_head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nVia: " in answer_head


async def test_l7_turns_a_chunked_body_into_the_same_bytes_with_a_length(l7) -> None:
    lb, connections = l7
    chunks = [BODY[:1000], BODY[1000:1001], BODY[1001:]]
    chunked = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"
    sent = (b"POST /chunks HTTP/1.1\r\nHost: www.netlearn.test\r\nX-Marker: l7-chunked\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    await _exchange(lb.address, sent, answers=1)
    await eventually(lambda: any(b"l7-chunked" in c and c.endswith(BODY) for c in connections),
                     "the backend got the whole body")
    head, _, body = _carrying(connections, b"l7-chunked").partition(b"\r\n\r\n")
    assert body == BODY
    assert b"Content-Length: " + str(len(BODY)).encode() in head.split(b"\r\n")
    assert b"transfer-encoding" not in head.lower()
