"""A backend on a real loopback socket: keep-alive, pipelining, time-outs, caps, faults."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from netlearn.lab.events import Endpoint, Kind
from netlearn.lab.http import BackendServer
from netlearn.lab.stream import EventStream, Recorder
from tests.waiting import eventually

from .client import fetch, raw_exchange

GET = b"GET %s HTTP/1.1\r\nHost: shop.netlearn.test\r\n\r\n"


@pytest.fixture
def stream() -> EventStream:
    return EventStream()


@pytest.fixture
async def backend(stream: EventStream) -> AsyncIterator[BackendServer]:
    server = BackendServer(Endpoint("127.0.3.1", 0), stream, "backend-1", head_timeout=0.3, max_connections=4)
    await server.start()
    yield server
    await server.stop()


async def read_responses(reader: asyncio.StreamReader, count: int) -> list[tuple[bytes, bytes]]:
    out = []
    for _ in range(count):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        out.append((head, await reader.readexactly(length)))
    return out


async def test_serves_the_site_with_its_name(backend: BackendServer) -> None:
    reply = await fetch(backend.address, "/api/hello")
    assert reply.status == 200 and reply.backend == "backend-1" and b'"backend-1"' in reply.body
    assert backend.address.host == "127.0.3.1" and backend.address.port > 0


async def test_keep_alive_and_pipelining_keep_order_even_behind_a_slow_answer(backend: BackendServer) -> None:
    reader, writer = await asyncio.open_connection(*backend.address)
    writer.write(GET % b"/slow" + GET % b"/api/hello" + GET % b"/nowhere")
    replies = await asyncio.wait_for(read_responses(reader, 3), 5)
    assert [h.split(b" ")[1] for h, _ in replies] == [b"200", b"200", b"404"]
    assert b"waited_ms" in replies[0][1] and b"Hello from" in replies[1][1]
    writer.write(GET % b"/health")  # the same connection is still open
    [(head, body)] = await asyncio.wait_for(read_responses(reader, 1), 5)
    assert head.startswith(b"HTTP/1.1 200") and body == b"ok\n"
    writer.close()


async def test_slowloris_gets_408_and_a_close(backend: BackendServer, stream: EventStream) -> None:
    with Recorder(stream) as rec:
        reader, writer = await asyncio.open_connection(*backend.address)
        for chunk in (b"GET / HT", b"TP/1.1\r\n", b"Host: a\r\n"):  # a trickle, never finishing the head
            writer.write(chunk)
            await asyncio.sleep(0.12)
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert any(e.kind == Kind.ERROR and e.detail.get("status") == 408 for e in rec.events)
    assert backend.counters["timeouts"] == 1


async def test_half_closed_client_still_gets_its_answer(backend: BackendServer) -> None:
    answer = await raw_exchange(backend.address, GET % b"/health", eof=True)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"ok\n")


async def test_truncated_head_then_eof_is_400(backend: BackendServer) -> None:
    answer = await raw_exchange(backend.address, b"GET / HTTP/1.1\r\nHost: a", eof=True)
    assert answer.startswith(b"HTTP/1.1 400 ")


async def test_bad_input_does_not_stop_the_server_serving_others(backend: BackendServer) -> None:
    assert (await raw_exchange(backend.address, b"\x00\xff garbage\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
    assert (await fetch(backend.address, "/health")).status == 200


async def test_connection_cap_refuses_with_503(backend: BackendServer) -> None:
    held = [await asyncio.open_connection(*backend.address) for _ in range(4)]
    await eventually(lambda: backend.describe()["active_connections"] == 4, "the four held connections accepted")
    answer = await raw_exchange(backend.address, GET % b"/health")
    assert answer.startswith(b"HTTP/1.1 503 ")
    for _, w in held:
        w.close()
    await eventually(lambda: backend.describe()["active_connections"] == 0, "the held connections closed")
    assert (await fetch(backend.address, "/health")).status == 200


async def test_stop_and_start_on_the_same_port_with_control_events(backend: BackendServer, stream: EventStream) -> None:
    address = backend.address
    with Recorder(stream) as rec:
        await backend.stop()
        with pytest.raises(OSError):
            await fetch(address, "/health")
        await backend.start()
        assert backend.address == address
        assert (await fetch(address, "/health")).status == 200
    actions = [e.detail["action"] for e in rec.of_kind(Kind.CONTROL)]
    assert actions == ["stopped", "started"]


async def test_error_mode_latency_and_close_mode(backend: BackendServer, stream: EventStream) -> None:
    with Recorder(stream) as rec:
        backend.set_mode("error")
        assert (await fetch(backend.address, "/")).status == 500
        backend.set_mode("close")
        answer = await raw_exchange(backend.address, GET % b"/")
        head, _, body = answer.partition(b"\r\n\r\n")
        declared = int(head.split(b"Content-Length: ")[1].split(b"\r")[0])
        assert head.startswith(b"HTTP/1.1 200") and 0 < len(body) < declared
        backend.set_mode("ok")
        backend.set_latency(0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert (await fetch(backend.address, "/health")).status == 200
    actions = [e.detail["action"] for e in rec.of_kind(Kind.CONTROL)]
    assert actions == ["set_mode", "set_mode", "set_mode", "set_latency"]
    [handled] = [e for e in rec.of_kind(Kind.HANDLER) if e.detail["action"] == "handled"][-1:]
    assert handled.detail["delay_ms"] == pytest.approx(200.0)
    assert loop.time() - started >= 0.19  # the loop clock, not wall time: the delay really happened
    with pytest.raises(ValueError):
        backend.set_mode("explode")


async def test_events_carry_the_correlation_id_of_the_client_endpoint(backend: BackendServer,
                                                                      stream: EventStream) -> None:
    sock = socket.socket()
    sock.bind(("127.0.9.1", 0))
    stream.correlator.bind(Endpoint.of(sock.getsockname()), "walk-42")
    with Recorder(stream, correlation_id="walk-42") as rec:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, tuple(backend.address))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        await reader.read()
        writer.close()
        await eventually(lambda: rec.of_kind(Kind.CLOSE), "the backend's CLOSE event")
    kinds = [e.kind for e in rec.events]
    assert kinds[0] == Kind.ACCEPT and Kind.REQUEST in kinds and Kind.RESPONSE in kinds and kinds[-1] == Kind.CLOSE


async def test_stop_leaks_no_tasks_or_connections(stream: EventStream) -> None:
    server = BackendServer(Endpoint("127.0.3.2", 0), stream, "backend-2")
    await server.start()
    before = asyncio.all_tasks()
    with Recorder(stream) as rec:
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(GET % b"/slow")  # a delayed answer pending at stop time
        await eventually(lambda: rec.of_kind(Kind.REQUEST), "the slow request received")
    await server.stop()
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    assert server.describe()["active_connections"] == 0 and server.describe()["state"] == "stopped"
    assert asyncio.all_tasks() <= before
