"""The ``http_exchange`` action: real scripted requests through the shared L7 balancer, WebSocket included."""
from __future__ import annotations

import pytest

from netlearn.lab.events import Kind
from netlearn.lab.runner import Lab


@pytest.mark.parametrize(("scenario", "statuses"), [
    ("caching", [200, 304, 200]), ("cookies", [401, 200, 200, 403]), ("cors", [204, 200, 200]),
    ("status", [301, 308, 405, 404]), ("websocket", [101])])
async def test_each_scenario_gets_its_real_statuses(lab: Lab, scenario: str, statuses: list[int]) -> None:
    record = await lab.run_action({"kind": "http_exchange", "scenario": scenario})
    assert record.error == ""
    assert record.result["statuses"] == statuses
    assert any(e.component == "l7" and e.kind == Kind.REQUEST for e in record.events)
    assert all(x["response_head"].startswith("HTTP/1.1 ") for x in record.result["exchanges"])


async def test_the_etag_and_the_cookie_are_carried_forward_as_a_browser_would(lab: Lab) -> None:
    caching = (await lab.run_action({"kind": "http_exchange", "scenario": "caching"})).result["exchanges"]
    etag = next(line for line in caching[0]["response_head"].split("\n") if line.startswith("ETag: "))[6:]
    assert f"If-None-Match: {etag}" in caching[1]["request_head"] and caching[1]["body_len"] == 0
    cookies = (await lab.run_action({"kind": "http_exchange", "scenario": "cookies"})).result["exchanges"]
    assert "Set-Cookie: sid=" in cookies[1]["response_head"]
    assert "Cookie: " in cookies[2]["request_head"] and "sid=" in cookies[2]["request_head"]


async def test_websocket_frames_cross_the_balancer_tunnel_both_ways(lab: Lab) -> None:
    record = await lab.run_action({"kind": "http_exchange", "scenario": "websocket"})
    [upgrade] = record.result["exchanges"]
    assert "Sec-WebSocket-Accept: " in upgrade["response_head"]
    received = [f["text"] for f in upgrade["frames"] if f["direction"] == "in" and f["opcode"] == "TEXT"]
    assert received == ["echo: hello", "echo: 안녕하세요"]
    assert upgrade["frames"][-1] == {"direction": "in", "opcode": "CLOSE", "text": "", "masked": False}
    backend_frames = [e for e in record.events if e.kind == Kind.FRAME and e.component.startswith("backend-")]
    assert len(backend_frames) >= 4  # two messages in, two echoes out (plus the close)
    assert any(e.component == "l7" and e.kind == Kind.CLOSE and "tunnel" in e.summary for e in record.events)


async def test_an_unknown_scenario_is_refused(lab: Lab) -> None:
    record = await lab.run_action({"kind": "http_exchange", "scenario": "rm -rf"})
    assert "unknown HTTP scenario" in record.error


async def test_the_balancer_relays_a_refused_upgrade_as_it_came(lab: Lab) -> None:
    """No Sec-WebSocket-Key: the backend answers 400, and the client gets that 400, not a 502."""
    import asyncio

    l7 = lab.web.l7.address
    reader, writer = await asyncio.open_connection(l7.host, l7.port)
    try:
        writer.write(b"GET /ws HTTP/1.1\r\nHost: www.netlearn.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        async with asyncio.timeout(10):
            reply = await reader.read()  # the balancer closes after relaying the refusal
    finally:
        writer.close()
    head = reply.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 400 ") and "X-Backend: backend-" in head and "Via: " in head
    assert b"Sec-WebSocket-Key" in reply.split(b"\r\n\r\n", 1)[1]
