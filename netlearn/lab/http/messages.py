"""What flows through a backend's pipeline: requests in, responses out, bytes at the ends."""
from __future__ import annotations

from dataclasses import dataclass, field

from .site import Route


@dataclass
class HttpRequest:
    method: str
    target: str
    http_version: str
    headers: list[tuple[bytes, bytes]]
    #: The exact head bytes that crossed the socket (see :mod:`.codec`).
    head: bytes
    body: bytes = b""
    route: Route | None = None

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key == wanted:
                return value.decode("latin-1")
        return None


@dataclass
class HttpResponse:
    status: int
    reason: str
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: Seconds the shell waits before writing (``/slow``, injected latency). The embedded
    #: channel records it instead of sleeping, so tests stay fast and exact.
    delay: float = 0.0
    #: Close the connection after this response (errors, ``Connection: close``).
    close: bool = False
    #: Failure injection: write the head and half the body, then drop the connection.
    cut: bool = False
    #: The request this answers (None for answers to bytes that never became a request).
    request: HttpRequest | None = None


@dataclass(frozen=True)
class ProtocolFailure:
    """The decoder's verdict on bytes that are not a valid request: answer and close."""

    status: int
    reason: str
    message: str


@dataclass(frozen=True)
class Outgoing:
    """Encoded bytes ready for the socket, with what the shell must do around them."""

    data: bytes
    head_len: int
    close: bool
    cut: bool
    status: int
    #: The answer was ``101 Switching Protocols``: later bytes are a WebSocket (:mod:`.websocket`).
    upgraded: bool = False
