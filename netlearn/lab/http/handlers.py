"""The five handlers of a backend's pipeline; each small, each reporting what it did."""
from __future__ import annotations

import json
from email.utils import formatdate
from typing import Any

import h11

from . import features
from .codec import MAX_BODY_BYTES, MAX_HEAD_BYTES, MirroredConnection, plain_response
from .context import HandlerContext
from .messages import HttpRequest, HttpResponse, Outgoing, ProtocolFailure
from .site import SLOW_DELAY, STATIC, hello_body, route_for

SERVER_NAME = "netlearn-backend/1.0 (h11)"
REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
           431: "Request Header Fields Too Large", 501: "Not Implemented", 505: "HTTP Version Not Supported"}


class HttpDecoder:
    """Bytes to requests (h11), keeping the real head bytes; bad bytes become a verdict."""

    name = "decoder"

    def __init__(self, *, max_head: int = MAX_HEAD_BYTES, max_body: int = MAX_BODY_BYTES) -> None:
        self.conn = MirroredConnection(h11.SERVER, max_head=max_head)
        self.max_head = max_head
        self.max_body = max_body
        self.peer_closed = False
        self._pending: HttpRequest | None = None
        self._body = bytearray()

    def feed(self, data: bytes) -> None:
        if self.peer_closed:
            return  # nothing can follow an EOF; h11 would raise
        if not data:
            self.peer_closed = True
        self.conn.receive_data(data)

    @property
    def partial(self) -> bool:
        return self._pending is not None or (self.conn.buffered > 0 and self.conn.h11.their_state is h11.IDLE)

    def decode(self, ctx: HandlerContext) -> HttpRequest | ProtocolFailure | None:
        while True:
            try:
                event, raw = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint
                ctx.report("rejected", f"malformed input → {status}", status=status, error=str(exc))
                return ProtocolFailure(status, REASONS.get(status, "Bad Request"), str(exc))
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return None
            if isinstance(event, h11.ConnectionClosed):
                self.peer_closed = True
                return None
            if isinstance(event, h11.Request):
                if len(raw) > self.max_head:  # h11 only limits heads that arrive in pieces
                    ctx.report("rejected", f"{len(raw)}-byte head → 431", status=431, bytes=len(raw))
                    return ProtocolFailure(431, REASONS[431], f"request head over {self.max_head} bytes")
                self._pending = HttpRequest(
                    method=event.method.decode("ascii", "replace"), target=event.target.decode("latin-1"),
                    http_version=event.http_version.decode("ascii"), headers=list(event.headers), head=raw)
                self._body.clear()
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self.max_body:
                    ctx.report("rejected", f"body over {self.max_body} bytes → 413", status=413)
                    return ProtocolFailure(413, REASONS[413], f"request body over {self.max_body} bytes")
            elif isinstance(event, h11.EndOfMessage) and self._pending is not None:
                request, self._pending = self._pending, None
                request.body = bytes(self._body)
                ctx.report("decoded", f"{len(request.head)}-byte head → {request.method} {request.target}",
                           bytes=len(request.head), body_len=len(request.body), method=request.method,
                           target=request.target)
                return request


class RequestLogger:
    """An access log, as Netty's LoggingHandler: sees requests in and the real bytes out."""

    name = "logger"

    def inbound(self, ctx: HandlerContext, request: HttpRequest) -> HttpRequest:
        peer = ctx.pipeline.peer
        ctx.report("logged", f'{peer.host} "{request.method} {request.target} HTTP/{request.http_version}"',
                   direction="in", line=f"{request.method} {request.target}")
        return request

    def outbound(self, ctx: HandlerContext, out: Outgoing) -> Outgoing:
        ctx.report("logged", f"{out.status}, {len(out.data)} bytes out", direction="out", status=out.status,
                   bytes=len(out.data))
        return out


class Router:
    """Decides which route a request takes; the application dispatches on that decision."""

    name = "router"

    def inbound(self, ctx: HandlerContext, request: HttpRequest) -> HttpRequest:
        request.route = route_for(request.method, request.target)
        ctx.report("routed", f"{request.route.path} → {request.route.name}", route=request.route.name,
                   path=request.route.path)
        return request


class SiteApplication:
    """The lab web site, plus the backend's injected faults (latency, 500s, cut responses)."""

    name = "application"

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def inbound(self, ctx: HandlerContext, request: HttpRequest) -> HttpResponse:
        behaviour = ctx.pipeline.behaviour
        route = request.route or route_for(request.method, request.target)
        response = self._answer(route.name, route.path, request, ctx.pipeline.peer.host)
        if route.path.startswith("/api/"):
            response.headers += features.cors_headers(request)
        if behaviour.mode == "error":
            response = HttpResponse(500, "Internal Server Error", b"500 Internal Server Error (injected)\n",
                                    [("Content-Type", "text/plain; charset=utf-8")])
        response.request = request
        response.delay += behaviour.latency
        response.cut = behaviour.mode == "close"
        ctx.report("handled", f"{route.name} → {response.status}", route=route.name, status=response.status,
                   delay_ms=round(response.delay * 1000, 1), mode=behaviour.mode)
        return response

    def _answer(self, route: str, path: str, request: HttpRequest, client: str) -> HttpResponse:
        if route == "static":
            ctype, body = STATIC[path]
            return HttpResponse(200, "OK", body, [("Content-Type", ctype), ("Cache-Control", "no-cache")])
        if route == "hello":
            body = hello_body(self.backend, method=request.method, path=path, client=client)
            return HttpResponse(200, "OK", body, [("Content-Type", "application/json")])
        if route == "slow":
            body = json.dumps({"backend": self.backend, "waited_ms": SLOW_DELAY * 1000}).encode()
            return HttpResponse(200, "OK", body, [("Content-Type", "application/json")], delay=SLOW_DELAY)
        if route == "health":
            return HttpResponse(200, "OK", b"ok\n", [("Content-Type", "text/plain; charset=utf-8")])
        feature = self._feature(route, path, request)
        if feature is not None:
            return feature
        if route == "method_not_allowed":
            allow = request.route.allow if request.route else "GET, HEAD"
            return HttpResponse(405, "Method Not Allowed", b"405 Method Not Allowed\n",
                                [("Content-Type", "text/plain; charset=utf-8"), ("Allow", allow)])
        return HttpResponse(404, "Not Found", f"404 Not Found: {path}\n".encode(),
                            [("Content-Type", "text/plain; charset=utf-8")])

    @staticmethod
    def _feature(route: str, path: str, request: HttpRequest) -> HttpResponse | None:
        """The web-features demo (:mod:`.features`), or None for the site's own routes."""
        if route == "options":
            return features.options_answer(request, request.route.allow if request.route else "GET, HEAD, OPTIONS")
        if route == "catalog":
            return features.catalog_answer(request)
        if route == "login":
            return features.login_answer()
        if route in ("me", "admin"):
            return features.me_answer(request, admin_only=route == "admin")
        if route == "redirect":
            return features.redirect_answer(path)
        if route == "websocket":
            return features.websocket_answer(request)
        return None


class HttpEncoder:
    """Responses to bytes through h11 (so framing and keep-alive rules are h11's, not ours)."""

    name = "encoder"

    def __init__(self, decoder: HttpDecoder, backend: str) -> None:
        self.decoder = decoder
        self.backend = backend
        self._date_second = -1
        self._date = ""

    def _http_date(self, now: float) -> str:
        if int(now) != self._date_second:  # formatting a date per response is wasted work
            self._date_second = int(now)
            self._date = formatdate(now, usegmt=True)
        return self._date

    def outbound(self, ctx: HandlerContext, response: HttpResponse) -> Outgoing:
        conn = self.decoder.conn.h11
        date = self._http_date(ctx.pipeline.clock())
        head_request = response.request is not None and response.request.method == "HEAD"
        headers: list[tuple[str, str]] = [("Server", SERVER_NAME), ("Date", date), ("X-Backend", self.backend)]
        headers += response.headers
        if response.status == 101:  # the connection now speaks another protocol (a WebSocket)
            return self._switch(ctx, conn, response, headers)
        if response.status not in (204, 304):  # RFC 9110 §8.6: no Content-Length on these
            headers.append(("Content-Length", str(len(response.body))))
        if response.close:
            headers.append(("Connection", "close"))
        try:
            head = conn.send(h11.Response(status_code=response.status, reason=response.reason, headers=headers))
            body = b""
            if response.body and not head_request:
                body = conn.send(h11.Data(data=response.body)) or b""
            body += conn.send(h11.EndOfMessage()) or b""
            close = response.close or conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE
            if not close:
                conn.start_next_cycle()
            data = (head or b"") + body
            head_len = len(head or b"")
        except h11.LocalProtocolError:
            # The peer broke the state machine (a malformed head): answer by hand and close.
            data = plain_response(response.status, response.reason, response.body, server=SERVER_NAME, date=date,
                                  extra=[("X-Backend", self.backend)])
            head_len = data.index(b"\r\n\r\n") + 4
            close = True
        ctx.report("encoded", f"{response.status} → {len(data)} bytes", status=response.status, bytes=len(data),
                   keep_alive=not close)
        return Outgoing(data=data, head_len=head_len, close=close, cut=response.cut, status=response.status)


    @staticmethod
    def _switch(ctx: HandlerContext, conn: h11.Connection, response: HttpResponse,
                headers: list[tuple[str, str]]) -> Outgoing:
        head = conn.send(h11.InformationalResponse(status_code=101, reason=response.reason, headers=headers)) or b""
        ctx.report("encoded", f"101 → {len(head)} bytes, protocol switched", status=101, bytes=len(head),
                   keep_alive=True)
        return Outgoing(data=head, head_len=len(head), close=False, cut=False, status=101, upgraded=True)


def default_handlers(backend: str) -> list[Any]:
    decoder = HttpDecoder()
    return [decoder, RequestLogger(), Router(), SiteApplication(backend), HttpEncoder(decoder, backend)]
