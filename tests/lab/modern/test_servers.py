"""Real TLS 1.3 / HTTP/2 / HTTP/3 handshakes on loopback against the lab's port-443 servers."""
from __future__ import annotations

import asyncio
import socket

import pytest

from netlearn.lab.events import Endpoint, Kind
from netlearn.lab.modern.app import site_responder
from netlearn.lab.modern.tls_server import SecureWebServer
from netlearn.lab.stream import EventStream, Recorder
from netlearn.lab.tls import ensure_lab_pki, server_context


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return ensure_lab_pki(tmp_path_factory.mktemp("ca"))


async def test_https_walk_over_h2_multiplexes_on_one_connection(lab) -> None:
    record = await lab.walk("https://shop.netlearn.test/")
    assert record.outcome.status == "done", record.outcome
    client = [e for e in record.events if e.component == "client"]
    assert len([e for e in client if e.kind == Kind.CONNECT]) == 1
    streams = {e.detail["stream_id"] for e in client if e.kind == Kind.RESPONSE}
    assert streams == {1, 3, 5, 7}
    hello = next(e for e in client if e.kind == Kind.TLS_RECORD and e.detail["messages"])
    message = hello.detail["messages"][0]
    assert message["sni"] == "shop.netlearn.test" and message["alpn"] == ["h2", "http/1.1"]
    assert any(e.kind == Kind.TLS_RECORD and e.detail["encrypted"] for e in client)
    frames = {e.detail["frame"] for e in client if e.kind == Kind.FRAME}
    assert {"SETTINGS", "HEADERS", "DATA", "GOAWAY"} <= frames
    # The L4 passed TLS through: the backend reports the handshake and the SNI it was asked for.
    accepted = [e for e in record.events if e.kind == Kind.ACCEPT and e.component.startswith("backend-")
                and e.layer == 6]
    assert accepted and accepted[0].detail["sni"] == "shop.netlearn.test"


async def test_https_walk_over_h1_through_the_tls_front(lab) -> None:
    record = await lab.walk("https://www.netlearn.test/", protocol="h1")
    assert record.outcome.status == "done"
    assert record.outcome.detail["protocol"] == "http/1.1"
    components = {e.component for e in record.events}
    assert {"tls-front", "l7"} <= components
    assert record.outcome.detail["round_trips"] == 6  # SYN, TLS, document, three sub-resources in turn


async def test_http3_really_runs_over_udp(lab, connect_watch) -> None:
    record = await lab.walk("https://shop.netlearn.test/", protocol="h3")
    assert record.outcome.status == "done", record.outcome
    client = [e for e in record.events if e.component == "client"]
    packets = [e for e in client if e.kind == Kind.PACKET]
    assert packets and all(e.transport == "udp" for e in packets)
    assert not any(e.kind == Kind.CONNECT for e in client)  # no TCP at all
    types = {p["type"] for e in packets for p in e.detail["packets"]}
    assert {"Initial", "Handshake", "1-RTT"} <= types
    first = packets[0]
    assert first.detail["direction"] == "client" and first.data_len >= 1200  # padded Initial
    assert record.outcome.detail["round_trips"] == 3


async def test_wrong_name_certificate_is_a_failed_step(lab) -> None:
    record = await lab.walk("https://alias.netlearn.test/")
    assert record.outcome.status == "failed" and record.outcome.code == "cert_invalid"
    steps = [e for e in record.events if e.kind == Kind.STEP and e.detail.get("step") == "cert_failed"]
    assert steps and "alias.netlearn.test" in steps[0].summary
    assert not any(e.kind == Kind.REQUEST and e.component == "client" for e in record.events)


async def test_a_client_stalling_mid_handshake_is_dropped_and_others_are_served(pki) -> None:
    stream = EventStream()
    server = SecureWebServer(Endpoint("127.0.0.1", 0), stream, "backend-x", context=server_context(pki),
                             responder=site_responder("backend-x"), handshake_timeout=0.3)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # half a ClientHello, then silence
        await writer.drain()
        closed = await asyncio.wait_for(reader.read(), 5.0)
        assert closed == b""  # the server gave up on the stalled handshake
        import ssl

        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        ctx.set_alpn_protocols(["http/1.1"])
        with Recorder(stream) as rec:
            r2, w2 = await asyncio.open_connection(*server.address, ssl=ctx, server_hostname="shop.netlearn.test")
            w2.write(b"GET /health HTTP/1.1\r\nHost: shop.netlearn.test\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(r2.read(), 5.0)
            w2.close()
        assert answer.startswith(b"HTTP/1.1 200")
        assert rec.of_kind(Kind.ACCEPT)[0].detail["alpn"] == "http/1.1"
    finally:
        await server.stop()


async def test_quic_listener_survives_datagrams_with_bad_lengths(lab) -> None:
    quic = lab.modern.quic[0].address
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for junk in (b"\xc0\x00\x00\x00\x01\x08" + b"\xff" * 30, b"\xc3" + b"\x00" * 1300, b"\x40\x01"):
            sock.sendto(junk, tuple(quic))
    finally:
        sock.close()
    record = await lab.walk("https://shop.netlearn.test/", protocol="h3", fetch_subresources=False)
    assert record.outcome.status == "done"
