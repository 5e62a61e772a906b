"""An embedded channel: the pipeline with no network and no real clock (Netty's EmbeddedChannel).

Why it exists: handlers are tested by writing inbound bytes and reading outbound bytes, with time
advanced by hand, so a ``SLOW 500`` test takes no 500 ms and no socket. The lab's own tests use it
for the handlers, and the comparison uses it as the "no transport at all" baseline.
"""
from __future__ import annotations

import heapq
import itertools

from .pipeline import DEFAULT_MAX_FRAME, Pipeline, Reply


class EmbeddedChannel:
    """``write_inbound(bytes)`` → ``read_outbound()``; delayed replies wait for ``advance_time``."""

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME, pipeline: Pipeline | None = None) -> None:
        self.pipeline = pipeline or Pipeline(max_frame=max_frame)
        self.now = 0.0
        self.open = True
        self._outbound: list[bytes] = []
        self._scheduled: list[tuple[float, int, Reply]] = []
        self._order = itertools.count()

    @property
    def address(self) -> str:
        return "embedded"

    def write_inbound(self, data: bytes) -> bool:
        """Feed bytes; returns whether anything became readable right away (like Netty)."""
        if not self.open:
            raise ConnectionError("the embedded channel is closed")
        before = len(self._outbound)
        for reply in self.pipeline.feed(data):
            if reply.delay > 0:
                heapq.heappush(self._scheduled, (self.now + reply.delay, next(self._order), reply))
            else:
                self._send(reply)
            if not self.open:
                break
        return len(self._outbound) > before

    def advance_time(self, seconds: float) -> None:
        """Move the channel's clock forward and run the replies that fell due."""
        self.now += seconds
        while self._scheduled and self._scheduled[0][0] <= self.now and self.open:
            _, _, reply = heapq.heappop(self._scheduled)
            self._send(reply)

    @property
    def pending(self) -> int:
        return len(self._scheduled)

    def read_outbound(self) -> bytes | None:
        return self._outbound.pop(0) if self._outbound else None

    def read_all_outbound(self) -> list[str]:
        lines = [chunk.decode().rstrip("\n") for chunk in self._outbound]
        self._outbound.clear()
        return lines

    def _send(self, reply: Reply) -> None:
        self._outbound.append(self.pipeline.encode(reply))
        if reply.close:
            self.open = False
            self._scheduled.clear()

    def describe(self) -> dict[str, object]:
        return {"model": "embedded", "open": self.open, "pending": self.pending,
                "requests": self.pipeline.requests}
