"""The backend's WebSocket echo without a socket: client frames in, server frames and events out."""
from __future__ import annotations

from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from netlearn.lab.events import Endpoint, Kind
from netlearn.lab.http.websocket import WebSocketEcho
from netlearn.lab.stream import EventStream, Recorder

LOCAL, PEER = Endpoint("127.0.3.1", 18001), Endpoint("127.0.2.2", 40000)


def frames_from(data: bytes, client: Protocol) -> list[Frame]:
    client.receive_data(data)
    return [e for e in client.events_received() if isinstance(e, Frame)]


def test_a_masked_text_frame_is_echoed_unmasked_and_reported() -> None:
    stream = EventStream()
    echo = WebSocketEcho(component="backend-1", stream=stream, local=LOCAL, peer=PEER)
    client = Protocol(Side.CLIENT, state=State.OPEN)
    client.send_text("안녕".encode())
    sent = b"".join(client.data_to_send())
    assert sent[1] & 0x80  # the client masked it, as RFC 6455 requires
    with Recorder(stream, correlation_id=None) as recorder:
        reply = echo.receive_data(sent)
    assert not reply[1] & 0x80  # server frames are never masked
    [frame] = frames_from(reply, client)
    assert frame.opcode is Opcode.TEXT and frame.data.decode() == "echo: 안녕"
    assert [e.detail["direction"] for e in recorder.events if e.kind == Kind.FRAME] == ["in", "out"]
    assert not echo.finished


def test_the_close_handshake_is_answered_and_finishes_the_connection() -> None:
    echo = WebSocketEcho(component="backend-1", stream=None, local=LOCAL, peer=PEER)
    client = Protocol(Side.CLIENT, state=State.OPEN)
    client.send_close(1000, "bye")
    reply = echo.receive_data(b"".join(client.data_to_send()))
    [frame] = frames_from(reply, client)
    assert frame.opcode is Opcode.CLOSE
    assert echo.finished


def test_an_unmasked_client_frame_is_a_protocol_error() -> None:
    echo = WebSocketEcho(component="backend-1", stream=None, local=LOCAL, peer=PEER)
    reply = echo.receive_data(b"\x81\x05hello")  # FIN + TEXT, no mask bit: forbidden from a client
    client = Protocol(Side.CLIENT, state=State.OPEN)
    [frame] = frames_from(reply, client)
    assert frame.opcode is Opcode.CLOSE and frame.data[:2] == (1002).to_bytes(2, "big")
    assert echo.finished
