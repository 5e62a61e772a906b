"""A room's pump ends with its room (``netlearn.classroom.hub``), on the channel layer the settings
choose: the in-memory layer in ``make test``'s first pass, Redis in its second.

Why: in CI a room's pump, cancelled when its last socket left, kept running inside the Redis
layer's receive (a cancel swallowed by ``asyncio.wait_for``, ``netlearn.core.redisconf``) and hung
the test loop's teardown. The room's stop now waits for its pump, and the cancel sticks.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from channels.layers import get_channel_layer

from netlearn.classroom.hub import RoomHub

pytestmark = pytest.mark.timeout(60)

#: Rooms opened and closed one after another: each close cancels a pump that has just delivered a
#: push and gone back to the layer for the next, where the swallowed cancel used to land.
ROUNDS = 20


class _Socket:
    """A member that keeps what the room pushed to it."""

    def __init__(self) -> None:
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def stage_changed(self, message: dict[str, Any]) -> None:
        self.pushes.put_nowait(message)


async def _open_push_close(hub: RoomHub, layer: Any, group: str) -> asyncio.Task:
    socket = _Socket()
    await hub.join(layer, group, socket)
    room = hub._rooms[hub._key(group)]
    await layer.group_send(group, {"type": "stage.changed", "stage": group})
    assert (await asyncio.wait_for(socket.pushes.get(), timeout=10))["stage"] == group
    await hub.leave(group, socket)
    assert room.task is not None
    return room.task


async def test_the_last_socket_leaving_ends_the_rooms_pump_every_time(caplog) -> None:
    layer = get_channel_layer()
    hub = RoomHub()
    caplog.set_level(logging.WARNING, logger="netlearn.classroom")
    pumps = [await _open_push_close(hub, layer, f"class.hub-test-{n}") for n in range(ROUNDS)]
    still_running = [n for n, pump in enumerate(pumps) if not pump.done()]
    assert still_running == [], f"pumps of rooms {still_running} outlived their room ({type(layer).__name__})"
    assert all(pump.cancelled() for pump in pumps)
    assert "still runs" not in caplog.text
    assert hub._rooms == {}


async def test_a_closed_room_takes_no_more_pushes() -> None:
    """The room left its group: a push sent after the last socket left reaches no one."""
    layer = get_channel_layer()
    hub = RoomHub()
    group = "class.hub-test-closed"
    socket = _Socket()
    await hub.join(layer, group, socket)
    await hub.leave(group, socket)
    await layer.group_send(group, {"type": "stage.changed", "stage": "late"})
    late = _Socket()
    await hub.join(layer, group, late)  # a new room on the same group: only new pushes reach it
    await layer.group_send(group, {"type": "stage.changed", "stage": "new"})
    assert (await asyncio.wait_for(late.pushes.get(), timeout=10))["stage"] == "new"
    assert socket.pushes.empty()
    await hub.leave(group, late)
