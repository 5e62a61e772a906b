"""What a backend connection speaks after ``101 Switching Protocols``: a WebSocket echo.

Sans-I/O on top of the ``websockets`` library's own sans-I/O protocol (framing, masking, the
close handshake): bytes in, bytes out, one event per frame, no socket here. Every text message is
answered ``echo: <message>``, so a learner sees full-duplex frames on the connection that started
as an HTTP GET.
"""
from __future__ import annotations

from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from ..events import Endpoint, Kind
from ..stream import EventStream

#: Frames larger than this close the connection (1009): the demo only needs short messages.
MAX_MESSAGE_BYTES = 64 * 1024


class WebSocketEcho:
    """One upgraded connection of a backend."""

    def __init__(self, *, component: str, stream: EventStream | None, local: Endpoint, peer: Endpoint) -> None:
        # State.OPEN: h11 and :mod:`.features` already did the opening handshake.
        self.protocol = Protocol(Side.SERVER, state=State.OPEN, max_size=MAX_MESSAGE_BYTES)
        self.component = component
        self.stream = stream
        self.local = local
        self.peer = peer
        self.messages = 0

    def receive_data(self, data: bytes) -> bytes:
        """Feed bytes from the peer (``b""`` = EOF); returns the bytes to write back."""
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self._on_frame(event)
        return b"".join(self.protocol.data_to_send())

    @property
    def finished(self) -> bool:
        """The close handshake is done (or failed): the shell closes the TCP connection."""
        return self.protocol.close_expected() or self.protocol.state is State.CLOSED

    def _on_frame(self, frame: Frame) -> None:
        self._emit(f"WebSocket {frame.opcode.name} frame in ({len(frame.data)} bytes)", frame, inbound=True)
        if frame.opcode is Opcode.TEXT:
            self.messages += 1
            reply = "echo: " + bytes(frame.data).decode("utf-8", "replace")
            self.protocol.send_text(reply.encode())
            self._emit(f"WebSocket TEXT frame out: {reply[:60]}", Frame(Opcode.TEXT, reply.encode()), inbound=False)

    def _emit(self, summary: str, frame: Frame, *, inbound: bool) -> None:
        if self.stream is None:
            return
        self.stream.emit(component=self.component, layer=7, kind=Kind.FRAME, summary=summary,
                         src=self.peer if inbound else self.local, dst=self.local if inbound else self.peer,
                         data=frame.data[:512], transport="tcp",
                         detail={"protocol": "websocket", "opcode": frame.opcode.name, "length": len(frame.data),
                                 "direction": "in" if inbound else "out"})
