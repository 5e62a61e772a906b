"""The OIO, NIO and local servers, on real loopback sockets (the local one on in-process queues)."""
from __future__ import annotations

import asyncio
import socket

import pytest

from netlearn.lab.events import Kind
from netlearn.lab.iomodels import LocalServer, NioServer, ThreadPerConnectionServer
from netlearn.lab.stream import EventStream, Recorder


async def _ask(address, lines: list[bytes], local_host: str = "127.0.6.9") -> list[bytes]:
    reader, writer = await asyncio.open_connection(address.host, address.port, local_addr=(local_host, 0))
    try:
        writer.write(b"".join(lines))
        return [await asyncio.wait_for(reader.readline(), 3) for _ in lines]
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.fixture(params=["oio", "nio"])
async def server(request):
    stream = EventStream()
    if request.param == "oio":
        srv = ThreadPerConnectionServer(stream=stream, host="127.0.6.1", max_threads=16)
    else:
        srv = NioServer(stream=stream, host="127.0.6.2", workers=2)
    await srv.start()
    yield srv
    await srv.stop()
    assert srv.counters.active == 0


async def test_answers_in_request_order_even_after_a_slow_one(server) -> None:
    replies = await _ask(server.address, [b"SLOW 50 first\n", b"ECHO second\n", b"UPPER third\n"])
    assert replies == [b"OK first\n", b"OK second\n", b"OK THIRD\n"]


async def test_many_concurrent_connections_are_all_served(server) -> None:
    results = await asyncio.gather(*(_ask(server.address, [f"ECHO {i}\n".encode()]) for i in range(12)))
    assert sorted(r[0] for r in results) == sorted(f"OK {i}\n".encode() for i in range(12))
    assert server.describe()["accepted"] == 12


async def test_quit_closes_the_connection(server) -> None:
    reader, writer = await asyncio.open_connection(server.address.host, server.address.port)
    writer.write(b"QUIT\n")
    assert await asyncio.wait_for(reader.readline(), 3) == b"BYE\n"
    assert await asyncio.wait_for(reader.read(), 3) == b""
    writer.close()
    await writer.wait_closed()


async def test_an_endless_line_is_refused_and_closed(server) -> None:
    reader, writer = await asyncio.open_connection(server.address.host, server.address.port)
    writer.write(b"x" * 5000)
    line = await asyncio.wait_for(reader.readline(), 3)
    assert line.startswith(b"ERR") and b"exceed" in line
    assert await asyncio.wait_for(reader.read(), 3) == b""
    writer.close()
    await writer.wait_closed()


async def test_stop_releases_the_port(server) -> None:
    address = server.address
    await server.stop()
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(address)


async def test_nio_reports_its_selector_and_thread_count() -> None:
    stream = EventStream()
    with Recorder(stream) as recorder:
        server = NioServer(stream=stream, host="127.0.6.2", workers=3)
        await server.start()
        try:
            await _ask(server.address, [b"ECHO x\n"])
            info = server.describe()
        finally:
            await server.stop()
        await asyncio.sleep(0.01)
    assert info["selector"] == "EpollSelector" and info["threads"] == 4
    assert recorder.of_kind(Kind.ACCEPT, "nio") and recorder.of_kind(Kind.CONTROL, "nio")


async def test_oio_uses_a_thread_per_connection_and_caps_them() -> None:
    server = ThreadPerConnectionServer(stream=EventStream(), host="127.0.6.1", max_threads=2)
    await server.start()
    try:
        held = [await asyncio.open_connection(server.address.host, server.address.port) for _ in range(3)]
        for _, writer in held:
            writer.write(b"ECHO held\n")
        first = await asyncio.wait_for(held[0][0].readline(), 3)
        second = await asyncio.wait_for(held[1][0].readline(), 3)
        # The third waits in the kernel's backlog: no thread is free to serve it.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(held[2][0].readline(), 0.3)
        assert (first, second) == (b"OK held\n", b"OK held\n")
        assert server.peak_threads == 3  # acceptor + 2
        held[0][1].close()
        assert await asyncio.wait_for(held[2][0].readline(), 3) == b"OK held\n"
    finally:
        for _, writer in held:
            writer.close()
        await server.stop()


async def test_local_transport_serves_the_same_pipeline_without_sockets() -> None:
    server = LocalServer(stream=EventStream(), max_connections=1)
    await server.start()
    channel = await server.connect()
    await channel.write(b"SLOW 10 a\nECHO b\n")
    assert [await channel.readline(), await channel.readline()] == [b"OK a\n", b"OK b\n"]
    with pytest.raises(ConnectionRefusedError):
        await server.connect()  # bounded
    await channel.close()
    await server.stop()
    assert server.address == "local:iomodels" and server.threads == 0


@pytest.mark.parametrize("model", ["oio", "nio"])
async def test_graceful_shutdown_answers_the_request_in_flight_and_leaves_no_thread(model: str) -> None:
    import threading

    before = {t.ident for t in threading.enumerate()}
    cls = ThreadPerConnectionServer if model == "oio" else NioServer
    server = cls(stream=EventStream(), host="127.0.6.4")
    await server.start()
    reader, writer = await asyncio.open_connection(server.address.host, server.address.port)
    idle_reader, idle_writer = await asyncio.open_connection(server.address.host, server.address.port)
    writer.write(b"SLOW 150 done\n")
    await writer.drain()
    while server.counters.requests < 1:
        await asyncio.sleep(0.005)
    report = await server.shutdown_gracefully(timeout=2)
    assert await asyncio.wait_for(reader.readline(), 2) == b"OK done\n"
    assert await asyncio.wait_for(idle_reader.read(), 2) == b""  # idle connections are simply closed
    assert report["drained"] and report["in_flight_at_start"] == 1
    for w in (writer, idle_writer):
        w.close()
    await server.stop()
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.name.startswith(("oio", "nio"))]
    assert leftover == []
