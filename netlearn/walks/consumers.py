"""The walk's WebSocket: join the walk's group, catch up, then forward each event as HTML.

Thin on purpose: rendering lives in ``rendering``; the catch-up logic relies on the bridge's
promise that a walk's events are either in the live buffer or already stored.
"""
from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import translation

from . import bridge, rendering
from .models import Walk

#: How often a socket whose walk is still running checks the database for the stored result.
#: The ``walk.finished`` message normally arrives first; this is the safety net for a message
#: lost on the way (a full channel, a Redis hiccup, a worker that died mid-walk).
STORED_CHECK_SECONDS = 1.0
STORED_CHECK_LIMIT = 60


class WalkConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.walk_id = self.scope["url_route"]["kwargs"]["walk_id"]
        self.cid = self.walk_id.hex
        query = parse_qs(self.scope.get("query_string", b"").decode())
        lang = (query.get("lang") or [settings.LANGUAGE_CODE])[0]
        self.lang = lang if lang in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        if await self._state() is None:
            await self.close(code=4404)
            return
        self.group = f"walk.{self.cid}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.sent = 0
        self.topology: dict[str, str] = {}
        self.finished = False
        snapshot = await bridge.catch_up(self.cid)  # also a walk running in another worker
        if snapshot is None:
            await self._send_final()
            if self.finished:
                return
        self._watch = asyncio.ensure_future(self._until_stored())
        if snapshot is None:
            return
        self.topology = await rendering.live_topology()
        await self._send_events(snapshot)

    async def _until_stored(self) -> None:
        for _ in range(STORED_CHECK_LIMIT):
            await asyncio.sleep(STORED_CHECK_SECONDS)
            if self.finished:
                return
            if bridge.live_snapshot(self.cid) is not None:
                # Running in this process: not stored yet (the bridge drops it from the live walks
                # only after storing it), so the database has nothing new; ask once it is done.
                continue
            await self._send_final()
        if not self.finished:  # still not stored: let the page reconnect (and check again) later
            await self.close(code=1013)

    async def disconnect(self, code: int) -> None:
        watch = getattr(self, "_watch", None)
        if watch is not None:
            watch.cancel()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def walk_events(self, message: dict[str, Any]) -> None:
        await self._send_events(message["events"])

    async def walk_finished(self, message: dict[str, Any]) -> None:
        await self._send_final()

    async def _send_events(self, events: list[dict[str, Any]]) -> None:
        """New events (by seq: a batch may overlap what catch-up sent) as one message."""
        if getattr(self, "finished", False):  # the final render already shows every step
            return
        fresh = [e for e in events if self.sent <= e.get("seq", 0) < bridge.LIVE_EVENT_CAP]
        if not fresh:
            return
        self.sent = fresh[-1].get("seq", 0) + 1
        with translation.override(self.lang):
            await self.send(text_data=rendering.live_steps_html(fresh, self.topology))

    async def _send_final(self) -> None:
        if getattr(self, "finished", False):  # sent once: a second render would reset the learner's place
            return
        state = await self._state()
        if state is None or state[0] == Walk.Status.RUNNING:
            return
        html = await database_sync_to_async(rendering.final_html_cached)(self.walk_id, self.lang, state)
        if html is None:
            return
        await self.send(text_data=html)
        self.finished = True

    @database_sync_to_async
    def _state(self) -> tuple[str, str, str] | None:
        """(status, code, finished at) of the walk, or None: the row without its events and frames,
        which a socket reads every second while its walk runs."""
        row = Walk.objects.filter(id=self.walk_id).values_list("status", "code", "finished_at").first()
        return None if row is None else (row[0], row[1], row[2].isoformat() if row[2] else "")
