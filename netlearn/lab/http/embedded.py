"""A pipeline with no socket, as Netty's EmbeddedChannel: write bytes in, read bytes out.

Tests (and curious learners in a shell) drive a backend's whole pipeline with it: every
handler runs and reports exactly as on a socket, but delays are recorded instead of slept and
"closing" is a flag. It is the proof that the pipeline is sans-I/O.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from ..events import Endpoint, LabEvent
from ..stream import EventStream, Recorder
from .pipeline import Behaviour, HttpPipeline


class EmbeddedChannel:
    def __init__(self, *, backend: str = "backend-1", behaviour: Behaviour | None = None,
                 stream: EventStream | None = None, clock: Callable[[], float] = time.time,
                 local: Endpoint = Endpoint("127.0.3.1", 18001), peer: Endpoint = Endpoint("127.0.9.1", 40000)) -> None:
        self.stream = stream or EventStream()
        self._recorder = Recorder(self.stream)
        self.pipeline = HttpPipeline(component=backend, stream=self.stream, local=local, peer=peer,
                                     behaviour=behaviour, clock=clock)
        self.closed = False
        #: Every response's delay, in order: what a socket shell would have slept.
        self.delays: list[float] = []
        #: Bytes actually "sent" (a cut response contributes only its first part).
        self._outbound = bytearray()

    @property
    def events(self) -> list[LabEvent]:
        return self._recorder.events

    def write_inbound(self, data: bytes) -> bytes:
        """Feed bytes (``b""`` = EOF), run every answer they complete, return the new output."""
        if self.closed:
            return b""
        self.pipeline.receive_data(data)
        return self._drain()

    def timeout(self) -> bytes:
        """What the shell does when the head timer fires: 408 if a head is in progress."""
        if self.closed or not self.pipeline.head_in_progress:
            return b""
        return self._send(self.pipeline.timeout_response())

    def read_outbound(self) -> bytes:
        data = bytes(self._outbound)
        self._outbound.clear()
        return data

    def _drain(self) -> bytes:
        before = len(self._outbound)
        while not self.closed:
            response = self.pipeline.next_response()
            if response is None:
                break
            self._send(response)
        if self.pipeline.finished:
            self.closed = True
        return bytes(self._outbound[before:])

    def _send(self, response) -> bytes:  # type: ignore[no-untyped-def]
        self.delays.append(response.delay)
        out = self.pipeline.encode(response)
        data = out.data
        if out.cut:
            data = data[: out.head_len + (len(data) - out.head_len) // 2]
        self._outbound += data
        if out.close or out.cut:
            self.closed = True
        return data
