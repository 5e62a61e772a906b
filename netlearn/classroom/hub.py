"""One Channels channel per worker per room, instead of one per socket, for the room's pushes.

Why: a push to a room of 1,000 through Channels' groups costs, with Redis, one queued copy and one
BZPOPMIN round trip per socket, one after the other inside each worker: seconds at that size.
Here the room's group holds one channel per *worker*; the worker receives each push once and
hands it to its local sockets in memory. A push then costs one Redis round trip per worker,
whatever the room's size; the in-memory layer (one process) gets the same shape.

Messages are delivered in order: the hub awaits every socket's handler for one message before it
reads the next (handlers only send to their own socket, so one slow phone delays nobody by more
than its own send).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

log = logging.getLogger("netlearn.classroom")

#: How long a room's stop waits for its pump to end after cancelling it, before it says so in the log.
PUMP_STOP_SECONDS = 2.0


class Member(Protocol):
    async def stage_changed(self, message: dict[str, Any]) -> None: ...


class _Room:
    def __init__(self, layer: Any, group: str) -> None:
        self.layer, self.group = layer, group
        self.members: set[Member] = set()
        self.channel = ""
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        # The default prefix on purpose: channels_redis pulls a worker's local channels from one Redis
        # key per prefix, and only the "specific" one is read by the worker's shared receive loop.
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        self.task = asyncio.ensure_future(self._pump())

    async def stop(self) -> None:
        """Leave the group and end the pump, waiting for it: a pump that outlives its room would
        pull on the layer for nobody, and hold up the end of a worker's (or a test's) event loop.
        Bounded, and logged if it runs out: a cancel that a library swallowed once did exactly
        that (``netlearn.core.redisconf``), and a stuck pump must not hold the hub's lock."""
        await self.layer.group_discard(self.group, self.channel)
        if self.task is None:
            return
        self.task.cancel()
        done, _ = await asyncio.wait({self.task}, timeout=PUMP_STOP_SECONDS)
        if not done:
            log.warning("room %s: its pump still runs %.1f s after it was cancelled", self.group, PUMP_STOP_SECONDS)

    async def _pump(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("room %s: receive failed; retrying", self.group)
                await asyncio.sleep(0.5)
                continue
            if message.get("type") != "stage.changed":
                continue
            results = await asyncio.gather(*(m.stage_changed(message) for m in list(self.members)),
                                           return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
                    log.warning("room %s: a socket failed to take a push: %r", self.group, result)


class RoomHub:
    """The worker's rooms, each with its local members (keyed by event loop too: tests run several)."""

    def __init__(self) -> None:
        self._rooms: dict[tuple[int, str], _Room] = {}
        self._lock: dict[int, asyncio.Lock] = {}

    def _key(self, group: str) -> tuple[int, str]:
        return id(asyncio.get_running_loop()), group

    async def join(self, layer: Any, group: str, member: Member) -> None:
        key = self._key(group)
        async with self._lock.setdefault(key[0], asyncio.Lock()):
            room = self._rooms.get(key)
            if room is None:
                room = _Room(layer, group)
                await room.start()
                self._rooms[key] = room
            room.members.add(member)

    async def leave(self, group: str, member: Member) -> None:
        key = self._key(group)
        async with self._lock.setdefault(key[0], asyncio.Lock()):
            room = self._rooms.get(key)
            if room is None:
                return
            room.members.discard(member)
            if not room.members:
                del self._rooms[key]
                await room.stop()


HUB = RoomHub()
