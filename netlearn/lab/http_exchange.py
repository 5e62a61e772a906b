"""The ``http_exchange`` try-it action: a short scripted conversation with the L7 balancer, recorded.

Theory of operation
-------------------
Each scenario is a list of real HTTP/1.1 requests a browser would send for one web feature,
written as data: what to send, and which header of an earlier answer to carry forward (the ETag
into ``If-None-Match``, ``Set-Cookie`` into ``Cookie``), as a browser's cache and cookie jar do.
They go over one kept-alive connection from the client's address to the shared lab's L7
balancer, which only reads and forwards, so no learner's experiment changes anything another
learner sees. The WebSocket scenario opens its own connection, upgrades it (101) and exchanges
frames through the balancer's tunnel. The result keeps every request and response head as sent.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Self

import h11
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from .action_error import ActionError
from .events import Endpoint

APP_ORIGIN = "http://app.netlearn.test"
OTHER_ORIGIN = "http://evil.example"
WEBSOCKET_KEY = "bmV0bGVhcm4tZGVtby1rZXk="  # any 16 bytes in base64; the server must hash it back
TIMEOUT = 5.0
BODY_EXCERPT = 400


@dataclass(frozen=True)
class Send:
    """One scripted request. ``note`` names what it shows (the page translates it)."""

    method: str
    target: str
    note: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    send_etag: bool = False  # add If-None-Match with the last ETag seen
    send_cookies: bool = True  # send the cookies collected so far, as a browser would


SCENARIOS: dict[str, tuple[Send, ...]] = {
    "caching": (
        Send("GET", "/api/catalog", "first_fetch"),
        Send("GET", "/api/catalog", "revalidate", send_etag=True),
        Send("GET", "/api/catalog", "stale_validator", headers=(("If-None-Match", '"not-the-current-etag"'),)),
    ),
    "cookies": (
        Send("GET", "/api/me", "no_cookie_401"),
        Send("POST", "/api/login", "login_sets_cookie", headers=(("Content-Type", "application/json"),),
             body=b'{"user": "learner", "password": "demo"}'),
        Send("GET", "/api/me", "cookie_sent_back"),
        Send("GET", "/api/admin", "authenticated_403"),
    ),
    "cors": (
        Send("OPTIONS", "/api/hello", "preflight", headers=(
            ("Origin", APP_ORIGIN), ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "Content-Type"))),
        Send("GET", "/api/hello", "allowed_origin", headers=(("Origin", APP_ORIGIN),)),
        Send("GET", "/api/hello", "other_origin", headers=(("Origin", OTHER_ORIGIN),)),
    ),
    "status": (
        Send("GET", "/old-shop", "moved_301"),
        Send("POST", "/api/v1/hello", "moved_308", body=b"{}", headers=(("Content-Type", "application/json"),)),
        Send("POST", "/api/hello", "method_405", body=b"{}", headers=(("Content-Type", "application/json"),)),
        Send("GET", "/no-such-page", "missing_404"),
    ),
}
SCENARIO_NAMES = (*SCENARIOS, "websocket")


@dataclass
class Exchange:
    note: str
    method: str
    target: str
    request_head: str
    status: int | None = None
    reason: str = ""
    response_head: str = ""
    body: str = ""
    body_len: int = 0
    frames: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"note": self.note, "method": self.method, "target": self.target, "request_head": self.request_head,
                "status": self.status, "reason": self.reason, "response_head": self.response_head,
                "body": self.body, "body_len": self.body_len, "frames": self.frames}


def host_for(target: str) -> str:
    return "api.netlearn.test" if target.startswith("/api/") else "www.netlearn.test"


class _Connection:
    """One client connection to the balancer, bound to the client's address and correlated."""

    def __init__(self, stream: Any, target: Endpoint, cid: str, client_host: str) -> None:
        self.stream, self.target, self.cid, self.client_host = stream, target, cid, client_host
        self.h11 = h11.Connection(h11.CLIENT)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.local: Endpoint | None = None

    async def __aenter__(self) -> Self:
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.bind((self.client_host, 0))
            self.local = Endpoint.of(sock.getsockname())
            self.stream.correlator.bind(self.local, self.cid)
            async with asyncio.timeout(TIMEOUT):
                await asyncio.get_running_loop().sock_connect(sock, tuple(self.target))
        except BaseException:
            sock.close()
            raise
        self.reader, self.writer = await asyncio.open_connection(sock=sock)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
        # Unbound a moment later by the recorder's settle time: the balancer's CLOSE still counts.

    async def next_event(self) -> Any:
        assert self.reader is not None
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            async with asyncio.timeout(TIMEOUT):
                self.h11.receive_data(await self.reader.read(65536))


def _head_text(data: bytes) -> str:
    return data.decode("latin-1").rstrip("\r\n")


def _response_head(event: Any) -> str:
    lines = [f"HTTP/{event.http_version.decode()} {event.status_code} {event.reason.decode('latin-1')}"]
    lines += [f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in event.headers.raw_items()]
    return "\n".join(lines)


async def run_scenario(stream: Any, l7: Endpoint, cid: str, *, client_host: str, scenario: str) -> list[Exchange]:
    if scenario == "websocket":
        return await _websocket(stream, l7, cid, client_host=client_host)
    cookies: dict[str, str] = {}
    etag = ""
    exchanges: list[Exchange] = []
    async with _Connection(stream, l7, cid, client_host) as conn:
        assert conn.writer is not None
        for send in SCENARIOS[scenario]:
            headers = [("Host", host_for(send.target)), ("User-Agent", "netlearn-try-it/1.0"), *send.headers]
            if send.send_etag and etag:
                headers.append(("If-None-Match", etag))
            if send.send_cookies and cookies:
                headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
            if send.body:
                headers.append(("Content-Length", str(len(send.body))))
            head = conn.h11.send(h11.Request(method=send.method, target=send.target, headers=headers)) or b""
            data = head + (conn.h11.send(h11.Data(data=send.body)) or b"" if send.body else b"")
            data += conn.h11.send(h11.EndOfMessage()) or b""
            conn.writer.write(data)
            exchange = Exchange(send.note, send.method, send.target, _head_text(head))
            body = bytearray()
            while True:
                event = await conn.next_event()
                if isinstance(event, h11.Response):
                    exchange.status, exchange.reason = event.status_code, event.reason.decode("latin-1")
                    exchange.response_head = _response_head(event)
                    for key, value in event.headers:
                        if key == b"etag":
                            etag = value.decode("latin-1")
                        elif key == b"set-cookie":
                            name, _, rest = value.decode("latin-1").partition("=")
                            cookies[name.strip()] = rest.split(";", 1)[0]
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    break
            exchange.body, exchange.body_len = body[:BODY_EXCERPT].decode("utf-8", "replace"), len(body)
            exchanges.append(exchange)
            if conn.h11.our_state is not h11.DONE or conn.h11.their_state is not h11.DONE:
                break  # the balancer closed the connection: the script stops honestly here
            conn.h11.start_next_cycle()
    return exchanges


async def _websocket(stream: Any, l7: Endpoint, cid: str, *, client_host: str) -> list[Exchange]:
    """Open a WebSocket through the balancer, send two messages, close cleanly."""
    async with _Connection(stream, l7, cid, client_host) as conn:
        assert conn.writer is not None and conn.reader is not None
        headers = [("Host", "www.netlearn.test"), ("Connection", "Upgrade"), ("Upgrade", "websocket"),
                   ("Sec-WebSocket-Key", WEBSOCKET_KEY), ("Sec-WebSocket-Version", "13"), ("Origin", APP_ORIGIN)]
        head = conn.h11.send(h11.Request(method="GET", target="/ws", headers=headers)) or b""
        conn.writer.write(head + (conn.h11.send(h11.EndOfMessage()) or b""))
        exchange = Exchange("websocket_upgrade", "GET", "/ws", _head_text(head))
        event = await conn.next_event()
        while isinstance(event, h11.InformationalResponse) and event.status_code != 101:
            event = await conn.next_event()
        if isinstance(event, (h11.Response, h11.InformationalResponse)):
            exchange.status, exchange.reason = event.status_code, event.reason.decode("latin-1")
            exchange.response_head = _response_head(event)
        if exchange.status != 101:
            return [exchange]
        ws = Protocol(Side.CLIENT, state=State.OPEN)
        pending = bytes(conn.h11.trailing_data[0])
        for text in ("hello", "안녕하세요"):
            ws.send_text(text.encode())
            exchange.frames.append({"direction": "out", "opcode": "TEXT", "text": text, "masked": True})
            conn.writer.write(b"".join(ws.data_to_send()))
            reply = await _next_frame(ws, conn.reader, pending)
            pending = b""
            if reply is not None:
                exchange.frames.append({"direction": "in", "opcode": reply.opcode.name,
                                        "text": bytes(reply.data).decode("utf-8", "replace"), "masked": False})
        ws.send_close(1000, "bye")
        exchange.frames.append({"direction": "out", "opcode": "CLOSE", "text": "1000 bye", "masked": True})
        conn.writer.write(b"".join(ws.data_to_send()))
        reply = await _next_frame(ws, conn.reader, b"")
        if reply is not None:
            exchange.frames.append({"direction": "in", "opcode": reply.opcode.name, "text": "", "masked": False})
        return [exchange]


async def _next_frame(ws: Protocol, reader: asyncio.StreamReader, pending: bytes) -> Frame | None:
    if pending:
        ws.receive_data(pending)
    while True:
        for event in ws.events_received():
            if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CLOSE):
                return event
        async with asyncio.timeout(TIMEOUT):
            data = await reader.read(65536)
        if not data:
            return None
        ws.receive_data(data)


async def http_exchange(lab: Any, spec: dict[str, Any], cid: str) -> dict[str, Any]:
    scenario = str(spec.get("scenario", ""))
    if scenario not in SCENARIO_NAMES:
        raise ActionError(f"unknown HTTP scenario {scenario!r}")
    l7 = lab.web.l7.address
    exchanges = await run_scenario(lab.stream, l7, cid, client_host=lab.config.client_host, scenario=scenario)
    return {"scenario": scenario, "balancer": [l7.host, l7.port], "exchanges": [e.as_dict() for e in exchanges],
            "statuses": [e.status for e in exchanges]}
