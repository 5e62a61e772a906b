"""h11 with the real bytes kept: a parser that also says which wire bytes made each event.

h11 hands out parsed events, but a learner should see the *real* head that crossed the socket
(odd casing, header order, a bare ``\\n`` and all). h11 exposes how much of its input it has not
consumed yet (``trailing_data``), so mirroring the input and slicing off what h11 consumed gives,
for every event, the exact bytes it was parsed from. Used by the backend's decoder and by both
sides of the L7 balancer, so the head bytes in every event are the same kind of truth.
"""
from __future__ import annotations

from typing import Any

import h11

#: Requests and responses whose head is larger than this are refused (431 / 502).
MAX_HEAD_BYTES = 16 * 1024
#: Bodies are buffered whole (the lab site is tiny); anything larger is refused (413 / 502).
MAX_BODY_BYTES = 1024 * 1024


class MirroredConnection:
    """An ``h11.Connection`` whose :meth:`next_event` also returns the raw bytes consumed."""

    def __init__(self, role: Any, *, max_head: int = MAX_HEAD_BYTES) -> None:
        self.h11 = h11.Connection(role, max_incomplete_event_size=max_head)
        self._raw = bytearray()

    def receive_data(self, data: bytes) -> None:
        """Feed bytes; ``b""`` means the peer closed its sending side (EOF)."""
        self._raw += data
        self.h11.receive_data(data)

    def next_event(self) -> tuple[Any, bytes]:
        """Next h11 event and the raw bytes it consumed (may raise ``h11.RemoteProtocolError``)."""
        event = self.h11.next_event()
        unconsumed = len(self.h11.trailing_data[0])
        consumed = len(self._raw) - unconsumed
        chunk = bytes(self._raw[:consumed])
        del self._raw[:consumed]
        return event, chunk

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events (a request head in progress)."""
        return len(self._raw)

    def send(self, event: Any) -> bytes:
        return self.h11.send(event) or b""


def header_value(headers: Any, name: bytes) -> bytes | None:
    """First value of ``name`` (lower-case) in h11 headers or raw items, or None."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def cookies(headers: Any) -> dict[str, str]:
    """Parse every ``Cookie`` header into a dict; malformed pairs are skipped, never fatal."""
    found: dict[str, str] = {}
    for key, value in headers:
        if key.lower() != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            name, sep, val = part.strip().partition("=")
            if sep and name:
                found.setdefault(name, val)
    return found


def plain_response(status: int, reason: str, body: bytes, *, server: str, extra: list[tuple[str, str]] | None = None,
                   date: str = "") -> bytes:
    """A complete ``Connection: close`` response built by hand.

    Used for error answers when the h11 state machine is already broken by the peer (a
    malformed head leaves h11 in ERROR, yet the client still deserves its 400).
    """
    lines = [f"HTTP/1.1 {status} {reason}", f"Server: {server}"]
    if date:
        lines.append(f"Date: {date}")
    lines += [f"{k}: {v}" for k, v in extra or []]
    lines += ["Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
