"""A Netty-style ChannelPipeline for one HTTP/1.1 connection, with no socket in it.

Theory of operation
-------------------
A connection owns a pipeline of handlers, in order::

    0 decoder  ->  1 logger  ->  2 router  ->  3 application  ->  4 encoder

Inbound, bytes enter the decoder, which turns them into an :class:`HttpRequest`; the request
passes through every later handler that has an ``inbound`` method, and the application turns it
into an :class:`HttpResponse`. Outbound, the response passes back through every handler with an
``outbound`` method in *reverse* order (encoder first, so the logger near the head sees the
real bytes, as Netty's LoggingHandler does). Each handler reports what it did as a
``Kind.HANDLER`` event through its :class:`ChannelContext`.

The pipeline is pull-driven so that pipelined requests are answered strictly in order: the shell
(or :class:`~.embedded.EmbeddedChannel`) calls :meth:`HttpPipeline.next_response` for the next
answer, waits ``response.delay`` if it wants, then :meth:`HttpPipeline.encode` s it, which also
starts the next HTTP cycle. Nothing here sleeps, reads a socket or knows about asyncio.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from ..events import Endpoint, Kind
from ..stream import EventStream
from .context import Behaviour
from .handlers import default_handlers
from .messages import HttpResponse, Outgoing, ProtocolFailure

LAYER = 7
__all__ = ["Behaviour", "ChannelContext", "HttpPipeline"]


class ChannelContext:
    """What a handler may touch (``context.HandlerContext``): its own identity, the
    connection's endpoints and behaviour, and the stream."""

    def __init__(self, pipeline: HttpPipeline, name: str, index: int) -> None:
        self.pipeline = pipeline
        self.name = name
        self.index = index

    def report(self, action: str, summary: str, **detail: Any) -> None:
        p = self.pipeline
        if p.stream is None:
            return
        p.stream.emit(component=p.component, layer=LAYER, kind=Kind.HANDLER, summary=f"{self.name}: {summary}",
                      src=p.peer, dst=p.local, transport="tcp",
                      detail={"handler": self.name, "index": self.index, "action": action, **detail})


class Handler(Protocol):
    name: str


class HttpPipeline:
    """The handlers of one connection plus the state that ties them together."""

    def __init__(self, *, component: str, stream: EventStream | None, local: Endpoint, peer: Endpoint,
                 behaviour: Behaviour | None = None, clock: Callable[[], float] = time.time,
                 handlers: list[Any] | None = None) -> None:
        self.component = component
        self.stream = stream
        self.local = local
        self.peer = peer
        self.behaviour = behaviour or Behaviour()
        self.clock = clock
        self.handlers = handlers if handlers is not None else default_handlers(component)
        self.contexts = [ChannelContext(self, h.name, i) for i, h in enumerate(self.handlers)]
        self.decoder = self.handlers[0]
        self.requests = 0
        #: True once the peer's bytes can never form another request: the shell closes.
        self.finished = False

    # -- inbound -------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means it half-closed (EOF)."""
        self.decoder.feed(data)

    def next_response(self) -> HttpResponse | None:
        """The answer to the next complete request, or None if more bytes are needed."""
        if self.finished:
            return None
        decoded = self.decoder.decode(self.contexts[0])
        if decoded is None:
            if self.decoder.peer_closed:
                self.finished = True
            return None
        if isinstance(decoded, ProtocolFailure):
            return self._failure(decoded)
        self.requests += 1
        self._emit(Kind.REQUEST, f"{decoded.method} {decoded.target}", decoded.head, src=self.peer, dst=self.local,
                   detail={"method": decoded.method, "target": decoded.target, "http_version": decoded.http_version,
                           "body_len": len(decoded.body)})
        message: Any = decoded
        for handler, ctx in zip(self.handlers[1:], self.contexts[1:]):
            inbound = getattr(handler, "inbound", None)
            if inbound is not None and not isinstance(message, HttpResponse):
                message = inbound(ctx, message)
        if not isinstance(message, HttpResponse):  # a pipeline without an application
            message = HttpResponse(500, "Internal Server Error", b"no handler answered\n", request=decoded)
        return message

    @property
    def head_in_progress(self) -> bool:
        """Some bytes of a request head have arrived but not all: the slowloris clock runs."""
        return not self.finished and self.decoder.partial

    def timeout_response(self) -> HttpResponse:
        """408: the head did not arrive in time (slowloris). Always closes the connection."""
        return self._failure(ProtocolFailure(408, "Request Timeout", "request head not complete in time"))

    def _failure(self, failure: ProtocolFailure) -> HttpResponse:
        self.finished = True
        if self.stream is not None:
            self.stream.emit(component=self.component, layer=LAYER, kind=Kind.ERROR,
                             summary=f"{failure.status} {failure.reason}: {failure.message}", src=self.peer,
                             dst=self.local, transport="tcp",
                             detail={"status": failure.status, "error": failure.message})
        return HttpResponse(failure.status, failure.reason, f"{failure.status} {failure.reason}\n".encode(),
                            [("Content-Type", "text/plain; charset=utf-8")], close=True)

    # -- outbound ------------------------------------------------------------------------
    def encode(self, response: HttpResponse) -> Outgoing:
        """Run the response back through the outbound handlers into bytes for the socket."""
        message: Any = response
        for handler, ctx in reversed(list(zip(self.handlers, self.contexts))):
            outbound = getattr(handler, "outbound", None)
            if outbound is not None:
                message = outbound(ctx, message)
        assert isinstance(message, Outgoing), "the encoder must turn responses into bytes"
        self._emit(Kind.RESPONSE, f"{message.status} {response.reason}", message.data[:message.head_len],
                   src=self.local, dst=self.peer,
                   detail={"status": message.status, "backend": self.component, "body_len": len(response.body),
                           "cut": message.cut})
        if message.close:
            self.finished = True
        return message

    def _emit(self, kind: Kind, summary: str, data: bytes, *, src: Endpoint, dst: Endpoint,
              detail: dict[str, Any]) -> None:
        if self.stream is not None:
            self.stream.emit(component=self.component, layer=LAYER, kind=kind, summary=summary, src=src, dst=dst,
                             data=data, detail=detail, transport="tcp")
