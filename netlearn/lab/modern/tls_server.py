"""A TLS 1.3 web server speaking HTTP/2 or HTTP/1.1, whichever ALPN chose.

Used twice in the lab: as each backend's TLS listener (the L4 balancer passes the encrypted bytes
through to it untouched, so the backend holds the certificate) and as the ``tls-front`` of the
L7 balancer (which must *read* HTTP to route it, so TLS has to end in front of it).

Theory of operation
-------------------
asyncio's own TLS does the handshake (``ssl_handshake_timeout`` bounds a client that stalls in
the middle of it: the connection is dropped, the listener keeps serving). The client side of a
walk is where every record is observed, so the server does not duplicate that; it reports what
only it knows: the SNI it was asked for (``sni_callback``), the protocol ALPN settled on, and the
requests it answered. HTTP/2 is the ``h2`` package, a sans-I/O state machine; this shell reads,
feeds, answers each stream in its own task (that is what multiplexing means for a server) and
respects the peer's flow-control windows when sending DATA.
"""
from __future__ import annotations

import asyncio
import ssl
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h11

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..tasks import cancel_and_wait
from ..timeouts import wait_for
from .app import ALT_SVC, Responder, SimpleRequest, SimpleResponse

READ_SIZE = 65536


class SecureWebServer:
    def __init__(self, endpoint: Endpoint, stream: EventStream, name: str, *, context: ssl.SSLContext,
                 responder: Responder, handshake_timeout: float = 10.0, idle_timeout: float = 30.0,
                 alt_svc: str | None = ALT_SVC, max_connections: int = 512) -> None:
        self.name, self.stream, self.responder = name, stream, responder
        self.context = context
        self.handshake_timeout, self.idle_timeout = handshake_timeout, idle_timeout
        self.alt_svc, self.max_connections = alt_svc, max_connections
        self._bind = endpoint
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sni: dict[int, str | None] = {}
        self.counters = {"accepted": 0, "requests": 0, "h2": 0, "http/1.1": 0}
        context.sni_callback = self._on_sni

    @property
    def address(self) -> Endpoint:
        return self._bind

    def _on_sni(self, sslobj: Any, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        self._sni[id(sslobj)] = server_name
        if len(self._sni) > 4 * self.max_connections:  # never grows without bound
            self._sni.pop(next(iter(self._sni)))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._bind.host, self._bind.port, ssl=self.context,
                                                  ssl_handshake_timeout=self.handshake_timeout, reuse_address=True,
                                                  backlog=1024)
        self._bind = Endpoint.of(self._server.sockets[0].getsockname())

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await cancel_and_wait(self._tasks)
        await server.wait_closed()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "tls", "state": "running" if self._server else "stopped",
                "host": self._bind.host, "port": self._bind.port, "active_connections": len(self._tasks),
                "counters": dict(self.counters)}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = Endpoint.of(writer.get_extra_info("peername"))
        local = Endpoint.of(writer.get_extra_info("sockname"))
        cid = self.stream.correlator.lookup(peer)
        sslobj = writer.get_extra_info("ssl_object")
        sni = self._sni.pop(id(sslobj), None) if sslobj is not None else None
        alpn = (sslobj.selected_alpn_protocol() if sslobj is not None else None) or "http/1.1"
        if len(self._tasks) >= self.max_connections:
            writer.close()
            return
        self._tasks.add(task)
        self.counters["accepted"] += 1
        self.counters[alpn] = self.counters.get(alpn, 0) + 1
        cipher = sslobj.cipher() if sslobj is not None else None
        self.stream.emit(component=self.name, layer=6, kind=Kind.ACCEPT, src=peer, dst=local, transport="tcp",
                         correlation_id=cid,
                         summary=f"{self.name} completed a TLS handshake with {peer}: "
                                 f"{sslobj.version() if sslobj else ''}, SNI {sni or '(none)'}, ALPN {alpn}",
                         detail={"sni": sni, "alpn": alpn, "tls_version": sslobj.version() if sslobj else None,
                                 "cipher": cipher[0] if cipher else None, "terminates_tls": True})
        try:
            if alpn == "h2":
                await _H2Session(self, reader, writer, peer, cid).run()
            else:
                await self._serve_h1(reader, writer, peer, cid)
        except (asyncio.CancelledError, ConnectionError, ssl.SSLError, TimeoutError, h11.ProtocolError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    def _finish(self, response: SimpleResponse, protocol: str) -> SimpleResponse:
        if self.alt_svc and protocol != "h3":
            response.headers.append(("alt-svc", self.alt_svc))
        return response

    async def _serve_h1(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Endpoint,
                        cid: str | None) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await wait_for(reader.read(READ_SIZE), self.idle_timeout)
                conn.receive_data(data)
                if not data:
                    return
                continue
            if isinstance(event, h11.ConnectionClosed):
                return
            if isinstance(event, h11.Request):
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
                request = SimpleRequest(event.method.decode(), event.target.decode("latin-1"),
                                        headers.get("host", ""), peer, cid, "http/1.1")
                while not isinstance(await self._next_h1(conn, reader), h11.EndOfMessage):
                    pass  # the lab's requests have no body worth keeping
                response = self._finish(await self._respond(request), "http/1.1")
                out = conn.send(h11.Response(status_code=response.status, headers=[
                    *response.headers, ("content-length", str(len(response.body)))]))
                out += conn.send(h11.Data(data=response.body)) or b""
                out += conn.send(h11.EndOfMessage()) or b""
                writer.write(out)
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()

    async def _next_h1(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while (event := conn.next_event()) is h11.NEED_DATA:
            data = await wait_for(reader.read(READ_SIZE), self.idle_timeout)
            if not data:
                raise ConnectionError("closed mid-request")
            conn.receive_data(data)
        return event

    async def _respond(self, request: SimpleRequest) -> SimpleResponse:
        self.counters["requests"] += 1
        response = await self.responder(request)
        self.stream.emit(component=self.name, layer=7, kind=Kind.HANDLER, src=request.peer, dst=self._bind,
                         correlation_id=request.correlation_id,
                         summary=f"{self.name} answers {request.method} {request.path} over {request.protocol}: "
                                 f"{response.status}",
                         detail={"handler": request.protocol, "target": request.path, "status": response.status,
                                 "protocol": request.protocol})
        return response


class _H2Session:
    """One HTTP/2 connection: the h2 state machine between a stream reader and writer."""

    def __init__(self, server: SecureWebServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 peer: Endpoint, cid: str | None) -> None:
        self.server, self.reader, self.writer, self.peer, self.cid = server, reader, writer, peer, cid
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False,
                                                                         header_encoding="utf-8"))
        self.window_open = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)

    async def run(self) -> None:
        self.conn.initiate_connection()
        self.flush()
        try:
            while True:
                data = await wait_for(self.reader.read(READ_SIZE), self.server.idle_timeout)
                if not data:
                    return
                try:
                    events = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    self.flush()  # h2 has queued a GOAWAY explaining the error
                    return
                for event in events:
                    if isinstance(event, h2.events.RequestReceived):
                        task = asyncio.get_running_loop().create_task(self.answer(event))
                        self.tasks.add(task)
                        task.add_done_callback(self.tasks.discard)
                    elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
                        self.window_open.set()
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        self.flush()
                        return
                self.flush()
        finally:
            for task in list(self.tasks):
                task.cancel()

    async def answer(self, event: h2.events.RequestReceived) -> None:
        headers = {str(k): str(v) for k, v in (event.headers or [])}
        sid = event.stream_id
        assert sid is not None
        request = SimpleRequest(headers.get(":method", "GET"), headers.get(":path", "/"),
                                headers.get(":authority", ""), self.peer, self.cid, "h2")
        response = self.server._finish(await self.server._respond(request), "h2")
        self.conn.send_headers(sid, [(":status", str(response.status)),
                                     *[(k.lower(), v) for k, v in response.headers],
                                     ("content-length", str(len(response.body)))],
                               end_stream=not response.body)
        self.flush()
        body = response.body
        while body:
            size = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size, len(body))
            if size <= 0:
                self.window_open.clear()
                await wait_for(self.window_open.wait(), self.server.idle_timeout)
                continue
            self.conn.send_data(sid, body[:size], end_stream=size == len(body))
            body = body[size:]
            self.flush()
        await self.writer.drain()
