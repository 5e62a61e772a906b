"""One client connection of the L7 balancer: read a request, choose, forward, answer, repeat."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import h11

from ..events import Endpoint, Kind
from ..http.codec import MAX_BODY_BYTES, MAX_HEAD_BYTES, MirroredConnection, cookies, header_value, plain_response
from ..stream import EventStream
from .algorithms import BackendState, Choice
from .dial import dial
from .l7_rules import HOP_BY_HOP, REASONS, SERVER, VIA, ProxyError
from .l7_upgrade import tunnel, wants_websocket
from .pool import BackendPool

COOKIE_PREFIX = "nl_"
__all__ = ["HOP_BY_HOP", "REASONS", "SERVER", "VIA", "Balancer", "ProxyError", "Session", "plain_error", "pool_for"]


class Balancer(Protocol):
    """What a session needs of its balancer (``L7Balancer`` is one): where it listens, where it
    reports, its pools, its limits and its counters. The session never imports the balancer."""

    name: str
    stream: EventStream
    pools: dict[str, BackendPool]
    counters: dict[str, int]
    api_hosts: tuple[str, ...]
    backend_timeout: float
    connect_timeout: float
    head_timeout: float
    idle_timeout: float

    @property
    def address(self) -> Endpoint: ...


def pool_for(host: str, target: str, *, api_hosts: Sequence[str] = ("api.netlearn.test",)) -> str:
    """The routing rule, pure: ``api`` by host or by path prefix, ``web`` otherwise."""
    path = target.split("?", 1)[0]
    if host in api_hosts or path == "/api" or path.startswith("/api/"):
        return "api"
    return "web"


class _Stale(Exception):
    """A reused backend connection closed before answering: retry once on a fresh one."""


def plain_error(status: int, message: str) -> bytes:
    return plain_response(status, REASONS.get(status, "Error"),
                          f"{status} {REASONS.get(status, '')}: {message}\n".encode(),
                          server=SERVER, extra=[("Via", VIA)])


@dataclass
class _Upstream:
    backend: BackendState
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    conn: MirroredConnection
    local: Endpoint

    def close(self) -> None:
        self.writer.transport.abort()


class Session:
    def __init__(self, lb: Balancer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 peer: Endpoint, local: Endpoint, cid: str | None) -> None:
        self.lb = lb
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.local = local
        self.cid = cid
        self.conn = MirroredConnection(h11.SERVER)
        self.upstreams: dict[str, _Upstream] = {}
        self.requests = 0
        self.started = time.perf_counter()

    def emit(self, kind: Kind, summary: str, *, src: Endpoint | None = None, dst: Endpoint | None = None,
             data: bytes = b"", layer: int = 7, **detail: Any) -> None:
        self.lb.stream.emit(component=self.lb.name, layer=layer, kind=kind, summary=summary, src=src or self.peer,
                            dst=dst or self.local, data=data, detail=detail, correlation_id=self.cid, transport="tcp")

    async def run(self) -> None:
        self.emit(Kind.ACCEPT, f"accepted {self.peer}", layer=4)
        reason = "client closed"
        try:
            while True:
                got = await self._read_request()
                if got is None:
                    break
                if isinstance(got, ProxyError):
                    await self._answer_error(got, None, None)
                    reason = f"bad request ({got.status})"
                    break
                if not await self._handle(*got):
                    reason = "connection: close"
                    break
                self.conn.h11.start_next_cycle()
        except (ConnectionError, OSError) as exc:
            reason = f"client error: {exc}"
        finally:
            for up in self.upstreams.values():
                self._release_upstream(up)
            self.upstreams.clear()
            self.writer.transport.close()
            self.emit(Kind.CLOSE, f"closed {self.peer} after {self.requests} request(s) ({reason})", layer=4,
                      requests=self.requests, reason=reason,
                      duration_ms=round((time.perf_counter() - self.started) * 1000, 3))

    # -- reading the client's request -----------------------------------------------------
    async def _read_request(self) -> tuple[h11.Request, bytes, bytes] | ProxyError | None:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        pending: tuple[h11.Request, bytes] | None = None
        body = bytearray()
        while True:
            try:
                event, raw = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                return ProxyError(exc.error_status_hint, str(exc))
            if event is h11.NEED_DATA:
                started = pending is not None or self.conn.buffered > 0
                if started and deadline is None:
                    deadline = loop.time() + self.lb.head_timeout  # slowloris: never re-armed per byte
                try:
                    if deadline is not None:
                        async with asyncio.timeout_at(deadline):
                            data = await self.reader.read(65536)
                    else:
                        async with asyncio.timeout(self.lb.idle_timeout):
                            data = await self.reader.read(65536)
                except TimeoutError:
                    return ProxyError(408, "request not complete in time") if started else None
                if not data and not started:
                    return None
                self.conn.receive_data(data)
            elif isinstance(event, h11.ConnectionClosed):
                return None
            elif isinstance(event, h11.Request):
                if len(raw) > MAX_HEAD_BYTES:  # h11 only limits heads that arrive in pieces
                    return ProxyError(431, f"request head over {MAX_HEAD_BYTES} bytes")
                pending = (event, raw)
                if deadline is None:
                    deadline = loop.time() + self.lb.head_timeout
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    return ProxyError(413, f"request body over {MAX_BODY_BYTES} bytes")
            elif isinstance(event, h11.EndOfMessage) and pending is not None:
                return pending[0], pending[1], bytes(body)
            else:
                return None

    # -- one request -----------------------------------------------------------------------
    async def _handle(self, request: h11.Request, head: bytes, body: bytes) -> bool:
        self.requests += 1
        self.lb.counters["requests"] += 1
        method, target = request.method.decode(), request.target.decode("latin-1")
        host = (header_value(request.headers, b"host") or b"").decode("latin-1").rsplit(":", 1)[0].lower()

        pool_name = pool_for(host, target, api_hosts=self.lb.api_hosts)
        pool = self.lb.pools[pool_name]
        self.emit(Kind.REQUEST, f"{method} {target} (Host {host or '-'}) → pool {pool_name}", data=head,
                  method=method, target=target, host=host, pool=pool_name)
        choice, cookie_value = self._choose(pool, request)
        self.emit(Kind.CHOOSE, f"{choice.algorithm}: {choice.backend.name if choice.backend else 'nobody'}",
                  pool=pool_name, cookie=cookie_value, **choice.explanation())
        ctx = {"method": method, "target": target, "pool": pool_name}
        if choice.backend is None:
            return await self._answer_error(ProxyError(503, f"no healthy backend in pool {pool_name}"), ctx, None)
        backend = choice.backend
        backend.active += 1
        if wants_websocket(request):
            try:
                return await tunnel(self, backend, request)
            except ProxyError as err:
                return await self._answer_error(err, ctx, backend)
            finally:
                backend.active -= 1
        started = time.perf_counter()
        try:
            status, reason, headers, rbody = await self._forward(backend, request, body)
        except ProxyError as err:
            return await self._answer_error(err, ctx, backend)
        finally:
            backend.active -= 1
        pool.observe_rtt(backend, time.perf_counter() - started)
        out_headers = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != b"via"]
        via = header_value(headers, b"via")
        out_headers.append((b"Via", (via.decode("latin-1") + ", " if via else "").encode() + VIA.encode()))
        if cookie_value != backend.name:
            out_headers.append((b"Set-Cookie",
                                f"{COOKIE_PREFIX}{pool_name}={backend.name}; Path=/; HttpOnly; SameSite=Lax".encode()))
        if method == "HEAD":
            length = header_value(headers, b"content-length")
            if length is not None:
                out_headers.append((b"Content-Length", length))
        elif status not in (204, 304):  # RFC 9110 §8.6: these carry no Content-Length of their own
            out_headers.append((b"Content-Length", str(len(rbody)).encode()))
        self._count(status)
        return await self._send(status, reason, out_headers, rbody, {**ctx, "backend": backend.name})

    def _choose(self, pool: BackendPool, request: h11.Request) -> tuple[Choice, str | None]:
        name = f"{COOKIE_PREFIX}{pool.pool}"
        wanted = cookies(request.headers).get(name)
        state = pool.by_name.get(wanted) if wanted else None
        if state is not None and state.healthy and state.weight > 0:
            state.chosen += 1
            now = pool.clock()
            return Choice(state, "sticky_cookie",
                          f"The request carried the cookie {name}={wanted} and {wanted} is healthy, so it goes back "
                          f"there (session stickiness).", tuple(s.snapshot(now) for s in pool.states)), wanted
        choice = pool.choose(self.peer.host)
        if wanted and choice.backend is not None:
            why = "is down" if state is not None else "is not in this pool"
            choice = Choice(choice.backend, choice.algorithm,
                            f"The cookie {name}={wanted} was ignored because that backend {why}. " + choice.reason,
                            choice.candidates)
        return choice, wanted

    async def _forward(self, backend: BackendState, request: h11.Request,
                       body: bytes) -> tuple[int, str, list[tuple[bytes, bytes]], bytes]:
        for attempt in (1, 2):
            up = self.upstreams.get(backend.name)
            fresh = up is None
            if up is None:
                up = await self._open(backend)
            try:
                return await self._exchange(up, request, body)
            except _Stale:
                self._drop(up)
                if fresh or attempt == 2:
                    raise ProxyError(502, f"{backend.name} closed the connection without a valid answer") from None
        raise AssertionError("unreachable")

    async def _open(self, backend: BackendState) -> _Upstream:
        try:
            sock, local = await dial(self.lb.address.host, backend.endpoint, timeout=self.lb.connect_timeout,
                                     stream=self.lb.stream, correlation_id=self.cid)
        except TimeoutError:
            raise ProxyError(504, f"{backend.name} did not accept a connection in time") from None
        except OSError as exc:
            raise ProxyError(502, f"{backend.name} refused the connection ({exc.strerror or exc})") from None
        reader, writer = await asyncio.open_connection(sock=sock)
        up = _Upstream(backend, reader, writer, MirroredConnection(h11.CLIENT), local)
        self.upstreams[backend.name] = up
        self.emit(Kind.CONNECT, f"opened {local} → {backend.name} {backend.endpoint}", src=local,
                  dst=backend.endpoint, layer=4, backend=backend.name, client=str(self.peer), lb_local=str(local))
        return up

    async def _exchange(self, up: _Upstream, request: h11.Request,
                        body: bytes) -> tuple[int, str, list[tuple[bytes, bytes]], bytes]:
        # raw_items() keeps the client's header casing: the backend sees what the client wrote.
        headers = [(k, v) for k, v in request.headers.raw_items()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in (b"x-forwarded-for", b"via")]
        xff = header_value(request.headers, b"x-forwarded-for")
        headers.append((b"X-Forwarded-For", (xff + b", " if xff else b"") + self.peer.host.encode()))
        headers.append((b"X-Forwarded-Proto", b"http"))
        via = header_value(request.headers, b"via")
        headers.append((b"Via", (via + b", " if via else b"") + VIA.encode()))
        if body:
            headers.append((b"Content-Length", str(len(body)).encode()))
        if header_value(headers, b"host") is None:
            headers.append((b"Host", up.backend.endpoint.host.encode()))
        head = up.conn.send(h11.Request(method=request.method, target=request.target, headers=headers))
        out = head + (up.conn.send(h11.Data(data=body)) if body else b"") + up.conn.send(h11.EndOfMessage())
        self.emit(Kind.FORWARD, f"{request.method.decode()} {request.target.decode('latin-1')} → {up.backend.name}",
                  src=up.local, dst=up.backend.endpoint, data=head, backend=up.backend.name)
        answered = False
        try:
            async with asyncio.timeout(self.lb.backend_timeout):
                up.writer.write(out)
                await up.writer.drain()
                response: h11.Response | None = None
                rbody = bytearray()
                while True:
                    event, _ = up.conn.next_event()
                    if event is h11.NEED_DATA:
                        up.conn.receive_data(await up.reader.read(65536))
                    elif isinstance(event, h11.Response):
                        response, answered = event, True
                    elif isinstance(event, h11.Data):
                        rbody += event.data
                        if len(rbody) > MAX_BODY_BYTES:
                            raise ProxyError(502, f"{up.backend.name} sent a body over {MAX_BODY_BYTES} bytes")
                    elif isinstance(event, h11.EndOfMessage) and response is not None:
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        raise _Stale()
        except TimeoutError:
            self._drop(up)
            raise ProxyError(504, f"{up.backend.name} did not answer within {self.lb.backend_timeout:g} s") from None
        except h11.RemoteProtocolError as exc:
            self._drop(up)
            if not answered:
                raise _Stale() from None
            raise ProxyError(502, f"{up.backend.name} closed mid-response or sent bad HTTP ({exc})") from None
        except (ConnectionError, OSError):
            self._drop(up)
            if not answered:
                raise _Stale() from None
            raise ProxyError(502, f"{up.backend.name} reset the connection mid-response") from None
        if up.conn.h11.our_state is h11.DONE and up.conn.h11.their_state is h11.DONE:
            up.conn.h11.start_next_cycle()
        else:
            self._drop(up)
        return (response.status_code, response.reason.decode("latin-1"), list(response.headers.raw_items()),
                bytes(rbody))

    def _drop(self, up: _Upstream) -> None:
        if self.upstreams.get(up.backend.name) is up:
            del self.upstreams[up.backend.name]
        self._release_upstream(up)

    def _release_upstream(self, up: _Upstream) -> None:
        up.close()
        self.lb.stream.correlator.unbind(up.local)

    # -- answering the client --------------------------------------------------------------
    def _count(self, status: int) -> None:
        key = f"{status // 100}xx"
        if key in self.lb.counters:
            self.lb.counters[key] += 1
        if str(status) in self.lb.counters:
            self.lb.counters[str(status)] += 1

    async def _answer_error(self, err: ProxyError, ctx: dict[str, Any] | None, backend: BackendState | None) -> bool:
        self._count(err.status)
        self.emit(Kind.ERROR, f"{err.status} {REASONS.get(err.status, '')}: {err.message}", status=err.status,
                  error=err.message, backend=backend.name if backend else None)
        body = f"{err.status} {REASONS.get(err.status, '')}: {err.message}\n".encode()
        headers = [(b"Content-Type", b"text/plain; charset=utf-8"), (b"Via", VIA.encode()),
                   (b"Content-Length", str(len(body)).encode())]
        if ctx is None or err.status < 500:
            headers.append((b"Connection", b"close"))
        return await self._send(err.status, REASONS.get(err.status, "Error"), headers, body,
                                {**(ctx or {}), "backend": backend.name if backend else None})

    async def _send(self, status: int, reason: str, headers: list[tuple[bytes, bytes]], body: bytes,
                    detail: dict[str, Any]) -> bool:
        conn = self.conn.h11
        headers = [(b"Server", SERVER.encode()), *[(k, v) for k, v in headers if k.lower() != b"server"]]
        try:
            head = conn.send(h11.Response(status_code=status, reason=reason, headers=headers)) or b""
            rest = (conn.send(h11.Data(data=body)) or b"") if body and detail.get("method") != "HEAD" else b""
            rest += conn.send(h11.EndOfMessage()) or b""
            keep = conn.our_state is h11.DONE and conn.their_state is h11.DONE
        except h11.LocalProtocolError:  # the client broke the state machine: answer by hand
            head = plain_error(status, body.decode(errors="replace").strip())
            rest, keep = b"", False
        self.emit(Kind.RESPONSE, f"{status} {reason}", src=self.local, dst=self.peer, data=head,
                  status=status, body_len=len(body), **detail)
        self.writer.write(head + rest)
        await self.writer.drain()
        return keep
