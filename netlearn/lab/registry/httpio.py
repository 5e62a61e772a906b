"""A small HTTP/1.1 JSON server and client over h11, for the registry, instances and HA nodes.

Thin asyncio shells: h11 does the framing, these move bytes and enforce the bounds (payload size,
concurrent connections, time-outs). One request per connection (``Connection: close``): the
lesson's clients open a fresh connection per call on purpose, so a dead instance shows up as a
refused connection at once, which is what client-side retry reacts to.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import h11

from ..events import Endpoint
from ..tasks import cancel_and_wait
from ..timeouts import wait_for

Handler = Callable[[str, str, bytes, Endpoint], Awaitable[tuple[int, dict[str, Any]]]]
MAX_HEAD = 8192


class HttpError(Exception):
    """A call that did not produce an HTTP answer (refused, reset, timed out, malformed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class JsonHttpServer:
    """Serves ``handler(method, path, body, peer) -> (status, json)`` on ``host:port``."""

    def __init__(self, handler: Handler, *, host: str, port: int = 0, max_payload: int = 4096,
                 max_connections: int = 256, timeout: float = 5.0) -> None:
        self.handler = handler
        self.host, self.port = host, port
        self.max_payload = max_payload
        self.timeout = timeout
        self._slots = max_connections
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._bound: Endpoint | None = None

    @property
    def address(self) -> Endpoint:
        return self._bound or Endpoint(self.host, self.port)

    async def start(self, *, reuse_address: bool = True) -> None:
        self._server = await asyncio.start_server(self._on_client, self.host, self.port,
                                                  reuse_address=reuse_address, backlog=128)
        self._bound = Endpoint.of(self._server.sockets[0].getsockname())

    async def stop(self) -> None:
        """Close the listener and every connection now (an abrupt stop is what a crash looks like)."""
        if self._server is not None:
            self._server.close()
            await cancel_and_wait(self._tasks)
            await self._server.wait_closed()
            self._server = None

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._slots <= 0:
            writer.close()
            return
        self._slots -= 1
        self._tasks.add(task)
        try:
            await wait_for(self._serve(reader, writer), self.timeout)
        except (TimeoutError, OSError, h11.ProtocolError):
            pass
        finally:
            self._slots += 1
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        peer = Endpoint.of(writer.get_extra_info("peername"))
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                request = event
                length = dict(event.headers).get(b"content-length")
                if length is not None and int(length) > self.max_payload:
                    await self._send(writer, conn, 413, {"error": "payload_too_large",
                                                         "message": f"bodies are limited to {self.max_payload} bytes"})
                    return
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.max_payload:
                    await self._send(writer, conn, 413, {"error": "payload_too_large",
                                                         "message": f"bodies are limited to {self.max_payload} bytes"})
                    return
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        if request is None:
            return
        status, payload = await self.handler(request.method.decode(), request.target.decode(), bytes(body), peer)
        await self._send(writer, conn, status, payload)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, conn: h11.Connection, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(body))), ("connection", "close")]
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
        writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()


async def http_json(address: Endpoint | tuple[str, int], method: str, path: str, payload: Any = None, *,
                    local_host: str | None = None, timeout: float = 2.0, max_body: int = 1 << 20,
                    on_local: Callable[[Endpoint], None] | None = None) -> tuple[int, dict[str, Any]]:
    """One request, one JSON answer. ``on_local`` learns the socket's local endpoint (correlation)."""
    host, port = address
    body = b"" if payload is None else json.dumps(payload).encode()
    try:
        reader, writer = await wait_for(
            asyncio.open_connection(host, port, local_addr=(local_host, 0) if local_host else None), timeout)
    except ConnectionRefusedError as exc:
        raise HttpError("refused", f"{host}:{port} refused the connection") from exc
    except TimeoutError as exc:
        raise HttpError("timeout", f"connecting to {host}:{port} timed out") from exc
    except OSError as exc:
        raise HttpError("unreachable", f"{host}:{port}: {exc.strerror or exc}") from exc
    if on_local is not None:
        on_local(Endpoint.of(writer.get_extra_info("sockname")))
    conn = h11.Connection(h11.CLIENT)
    try:
        headers = [("host", f"{host}:{port}"), ("content-length", str(len(body))), ("connection", "close")]
        if payload is not None:
            headers.append(("content-type", "application/json"))
        writer.write(conn.send(h11.Request(method=method, target=path, headers=headers)) or b"")
        writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        status, data = await wait_for(_read_response(conn, reader, max_body), timeout)
    except TimeoutError as exc:
        raise HttpError("timeout", f"{host}:{port} did not answer in {timeout:g} s") from exc
    except (OSError, h11.ProtocolError) as exc:
        raise HttpError("reset", f"{host}:{port} broke the connection: {exc}") from exc
    finally:
        writer.close()
    try:
        return status, json.loads(data) if data else {}
    except ValueError as exc:
        raise HttpError("malformed", f"{host}:{port} answered with something that is not JSON") from exc


async def _read_response(conn: h11.Connection, reader: asyncio.StreamReader, max_body: int) -> tuple[int, bytes]:
    status = 0
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > max_body:
                raise h11.ProtocolError("response body too large")
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            if status == 0:
                raise h11.ProtocolError("the connection closed before a response")
            return status, bytes(body)
