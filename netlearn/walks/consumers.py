"""The walk's WebSocket: join the walk's group, catch up, then forward each event as HTML.

Thin on purpose: rendering lives in ``rendering``; the catch-up logic relies on the bridge's
promise that a walk's events are either in the live buffer or already stored.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
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
    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections`` before every message.

        That call is a thread hop (``database_sync_to_async(close_old_connections)``) for each of a
        walk's live batches on every socket watching it; under a class, the site loop waited for
        the GIL on its way back (a tail of the step pages the loop serves: README's classroom
        row). This consumer reaches the database only through ``database_sync_to_async``, whose
        thread handler closes old connections before and after each call, so nothing is lost.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.walk_id = self.scope["url_route"]["kwargs"]["walk_id"]
        self.cid = self.walk_id.hex
        query = parse_qs(self.scope.get("query_string", b"").decode())
        lang = (query.get("lang") or [settings.LANGUAGE_CODE])[0]
        self.lang = lang if lang in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        # Join the walk's group *before* looking at the walk: its ``walk.finished`` goes out after
        # it is stored, so either the look below sees it stored, or the message reaches this
        # socket. Looked at first, a walk stored (and its message sent) in between was missed,
        # and its page waited for the 1 s check below (on the stack the shared live buffer is
        # cleared a moment after the message goes, so catch-up still found the walk "live"):
        # the stack's walk → final message p99 was 1.1 s (bench/classroom.py).
        self.group = f"walk.{self.cid}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        # A walk running in this process exists: no need to ask the database.
        running_here = bridge.is_live(self.cid)
        state = None if running_here else await self._state()
        if state is None and not running_here:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.close(code=4404)
            return
        await self.accept()
        self.sent = 0
        self.topology: dict[str, str] = {}
        self.finished = False
        #: Caught-up events not sent yet (see :meth:`_catch_up_later`).
        self.pending: list[dict[str, Any]] = []
        if state is not None and state[0] != Walk.Status.RUNNING:  # stored: its final page, whatever a buffer says
            await self._send_final(state)
            if self.finished:
                return
        snapshot = await bridge.catch_up(self.cid)  # also a walk running in another worker
        if snapshot is None:
            # Finished since the look above: read its state again.
            await self._send_final()
            if self.finished:
                return
        self._watch = asyncio.ensure_future(self._until_stored())
        if snapshot is None:
            return
        self.topology = await rendering.live_topology()
        self.pending = snapshot
        self._catch_up = asyncio.ensure_future(self._catch_up_later())

    async def _catch_up_later(self) -> None:
        """Send the steps the walk made before this socket joined, after the live stream's batch
        window (``bridge.LIVE_BATCH_SECONDS``), as the bridge sends every batch: a walk that ends
        within it gets its final render only, which shows every step anyway; a longer one streams
        them, joined with the next batch if one comes first."""
        await asyncio.sleep(bridge.LIVE_BATCH_SECONDS)
        await self._send_events([])

    async def _until_stored(self) -> None:
        for _ in range(STORED_CHECK_LIMIT):
            await asyncio.sleep(STORED_CHECK_SECONDS)
            if self.finished:
                return
            if bridge.is_live(self.cid):
                # Running in this process: not stored yet (the bridge drops it from the live walks
                # only after storing it), so the database has nothing new; ask once it is done.
                continue
            await self._send_final()
        if not self.finished:  # still not stored: let the page reconnect (and check again) later
            await self.close(code=1013)

    async def disconnect(self, code: int) -> None:
        for task in (getattr(self, "_watch", None), getattr(self, "_catch_up", None)):
            if task is not None:
                task.cancel()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def walk_events(self, message: dict[str, Any]) -> None:
        await self._send_events(message["events"])

    async def walk_finished(self, message: dict[str, Any]) -> None:
        state = message.get("state")
        await self._send_final(tuple(state) if state else None)

    async def _send_events(self, events: Sequence[dict[str, Any]]) -> None:
        """New events (by seq: a batch may overlap what catch-up got) as one message, after any
        caught-up events still waiting."""
        if getattr(self, "finished", False):  # the final render already shows every step
            return
        if self.pending:
            events, self.pending = [*self.pending, *events], []
        fresh = []
        for event in events:
            seq = event.get("seq", 0)
            if self.sent <= seq < bridge.LIVE_EVENT_CAP:
                fresh.append(event)
                self.sent = seq + 1
        if not fresh:
            return
        with translation.override(self.lang):
            await self.send(text_data=rendering.live_steps_html(fresh, self.topology))

    async def _send_final(self, state: tuple[str, str, str] | None = None) -> None:
        """The finished walk's page. ``state``: the stored row's (status, code, finished at), as
        ``walk.finished`` carries it; None: read it from the database."""
        if getattr(self, "finished", False):  # sent once: a second render would reset the learner's place
            return
        if state is None:
            state = await self._state()
        if state is None or state[0] == Walk.Status.RUNNING:
            return
        # Made already (by the walk's finisher process, or for another socket): no thread hop.
        html = (rendering.final_html_in_memory(self.walk_id, self.lang, state)
                or await database_sync_to_async(rendering.final_html_cached)(self.walk_id, self.lang, state))
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
