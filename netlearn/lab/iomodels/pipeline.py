"""The one handler pipeline every io model serves: decoder → business handler → encoder.

Theory of operation
-------------------
Netty's lesson is that *how* a server waits for sockets (a thread each, or a few selector loops)
is separate from *what* it does with the bytes. So the what lives here, sans-I/O, exactly once:

* :class:`LineDecoder` (Netty's ``LineBasedFrameDecoder``): bytes in, complete lines out, with a
  bound on the frame length so a client that never sends ``\\n`` cannot eat the server's memory.
* :class:`CommandHandler` (the business handler): one line in, one :class:`Reply` out. A reply
  may ask to be sent after a delay (``SLOW``): the *shell* decides how to wait — a sleeping thread
  in OIO, a timer on the worker's selector loop in NIO, ``asyncio.sleep`` locally — which is the
  whole difference the comparison measures.
* :class:`LineEncoder`: a reply out as bytes.

:class:`Pipeline` strings the three together per connection. No sockets, no clock.

The protocol (one request per line, ASCII):
``ECHO <text>`` → ``OK <text>``; ``UPPER <text>`` → ``OK <TEXT>``; ``HASH <text>`` → ``OK <sha256
prefix>``; ``SLOW <ms> [text]`` → ``OK <text>`` after ``ms`` (≤ 5000); ``QUIT`` → ``BYE`` and close;
anything else → ``ERR ...``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAX_SLOW_MS = 5000
DEFAULT_MAX_FRAME = 1024


@dataclass(frozen=True, slots=True)
class Reply:
    """What the business handler decided. ``delay`` is seconds to wait before sending."""

    text: str
    delay: float = 0.0
    close: bool = False

    @property
    def ok(self) -> bool:
        return self.text.startswith("OK") or self.text == "BYE"


class FrameTooLong(ValueError):
    """A line grew past the decoder's bound: the connection is closed, nothing buffered more."""


class LineDecoder:
    """Splits a byte stream into lines; ``\\r\\n`` and ``\\n`` both end a line."""

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        lines: list[str] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            raw = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            if len(raw) > self.max_frame:
                raise FrameTooLong(f"a line of {len(raw)} bytes exceeds {self.max_frame}")
            lines.append(raw.decode("ascii", "replace"))
        if len(self._buffer) > self.max_frame:
            size = len(self._buffer)
            self._buffer.clear()
            raise FrameTooLong(f"{size} bytes without a newline exceed {self.max_frame}")
        return lines


class CommandHandler:
    """The business logic: pure, quick, and the same for every transport."""

    def handle(self, line: str) -> Reply:
        command, _, argument = line.strip().partition(" ")
        command = command.upper()
        if command == "ECHO":
            return Reply(f"OK {argument}")
        if command == "UPPER":
            return Reply(f"OK {argument.upper()}")
        if command == "HASH":
            return Reply("OK " + hashlib.sha256(argument.encode()).hexdigest()[:16])
        if command == "SLOW":
            millis, _, text = argument.partition(" ")
            if not millis.isdigit() or int(millis) > MAX_SLOW_MS:
                return Reply(f"ERR SLOW takes milliseconds from 0 to {MAX_SLOW_MS}")
            return Reply(f"OK {text}".rstrip(), delay=int(millis) / 1000)
        if command == "QUIT":
            return Reply("BYE", close=True)
        if not command:
            return Reply("ERR empty request")
        return Reply(f"ERR unknown command {command[:32]!r}")


class LineEncoder:
    def encode(self, reply: Reply) -> bytes:
        return reply.text.encode("ascii", "replace") + b"\n"


class Pipeline:
    """One connection's decoder → handler → encoder chain."""

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME, handler: CommandHandler | None = None) -> None:
        self.decoder = LineDecoder(max_frame=max_frame)
        self.handler = handler or CommandHandler()
        self.encoder = LineEncoder()
        self.requests = 0

    def feed(self, data: bytes) -> list[Reply]:
        """Bytes in, replies out. An over-long frame becomes an ``ERR`` reply that closes."""
        try:
            lines = self.decoder.feed(data)
        except FrameTooLong as exc:
            return [Reply(f"ERR {exc}", close=True)]
        replies = []
        for line in lines:
            self.requests += 1
            replies.append(self.handler.handle(line))
        return replies

    def encode(self, reply: Reply) -> bytes:
        return self.encoder.encode(reply)
