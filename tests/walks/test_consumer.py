"""The walk's WebSocket, with Channels' communicator against the real ASGI application."""
from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from netlearn.asgi import application
from netlearn.walks.services import walk_start

from .test_services import _finished

pytestmark = pytest.mark.django_db(transaction=True)


async def _receive_until_final(communicator: WebsocketCommunicator) -> list[str]:
    messages = []
    while True:
        message = await communicator.receive_from(timeout=15)
        messages.append(message)
        if 'id="walk-result"' in message:
            return messages


async def test_walk_steps_stream_to_the_socket_and_end_with_the_full_result(embedded_lab) -> None:
    walk = await walk_start(url="http://shop.netlearn.test/", session_key="s")
    communicator = WebsocketCommunicator(application, f"/ws/walk/{walk.id}/?lang=en",
                                         headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    connected, _ = await communicator.connect()
    assert connected
    messages = await _receive_until_final(communicator)
    final = messages[-1]
    assert 'hx-swap-oob="true"' in final
    assert "walk-step" in final and "L7" in final and "L4" in final
    for live in messages[:-1]:
        assert 'hx-swap-oob="beforeend"' in live
    await communicator.disconnect()


async def test_late_socket_gets_the_stored_walk(embedded_lab) -> None:
    walk = await walk_start(url="http://nope.netlearn.test/", session_key="s")
    await _finished(walk.id)
    communicator = WebsocketCommunicator(application, f"/ws/walk/{walk.id}/",
                                         headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    connected, _ = await communicator.connect()
    assert connected
    message = await communicator.receive_from(timeout=10)
    assert "NXDOMAIN" in message
    await communicator.disconnect()


async def test_unknown_walk_socket_is_closed() -> None:
    communicator = WebsocketCommunicator(application, "/ws/walk/00000000-0000-0000-0000-000000000000/",
                                         headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    connected, code = await communicator.connect()
    assert not connected
