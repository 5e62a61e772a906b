"""What a secure front answers, independent of how the request arrived (HTTP/1.1, /2 or /3).

A :data:`Responder` turns one request into one response. Two kinds exist: the site itself (what a
TLS backend serves: the same pages as the plain backends, so a walk compares like with like), and
an :class:`Upstream` that forwards over plain HTTP/1.1 to a balancer (what a TLS-terminating front
does: decrypt here, send on inside the data centre). The upstream socket's local endpoint is
bound to the client's correlation id before it connects, so the balancer's and backend's events
join the walk as they do for http:// walks.
"""
from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import h11

from ..events import Endpoint, Kind
from ..http.site import STATIC, hello_body, route_for
from ..stream import EventStream

#: Browsers learn of HTTP/3 from this header on an HTTP/1.1 or HTTP/2 answer (RFC 7838).
ALT_SVC = 'h3=":443"; ma=86400'
MAX_UPSTREAM_BODY = 2 * 1024 * 1024


@dataclass
class SimpleRequest:
    method: str
    path: str
    authority: str
    peer: Endpoint
    correlation_id: str | None = None
    protocol: str = "http/1.1"


@dataclass
class SimpleResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


Responder = Callable[[SimpleRequest], Awaitable[SimpleResponse]]


def site_responder(backend: str) -> Responder:
    """The lab site as a TLS backend serves it (same content as :mod:`..http.handlers`)."""

    async def respond(request: SimpleRequest) -> SimpleResponse:
        route = route_for(request.method, request.path)
        headers = [("x-backend", backend), ("server", "netlearn-backend/1.0 (tls)")]
        if route.name == "static":
            ctype, body = STATIC[route.path]
            return SimpleResponse(200, body, [("content-type", ctype), ("cache-control", "no-cache"), *headers])
        if route.name in ("hello", "slow"):
            body = hello_body(backend, method=request.method, path=route.path, client=request.peer.host)
            return SimpleResponse(200, body, [("content-type", "application/json"), *headers])
        if route.name == "health":
            return SimpleResponse(200, b"ok\n", [("content-type", "text/plain; charset=utf-8"), *headers])
        return SimpleResponse(404 if route.name == "not_found" else 405, f"{route.name}: {route.path}\n".encode(),
                              [("content-type", "text/plain; charset=utf-8"), *headers])

    return respond


class Upstream:
    """Forward each request to a plain HTTP/1.1 endpoint, one short connection per request
    (simple and bounded; the balancer behind keeps its own connections alive)."""

    def __init__(self, *, name: str, source_host: str, target: Callable[[], Endpoint], stream: EventStream,
                 timeout: float = 5.0) -> None:
        self.name, self.source_host, self.target, self.stream, self.timeout = name, source_host, target, stream, timeout

    async def __call__(self, request: SimpleRequest) -> SimpleResponse:
        target = self.target()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.bind((self.source_host, 0))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        local = Endpoint.of(sock.getsockname())
        if request.correlation_id:
            self.stream.correlator.bind(local, request.correlation_id)
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.get_running_loop().sock_connect(sock, tuple(target))
                reader, writer = await asyncio.open_connection(sock=sock)
                return await self._exchange(request, reader, writer, local, target)
        except (OSError, TimeoutError, h11.ProtocolError) as exc:
            sock.close()
            self.stream.emit(component=self.name, layer=7, kind=Kind.ERROR, src=local, dst=target, transport="tcp",
                             correlation_id=request.correlation_id,
                             summary=f"{self.name} could not reach {target}: {exc!r} → 502",
                             detail={"error": "upstream", "target": str(target)})
            return SimpleResponse(502, b"502 Bad Gateway\n", [("content-type", "text/plain; charset=utf-8")])
        finally:
            if request.correlation_id:
                asyncio.get_running_loop().call_later(2.0, self.stream.correlator.unbind, local)

    async def _exchange(self, request: SimpleRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        local: Endpoint, target: Endpoint) -> SimpleResponse:
        conn = h11.Connection(h11.CLIENT)
        headers = [("Host", request.authority), ("X-Forwarded-For", request.peer.host),
                   ("X-Forwarded-Proto", "https"), ("Via", f"{request.protocol} {self.name}"), ("Connection", "close")]
        head = conn.send(h11.Request(method=request.method, target=request.path, headers=headers))
        head += conn.send(h11.EndOfMessage()) or b""
        writer.write(head)
        self.stream.emit(component=self.name, layer=7, kind=Kind.FORWARD, src=local, dst=target, transport="tcp",
                         data=head, correlation_id=request.correlation_id,
                         summary=f"{self.name} decrypted {request.method} {request.path} ({request.protocol}) and "
                                 f"forwards it as plain HTTP/1.1 to {target}",
                         detail={"target": request.path, "upstream": str(target), "from_protocol": request.protocol})
        status, out_headers, body = 502, [], bytearray()
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    out_headers = [(k.decode().lower(), v.decode("latin-1")) for k, v in event.headers
                                   if k.lower() not in (b"connection", b"content-length", b"transfer-encoding",
                                                        b"keep-alive")]
                elif isinstance(event, h11.Data):
                    if len(body) + len(event.data) > MAX_UPSTREAM_BODY:
                        raise h11.RemoteProtocolError("upstream body too large")
                    body += event.data
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    break
        finally:
            writer.close()
        return SimpleResponse(status, bytes(body), out_headers)
