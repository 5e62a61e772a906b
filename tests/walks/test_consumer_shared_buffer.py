"""A walk's socket on the stack, where a walk's live events are also kept in Redis (``livebuffer``)
for sockets that land on another worker.

The race this pins: the walk's worker stores it, sends ``walk.finished`` to the group, and clears
the shared buffer a moment later (its pump does, after the last batch). A socket that joined the
group in between missed the message, found the buffer still there, took the walk for a running
one and waited for its 1 s database check: under ``bench/classroom.py --config stack`` the walk →
final message p99 was 1.1 s against a p50 of 60 ms. The check is set to 60 s here, so only the
socket's own look at the stored walk can bring the final page within the receive time-out.
"""
from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from netlearn.asgi import application
from netlearn.core import livebuffer
from netlearn.walks import consumers
from netlearn.walks.services import walk_start

from .test_services import _finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


async def test_a_socket_joining_a_stored_walk_whose_shared_buffer_is_not_cleared_yet_gets_its_page(
        embedded_lab, redis_server, settings, monkeypatch) -> None:
    settings.NETLEARN_REDIS_URL = redis_server.url
    monkeypatch.setattr(consumers, "STORED_CHECK_SECONDS", 60.0)
    walk = await walk_start(url="http://nope.netlearn.test/", session_key="s")
    await _finished(walk.id)
    shared = livebuffer.get_buffer()
    assert shared is not None
    await shared.open(walk.id.hex)  # the walk's worker has not cleared it yet
    await shared.append(walk.id.hex, {"seq": 0, "kind": "query"})
    try:
        communicator = WebsocketCommunicator(application, f"/ws/walk/{walk.id}/?lang=en",
                                             headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
        connected, _ = await communicator.connect()
        assert connected
        message = await communicator.receive_from(timeout=10)
        assert 'id="walk-result"' in message and "NXDOMAIN" in message
        await communicator.disconnect()
    finally:
        await shared.close(walk.id.hex)
