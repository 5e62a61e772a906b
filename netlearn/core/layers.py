"""The embedded channel layer: Channels' in-memory layer without its per-message sweep.

Channels' ``InMemoryChannelLayer`` calls ``_clean_expired`` on every ``receive`` and every
``group_send``: a walk over every channel's queue and every group's members. With a class of
1,000 learners each holding a walk page's WebSocket, that is ~1,000 channels scanned for each of
the thousands of messages a minute of walks sends, and it was ~4 % of the embedded worker's CPU
under ``bench/classroom.py`` (py-spy, walks only), more than any one of our own event handlers.
``group_send`` also made one asyncio task per member to run a ``send`` that never awaits.

Here the sweep runs at most once per ``clean_interval`` (1 s): a message still expires after
``expiry`` (60 s), at most a second later, and a channel whose message expired still leaves its
groups, which is all the sweep is for (a consumer that stopped reading). ``group_send`` puts the
message on each member's queue in a plain loop, a deep copy each, as ``send`` does, and skips a
full channel as the base class does. Everything else is the base class's.
"""
from __future__ import annotations

import asyncio
import time
from copy import deepcopy
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer


class LocalChannelLayer(InMemoryChannelLayer):
    """``InMemoryChannelLayer`` with the expiry sweep throttled and a task-free ``group_send``."""

    def __init__(self, *args: Any, clean_interval: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clean_interval = clean_interval
        self._next_clean = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now < self._next_clean:
            return
        self._next_clean = now + self.clean_interval
        super()._clean_expired()

    def _put(self, channel: str, message: dict[str, Any]) -> None:
        """``send``'s body, which never awaits: the queue made on first use, a deep copy queued."""
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        try:
            queue.put_nowait((time.time() + self.expiry, deepcopy(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        self._put(channel, message)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            try:
                self._put(channel, message)
            except ChannelFull:
                pass  # as the base class: a full member misses this message, the others get it
