"""The L7 balancer's one exception to request/response: ``Upgrade: websocket`` becomes a tunnel.

Theory of operation
-------------------
A WebSocket starts as an HTTP/1.1 GET with ``Connection: Upgrade`` and ``Upgrade: websocket``.
Those are hop-by-hop headers, which a proxy normally drops; to let the upgrade through, the
balancer forwards them on a *dedicated* backend connection (never a pooled keep-alive one: once
switched it can never carry HTTP again). If the backend answers ``101 Switching Protocols`` the
balancer relays the 101 and from then on copies bytes both ways without reading them, as nginx
does with ``proxy_set_header Upgrade``; an ordinary answer (a refusal) is relayed as it came, then
the connection closes. Both h11
connections end in ``SWITCHED_PROTOCOL``, and the bytes they had already buffered past the
handshake (``trailing_data``) are the first bytes of the tunnel.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import h11

from ..events import Kind
from ..http.codec import MirroredConnection, header_value
from .algorithms import BackendState
from .dial import dial
from .l7_rules import HOP_BY_HOP, VIA, ProxyError

if TYPE_CHECKING:
    from .l7_session import Session

#: Headers that must reach the backend for the upgrade to work, though they are hop-by-hop.
UPGRADE_HEADERS = ((b"Connection", b"Upgrade"), (b"Upgrade", b"websocket"))


def wants_websocket(request: h11.Request) -> bool:
    upgrade = (header_value(request.headers, b"upgrade") or b"").lower()
    connection = (header_value(request.headers, b"connection") or b"").lower()
    return upgrade == b"websocket" and b"upgrade" in connection


async def tunnel(session: Session, backend: BackendState, request: h11.Request) -> bool:
    """Forward the upgrade; relay a 101 and splice, or relay the refusal. Returns keep-alive."""
    lb = session.lb
    try:
        sock, local = await dial(lb.address.host, backend.endpoint, timeout=lb.connect_timeout, stream=lb.stream,
                                 correlation_id=session.cid)
    except (OSError, TimeoutError):
        raise ProxyError(502, f"{backend.name} refused the WebSocket connection") from None
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        upstream = MirroredConnection(h11.CLIENT)
        headers = [(k, v) for k, v in request.headers.raw_items() if k.lower() not in HOP_BY_HOP]
        headers += [*UPGRADE_HEADERS, (b"X-Forwarded-For", session.peer.host.encode()), (b"Via", VIA.encode())]
        head = upstream.send(h11.Request(method=request.method, target=request.target, headers=headers))
        head += upstream.send(h11.EndOfMessage())
        session.emit(Kind.FORWARD, f"GET {request.target.decode('latin-1')} (Upgrade: websocket) → {backend.name}",
                     src=local, dst=backend.endpoint, data=head, backend=backend.name, upgrade="websocket")
        writer.write(head)
        async with asyncio.timeout(lb.backend_timeout):
            while True:
                event, _raw = upstream.next_event()
                if event is h11.NEED_DATA:
                    upstream.receive_data(await reader.read(65536))
                    continue
                break
        if isinstance(event, h11.Response):  # refused (401, 404, 426...): relay the answer, then close
            return await _relay_refusal(session, upstream, reader, event, backend, request)
        if not isinstance(event, h11.InformationalResponse) or event.status_code != 101:
            raise ProxyError(502, f"{backend.name} did not switch protocols")
        out_headers = [(k, v) for k, v in event.headers.raw_items() if k.lower() not in HOP_BY_HOP]
        out_headers += [*UPGRADE_HEADERS, (b"Via", VIA.encode())]
        reply = session.conn.send(h11.InformationalResponse(status_code=101, reason=b"Switching Protocols",
                                                            headers=out_headers))
        session.emit(Kind.RESPONSE, f"101 Switching Protocols (tunnel to {backend.name})", src=session.local,
                     dst=session.peer, data=reply, status=101, backend=backend.name, upgrade="websocket")
        session.writer.write(reply)
        client_early = bytes(session.conn.h11.trailing_data[0])
        backend_early = bytes(upstream.h11.trailing_data[0])
        if backend_early:
            session.writer.write(backend_early)
        if client_early:
            writer.write(client_early)
        up_bytes, down_bytes = await _splice(session, reader, writer, lb.idle_timeout)
        session.emit(Kind.CLOSE, f"WebSocket tunnel closed: {up_bytes} bytes up, {down_bytes} bytes down",
                     layer=4, backend=backend.name, bytes_up=up_bytes + len(client_early),
                     bytes_down=down_bytes + len(backend_early))
        return False
    except TimeoutError:
        raise ProxyError(504, f"{backend.name} did not answer the upgrade in time") from None
    except (h11.RemoteProtocolError, ConnectionError):
        raise ProxyError(502, f"{backend.name} broke the upgrade") from None
    finally:
        writer.transport.abort()
        lb.stream.correlator.unbind(local)


async def _relay_refusal(session: Session, upstream: MirroredConnection, reader: asyncio.StreamReader,
                         response: h11.Response, backend: BackendState, request: h11.Request) -> bool:
    """The backend answered the upgrade with an ordinary response: the client gets it as sent."""
    body = bytearray()
    async with asyncio.timeout(session.lb.backend_timeout):
        while True:
            event, _raw = upstream.next_event()
            if event is h11.NEED_DATA:
                upstream.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Data):
                body += event.data
            else:
                break
    headers = [(k, v) for k, v in response.headers.raw_items() if k.lower() not in HOP_BY_HOP]
    headers += [(b"Via", VIA.encode()), (b"Content-Length", str(len(body)).encode()), (b"Connection", b"close")]
    await session._send(response.status_code, response.reason.decode("latin-1"), headers, bytes(body),
                        {"method": "GET", "target": request.target.decode("latin-1"), "backend": backend.name})
    return False


async def _splice(session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  idle: float) -> tuple[int, int]:
    """Copy both directions until either side closes or stays silent for ``idle`` seconds."""
    counts = [0, 0]

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, index: int) -> None:
        while True:
            async with asyncio.timeout(idle):
                data = await src.read(65536)
            if not data:
                return
            counts[index] += len(data)
            dst.write(data)
            await dst.drain()

    tasks = [asyncio.ensure_future(pump(session.reader, writer, 0)),
             asyncio.ensure_future(pump(reader, session.writer, 1))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return counts[0], counts[1]
