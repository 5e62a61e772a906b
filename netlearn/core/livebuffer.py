"""A walk's events so far, in Redis, so that a WebSocket held by another worker can catch up.

Why: each worker process runs its own embedded lab, and a walk's live buffer lives in the worker
that started it. The Redis channel layer carries each *new* event to every worker, but a browser
whose socket lands on another worker (nginx balances the POST and the WebSocket independently)
connects after the walk began and must first see what it missed. With ``REDIS_URL`` set, the
bridge appends every event here *before* sending it to the group, so a consumer that joins the
group and then reads this list misses nothing (it drops duplicates by sequence number).

Without Redis there is a single process, the in-process buffer is enough, and this is a no-op.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from netlearn.core.redisconf import cancel_safe_connection_class

log = logging.getLogger("netlearn.walks")

#: A live buffer outlives its walk by at most this long if the worker dies before cleaning up.
TTL_SECONDS = 120


class LiveBuffer:
    """Redis lists ``netlearn:live:<cid>``; one asyncio client per event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}

    def _client(self) -> Any:
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for old in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[old]
            # The send a cancel always stops (netlearn.core.redisconf).
            client = aioredis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5,
                                             connection_class=cancel_safe_connection_class(self.url))
            self._clients[loop] = client
        return client

    @staticmethod
    def _key(cid: str) -> str:
        return f"netlearn:live:{cid}"

    async def open(self, cid: str) -> None:
        """Mark the walk live (an empty list cannot exist in Redis: a marker element is pushed)."""
        key = self._key(cid)
        await self._client().pipeline(transaction=True).delete(key).rpush(key, "{}").expire(key, TTL_SECONDS).execute()

    async def append(self, cid: str, *events: dict[str, Any]) -> None:
        key = self._key(cid)
        await self._client().pipeline(transaction=False).rpush(key, *(json.dumps(e) for e in events)).expire(
            key, TTL_SECONDS).execute()

    async def close(self, cid: str) -> None:
        await self._client().delete(self._key(cid))

    async def read(self, cid: str) -> list[dict[str, Any]] | None:
        """The events so far, or None when the walk is not live (not started here or finished)."""
        raw = await self._client().lrange(self._key(cid), 0, -1)
        if not raw:
            return None
        return [json.loads(item) for item in raw[1:]]


_buffer: LiveBuffer | None = None


def get_buffer() -> LiveBuffer | None:
    """The shared buffer when ``settings.NETLEARN_REDIS_URL`` is set, else None."""
    global _buffer
    from django.conf import settings

    url = getattr(settings, "NETLEARN_REDIS_URL", "")
    if not url:
        return None
    if _buffer is None or _buffer.url != url:
        _buffer = LiveBuffer(url)
    return _buffer
