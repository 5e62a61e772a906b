"""The L7 balancer through the whole web lab (start_web): routing, headers, stickiness, errors."""
from __future__ import annotations

import asyncio
from collections import Counter

from netlearn.lab.events import Kind
from netlearn.lab.stream import EventStream, Recorder
from netlearn.lab.web import WebLab
from tests.waiting import eventually

from ..http.client import fetch, raw_exchange


async def test_routes_by_path_and_host(lab: WebLab) -> None:
    web = Counter([(await fetch(lab.l7.address, "/")).backend for _ in range(4)])
    api = Counter([(await fetch(lab.l7.address, "/api/hello")).backend for _ in range(4)])
    api_host = Counter([(await fetch(lab.l7.address, "/", host="api.netlearn.test")).backend for _ in range(4)])
    assert web == {"backend-1": 2, "backend-2": 2}
    assert api == {"backend-3": 2, "backend-4": 2} == api_host


async def test_adds_forwarding_headers_and_the_events_show_real_heads(lab: WebLab, stream: EventStream) -> None:
    with Recorder(stream) as rec:
        reply = await fetch(lab.l7.address, "/api/hello", headers=[("X-Forwarded-For", "203.0.113.9")])
    assert reply.status == 200 and "l7.netlearn.test" in reply.headers["via"]
    [forwarded] = [e for e in rec.of_kind(Kind.REQUEST) if e.component.startswith("backend-")]
    assert b"X-Forwarded-For: 203.0.113.9, 127.0.0.1\r\n" in forwarded.data
    assert b"Via: 1.1 l7.netlearn.test" in forwarded.data
    assert forwarded.src is not None and forwarded.src.host == lab.l7.address.host  # dialled from the L7's address
    [request] = rec.of_kind(Kind.REQUEST, "l7")
    assert request.data.startswith(b"GET /api/hello HTTP/1.1\r\n") and request.detail["pool"] == "api"
    [response] = rec.of_kind(Kind.RESPONSE, "l7")
    assert response.detail["status"] == 200 and response.detail["backend"] == reply.backend
    assert response.data.startswith(b"HTTP/1.1 200 ")
    kinds = [e.kind for e in rec.events if e.component == "l7"]
    assert kinds == [Kind.ACCEPT, Kind.REQUEST, Kind.CHOOSE, Kind.CONNECT, Kind.FORWARD, Kind.RESPONSE, Kind.CLOSE]


async def test_cookie_stickiness_holds_while_the_backend_is_healthy(lab: WebLab) -> None:
    first = await fetch(lab.l7.address, "/")
    cookie = first.headers["set-cookie"].split(";")[0]
    assert cookie == f"nl_web={first.backend}"
    again = [await fetch(lab.l7.address, "/", headers=[("Cookie", cookie)]) for _ in range(5)]
    assert {r.backend for r in again} == {first.backend}
    assert all("set-cookie" not in r.headers for r in again)
    n = int(first.backend.split("-")[1])  # type: ignore[union-attr]
    await lab.stop_backend(n)
    assert await lab.l7.pools["web"].wait_round(lambda p: not p.by_name[first.backend].healthy, 3)  # type: ignore[index]
    moved = await fetch(lab.l7.address, "/", headers=[("Cookie", cookie)])
    assert moved.status == 200 and moved.backend != first.backend
    assert moved.headers["set-cookie"].startswith(f"nl_web={moved.backend}")


async def test_502_when_the_backend_closes_mid_response(lab: WebLab, stream: EventStream) -> None:
    lab.set_mode(3, "close")
    lab.set_mode(4, "close")
    with Recorder(stream) as rec:
        reply = await fetch(lab.l7.address, "/api/hello")
    assert reply.status == 502
    assert any(e.kind == Kind.ERROR and e.component == "l7" and e.detail["status"] == 502 for e in rec.events)
    assert (await fetch(lab.l7.address, "/")).status == 200  # the web pool is unaffected


async def test_502_for_a_dead_backend_then_503_once_the_pool_is_empty(lab: WebLab) -> None:
    for pool in lab.l7.pools.values():
        await pool.stop()  # freeze the health view: the L7 still believes backend-1 and -2 are up
    await lab.stop_backend(1)
    await lab.stop_backend(2)
    assert (await fetch(lab.l7.address, "/")).status == 502
    for pool in lab.l7.pools.values():
        await pool.start()
    assert await lab.l7.pools["web"].wait_round(lambda p: not any(s.healthy for s in p.states), 3)
    reply = await fetch(lab.l7.address, "/")
    assert reply.status == 503 and b"no healthy backend" in reply.body
    assert (await fetch(lab.l7.address, "/api/hello")).status == 200


async def test_504_when_the_backend_is_slower_than_the_timeout(lab: WebLab) -> None:
    lab.set_latency(3, 1.0)
    lab.set_latency(4, 1.0)
    reply = await fetch(lab.l7.address, "/api/hello")
    assert reply.status == 504 and lab.l7.counters["504"] == 1


async def test_keep_alive_to_the_client_across_pools(lab: WebLab) -> None:
    reader, writer = await asyncio.open_connection(*lab.l7.address)
    backends = []
    for path in ("/", "/api/hello", "/static/app.js", "/nowhere"):
        writer.write(f"GET {path} HTTP/1.1\r\nHost: www.netlearn.test\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        backends.append(head.split(b"X-Backend: ")[1].split(b"\r\n")[0].decode())
    writer.close()
    assert backends[1] in ("backend-3", "backend-4") and backends[0] in ("backend-1", "backend-2")
    assert lab.l7.counters["accepted"] == 1 and lab.l7.counters["requests"] == 4


async def test_bad_requests_and_slowloris_at_the_l7(lab: WebLab) -> None:
    assert (await raw_exchange(lab.l7.address, b"NOT HTTP\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
    big = b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 20_000 + b"\r\n\r\n"
    assert (await raw_exchange(lab.l7.address, big)).startswith(b"HTTP/1.1 431 ")
    lab.l7.head_timeout = 0.3
    reader, writer = await asyncio.open_connection(*lab.l7.address)
    writer.write(b"GET / HTTP/1.1\r\nHost")
    assert (await asyncio.wait_for(reader.read(), 3)).startswith(b"HTTP/1.1 408 ")
    writer.close()
    assert (await fetch(lab.l7.address, "/")).status == 200  # everyone else still served


async def test_control_api_and_describe(lab: WebLab, stream: EventStream) -> None:
    with Recorder(stream) as rec:
        lab.set_algorithm("l7", "least_connections")
        lab.set_weights("l4", {"backend-1": 2})
        lab.set_latency(2, 0.05)
        lab.set_mode(2, "ok")
    assert len(rec.of_kind(Kind.CONTROL)) == 4
    info = lab.describe()
    assert [b["name"] for b in info["backends"]] == ["backend-1", "backend-2", "backend-3", "backend-4"]
    assert info["l7"]["pools"]["web"]["algorithm"] == "least_connections"
    assert info["l4"]["backends"][0]["weight"] == 2 and info["l4"]["host"] == "127.0.2.1"
    assert lab.backend(2).describe()["latency_ms"] == 50


async def test_the_l4_vip_serves_the_same_site(lab: WebLab) -> None:
    reply = await fetch(lab.l4.address, "/", host="shop.netlearn.test")
    assert reply.status == 200 and b"/static/logo.svg" in reply.body


async def test_whole_web_lab_stops_without_leaks(stream: EventStream) -> None:
    from netlearn.lab.topology import LabConfig
    from netlearn.lab.web import start_web

    before = asyncio.all_tasks()
    web = await start_web(LabConfig.ephemeral(health_interval=0.1), stream)
    assert await web.wait_healthy(5)
    with Recorder(stream) as rec:
        reader, writer = await asyncio.open_connection(*web.l7.address)
        writer.write(b"GET /slow HTTP/1.1\r\nHost: www.netlearn.test\r\n\r\n")
        await eventually(lambda: rec.of_kind(Kind.FORWARD, "l7"), "the slow request forwarded to a backend")
    await web.stop()
    writer.close()
    assert asyncio.all_tasks() <= before
    assert all(b["state"] == "stopped" for b in web.describe()["backends"])
