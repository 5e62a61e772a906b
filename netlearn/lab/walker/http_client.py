"""The browser's HTTP/1.1 connection, on a real socket, framed by h11.

The socket is bound to the client's own address *before* connecting, so its endpoint can be
bound to the walk's correlation id and every server on the path tags its events with it.
The TCP handshake itself happens in the kernel: the walk measures it (the time ``connect()``
takes is one round trip on loopback) and shows the three segments as reconstructed.
"""
from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field

import h11

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..timeouts import wait_for
from .url import LabTarget

COMPONENT = "client"
USER_AGENT = "NetLearn-Walker/1.0 (+https://netlearn.test/walk)"
MAX_BODY = 2 * 1024 * 1024


class FetchError(Exception):
    """The connection failed in a way the walk explains (refused, reset, timed out)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class FetchResult:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    elapsed_ms: float
    ttfb_ms: float
    keep_alive: bool
    request_head: bytes = b""
    response_head: bytes = b""
    backend: str | None = None
    connection_reused: bool = False
    local: Endpoint | None = None
    extra: dict[str, object] = field(default_factory=dict)


class BrowserConnection:
    """One keep-alive HTTP/1.1 connection from the client to a lab service."""

    def __init__(self, *, stream: EventStream, correlation_id: str, target: LabTarget, client_host: str,
                 host_header: str, timeout: float = 5.0) -> None:
        self.stream = stream
        self.cid = correlation_id
        self.target = target
        self.remote = Endpoint(target.host, target.port)
        self.client_host = client_host
        self.host_header = host_header
        self.timeout = timeout
        self.local: Endpoint | None = None
        self.requests_sent = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._h11 = h11.Connection(h11.CLIENT)

    @property
    def is_open(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def open(self) -> float:
        loop = asyncio.get_running_loop()
        self._h11 = h11.Connection(h11.CLIENT)  # a new connection starts a new HTTP state machine
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((self.client_host, 0))
        self.local = Endpoint.of(sock.getsockname())
        self.stream.correlator.bind(self.local, self.cid)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):  # not wait_for: no task per await (hot path)
                await loop.sock_connect(sock, tuple(self.remote))
        except ConnectionRefusedError:
            sock.close()
            raise FetchError("refused", f"{self.remote} refused the connection (RST in answer to SYN)") from None
        except (TimeoutError, OSError) as exc:
            sock.close()
            raise FetchError("connect_failed", f"Could not connect to {self.remote}: {exc!r}") from None
        connect_ms = (time.perf_counter() - started) * 1000
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader, self._writer = await asyncio.open_connection(sock=sock)
        self.stream.emit(
            component=COMPONENT, layer=4, kind=Kind.CONNECT, src=self.local, dst=self.remote, transport="tcp",
            correlation_id=self.cid,
            summary=f"TCP 3-way handshake with {self.remote} ({self.target.role}) in {connect_ms:.2f} ms",
            detail={"connect_ms": round(connect_ms, 3), "role": self.target.role,
                    "handshake": [
                        {"segment": "SYN", "from": str(self.local), "to": str(self.remote), "flags": "S"},
                        {"segment": "SYN-ACK", "from": str(self.remote), "to": str(self.local), "flags": "SA"},
                        {"segment": "ACK", "from": str(self.local), "to": str(self.remote), "flags": "A"},
                    ],
                    "reconstructed": "The kernel exchanges these segments inside connect(); the timing is measured."},
        )
        return connect_ms

    async def fetch(self, path: str, *, purpose: str) -> FetchResult:
        assert self._reader is not None and self._writer is not None
        reused = self.requests_sent > 0
        request = h11.Request(method="GET", target=path, headers=[
            ("Host", self.host_header), ("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Connection", "keep-alive")])
        head = self._h11.send(request) + (self._h11.send(h11.EndOfMessage()) or b"")
        started = time.perf_counter()
        self._writer.write(head)
        self.requests_sent += 1
        self.stream.emit(component=COMPONENT, layer=7, kind=Kind.REQUEST, src=self.local, dst=self.remote, data=head,
                         transport="tcp", correlation_id=self.cid,
                         summary=f"GET {path} ({purpose})" + (" on the kept-alive connection" if reused else ""),
                         detail={"method": "GET", "target": path, "purpose": purpose, "reused": reused})
        raw = bytearray()
        response: h11.Response | None = None
        body = bytearray()
        ttfb_ms = 0.0
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise FetchError("bad_response", f"The server's answer broke HTTP/1.1 framing: {exc}") from None
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout(self.timeout):
                        chunk = await self._reader.read(65536)
                except TimeoutError:
                    raise FetchError("timeout", f"No answer within {self.timeout:.0f} s") from None
                except ConnectionResetError:
                    raise FetchError("reset", "The connection was reset (RST) before a full answer") from None
                if not ttfb_ms and chunk:
                    ttfb_ms = (time.perf_counter() - started) * 1000
                raw += chunk
                self._h11.receive_data(bytes(chunk))
                if not chunk and response is None:
                    raise FetchError("closed", "The server closed the connection without answering (FIN)")
                continue
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                if len(body) < MAX_BODY:
                    body += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        assert response is not None
        elapsed_ms = (time.perf_counter() - started) * 1000
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in response.headers}
        head_end = raw.find(b"\r\n\r\n")
        response_head = bytes(raw[: head_end + 4]) if head_end >= 0 else bytes(raw[:1024])
        keep_alive = self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE
        if keep_alive:
            self._h11.start_next_cycle()
        result = FetchResult(status=response.status_code, reason=response.reason.decode("latin-1"), headers=headers,
                             body=bytes(body), elapsed_ms=elapsed_ms, ttfb_ms=ttfb_ms, keep_alive=keep_alive,
                             request_head=head, response_head=response_head, backend=headers.get("x-backend"),
                             connection_reused=reused, local=self.local)
        self.stream.emit(component=COMPONENT, layer=7, kind=Kind.RESPONSE, src=self.remote, dst=self.local,
                         data=response_head, transport="tcp", correlation_id=self.cid,
                         summary=f"{response.status_code} {result.reason} for {path}"
                         + (f" from {result.backend}" if result.backend else "") + f", {len(body)} bytes",
                         detail={"status": response.status_code, "target": path, "purpose": purpose,
                                 "backend": result.backend, "body_len": len(body), "elapsed_ms": round(elapsed_ms, 3),
                                 "ttfb_ms": round(ttfb_ms, 3), "keep_alive": keep_alive,
                                 "content_type": headers.get("content-type", "")})
        return result

    async def close(self) -> None:
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            writer.close()
            await wait_for(writer.wait_closed(), 1.0)
        except (TimeoutError, OSError):
            pass
        self.stream.emit(component=COMPONENT, layer=4, kind=Kind.CLOSE, src=self.local, dst=self.remote,
                         transport="tcp", correlation_id=self.cid,
                         summary=f"The browser closes the connection: FIN, ACK, FIN, ACK ({self.requests_sent} "
                         f"request(s) on it); the client side waits in TIME_WAIT",
                         detail={"requests": self.requests_sent, "sequence": [
                             {"segment": "FIN", "from": str(self.local), "to": str(self.remote)},
                             {"segment": "ACK", "from": str(self.remote), "to": str(self.local)},
                             {"segment": "FIN", "from": str(self.remote), "to": str(self.local)},
                             {"segment": "ACK", "from": str(self.local), "to": str(self.remote)}],
                             "reconstructed": "The kernel sends these segments after close(); the active closer "
                                              "keeps the port in TIME_WAIT for 2×MSL."})
        if self.local is not None:
            # Keep the binding briefly: the server's own close event arrives after ours.
            loop = asyncio.get_running_loop()
            local = self.local
            loop.call_later(2.0, self.stream.correlator.unbind, local)
