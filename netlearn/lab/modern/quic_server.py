"""An HTTP/3 front on UDP: QUIC (aioquic) carrying HTTP/3, answering from a :data:`Responder`.

QUIC brings its own TLS 1.3 handshake inside CRYPTO frames, so a connection and its keys are
ready after one round trip instead of TCP's one plus TLS's one. This listener sits on the same
address as the front door it stands beside (``shop`` → the L4 address, ``www`` → the L7 address),
on UDP; a browser learns of it from the ``Alt-Svc`` header of an HTTP/1.1 or HTTP/2 answer.

aioquic's :class:`QuicServer` demultiplexes datagrams by connection ID and drops what does not
parse (a datagram with bad lengths is just ignored, as RFC 9000 asks), so the shell here only
turns HTTP/3 events into calls of the responder and reports what it did.
"""
from __future__ import annotations

import asyncio
import functools
from typing import Any

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.asyncio.server import QuicServer
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, QuicEvent

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..tls.ca import LabPki
from .app import Responder, SimpleRequest


class QuicFront:
    def __init__(self, endpoint: Endpoint, stream: EventStream, name: str, *, pki: LabPki, responder: Responder,
                 idle_timeout: float = 30.0) -> None:
        self.name, self.stream, self.responder = name, stream, responder
        self._bind = endpoint
        self.configuration = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, idle_timeout=idle_timeout)
        # Separate files: trustme's combined PEM puts the key first and aioquic then loads no key.
        self.configuration.load_cert_chain(certfile=str(pki.server_chain), keyfile=str(pki.server_key))
        self._server: QuicServer | None = None
        self.counters = {"connections": 0, "requests": 0}

    @property
    def address(self) -> Endpoint:
        return self._bind

    async def start(self) -> None:
        self._server = await serve(self._bind.host, self._bind.port, configuration=self.configuration,
                                   create_protocol=functools.partial(_H3ServerProtocol, front=self))
        transport = self._server._transport  # aioquic exposes no public accessor for the bound port
        assert transport is not None
        self._bind = Endpoint.of(transport.get_extra_info("sockname"))

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "quic", "state": "running" if self._server else "stopped",
                "host": self._bind.host, "port": self._bind.port, "transport": "udp", "counters": dict(self.counters)}


class _H3ServerProtocol(QuicConnectionProtocol):
    def __init__(self, *args: Any, front: QuicFront, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.front = front
        self.h3: H3Connection | None = None
        self.peer: Endpoint | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        if self.peer is None:
            self.peer = Endpoint.of(addr)
            self.front.counters["connections"] += 1
        super().datagram_received(data, addr)

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self.h3 = H3Connection(self._quic)
            assert self.peer is not None
            self.front.stream.emit(component=self.front.name, layer=4, kind=Kind.ACCEPT, src=self.peer,
                                   dst=self.front.address, transport="udp",
                                   summary=f"{self.front.name}: QUIC handshake with {self.peer} done, ALPN "
                                           f"{event.alpn_protocol} (TLS 1.3 inside QUIC's CRYPTO frames)",
                                   detail={"alpn": event.alpn_protocol, "terminates_tls": True})
        if self.h3 is None:
            return
        for h3_event in self.h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                task = asyncio.get_running_loop().create_task(self._answer(h3_event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _answer(self, event: HeadersReceived) -> None:
        assert self.h3 is not None and self.peer is not None
        headers = {k.decode(): v.decode("latin-1") for k, v in event.headers}
        cid = self.front.stream.correlator.lookup(self.peer)
        request = SimpleRequest(headers.get(":method", "GET"), headers.get(":path", "/"), headers.get(":authority", ""),
                                self.peer, cid, "h3")
        self.front.counters["requests"] += 1
        response = await self.front.responder(request)
        self.front.stream.emit(component=self.front.name, layer=7, kind=Kind.HANDLER, src=self.peer,
                               dst=self.front.address, transport="udp", correlation_id=cid,
                               summary=f"{self.front.name} answers {request.method} {request.path} over HTTP/3 "
                                       f"(stream {event.stream_id}): {response.status}",
                               detail={"handler": "h3", "target": request.path, "status": response.status,
                                       "stream_id": event.stream_id, "protocol": "h3"})
        self.h3.send_headers(event.stream_id, [(b":status", str(response.status).encode()),
                                               *[(k.lower().encode(), v.encode()) for k, v in response.headers],
                                               (b"content-length", str(len(response.body)).encode())])
        self.h3.send_data(event.stream_id, response.body, end_stream=True)
        self.transmit()
