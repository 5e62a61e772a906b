"""HTTP/1.1 inside TLS: h11 framing over a :class:`TlsClientConnection`, one request at a time.

The same events as the plain walk's requests (REQUEST, RESPONSE with target, status, TTFB), so
the waterfall draws both alike; the difference learners should see is the queue: each request
waits for the previous answer on this connection.
"""
from __future__ import annotations

import time
from typing import Any

import h11

from ..events import Kind
from ..stream import EventStream
from .http_client import MAX_BODY, USER_AGENT
from .tls_client import TlsClientConnection, TlsFailure

COMPONENT = "client"


async def fetch_h1(stream: EventStream, cid: str, conn: TlsClientConnection, host: str, path: str,
                   purpose: str) -> dict[str, Any]:
    machine: h11.Connection = getattr(conn, "_h11", None) or h11.Connection(h11.CLIENT)
    conn._h11 = machine  # type: ignore[attr-defined]  # one HTTP state machine per TLS connection
    head = machine.send(h11.Request(method="GET", target=path, headers=[
        ("Host", host), ("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Connection", "keep-alive")]))
    head += machine.send(h11.EndOfMessage()) or b""
    started = time.perf_counter()
    stream.emit(component=COMPONENT, layer=7, kind=Kind.REQUEST, src=conn.local, dst=conn.remote, data=head,
                transport="tcp", correlation_id=cid,
                summary=f"GET {path} ({purpose})" + (" inside TLS" if conn.context is not None else ""),
                detail={"method": "GET", "target": path, "purpose": purpose, "protocol": "http/1.1",
                        "expects_answer": True})
    conn.send(head, expect=f"GET {path}")
    status, headers, body, ttfb = 0, {}, bytearray(), 0.0
    while True:
        try:
            event = machine.next_event()
        except h11.RemoteProtocolError as exc:
            raise TlsFailure("bad_response", f"The answer broke HTTP/1.1 framing: {exc}") from None
        if event is h11.NEED_DATA:
            data = await conn.recv()
            if not ttfb and data:
                ttfb = (time.perf_counter() - started) * 1000
            machine.receive_data(data)
            if not data and not status:
                raise TlsFailure("closed", "The server closed the connection without answering")
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
        elif isinstance(event, h11.Data):
            if len(body) < MAX_BODY:
                body += event.data
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            break
    if machine.our_state is h11.DONE and machine.their_state is h11.DONE:
        machine.start_next_cycle()
    elapsed = (time.perf_counter() - started) * 1000
    backend = headers.get("x-backend")
    stream.emit(component=COMPONENT, layer=7, kind=Kind.RESPONSE, src=conn.remote, dst=conn.local, transport="tcp",
                correlation_id=cid, summary=f"{status} for {path}" + (f" from {backend}" if backend else "")
                + f", {len(body)} bytes (decrypted)",
                detail={"status": status, "target": path, "purpose": purpose, "backend": backend,
                        "body_len": len(body), "elapsed_ms": round(elapsed, 3), "ttfb_ms": round(ttfb, 3),
                        "protocol": "http/1.1", "content_type": headers.get("content-type", ""),
                        "alt_svc": headers.get("alt-svc")})
    return {"status": status, "headers": headers, "body": bytes(body), "target": path}
