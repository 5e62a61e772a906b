"""The seam: the embedded lab's thread on one side, the site's event loop and Channels on the other.

Theory of operation
-------------------
The lab publishes events on its own loop. ``_on_lab_event`` (called there) ignores everything
that does not belong to a walk in flight on *this* process, and hands the rest to the site's
loop with ``call_soon_threadsafe``. On the site's loop, each event gets a per-walk sequence
number, is appended to the walk's live buffer (so a WebSocket that connects late can catch up)
and is sent to the Channels group ``walk.<id>``. With the Redis layer that group spans worker
processes, so a browser whose socket is held by another worker still sees the walk live.

When the walk ends, the complete, ordered record is saved on the ``Walk`` row *before* the live
buffer is dropped and ``walk.finished`` is sent: a consumer always finds the events in one place
or the other.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer

from netlearn.core import labstate
from netlearn.lab.events import LabEvent
from netlearn.lab.runner import LabThread
from netlearn.lab.topology import LabConfig

log = logging.getLogger("netlearn.walks")

#: Walks in flight on this process, by correlation id (the walk's hex id).
_live: dict[str, "LiveWalk"] = {}
_site_loop: asyncio.AbstractEventLoop | None = None
_tasks: set[asyncio.Task] = set()


@dataclass
class LiveWalk:
    correlation_id: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def group(self) -> str:
        return f"walk.{self.correlation_id}"


def live_snapshot(correlation_id: str) -> list[dict[str, Any]] | None:
    """The events so far of a walk in flight here, or None when it is not (or no longer) live."""
    live = _live.get(correlation_id)
    return list(live.events) if live is not None else None


def _on_lab_event(event: LabEvent) -> None:  # runs on the lab's loop: must be quick
    cid = event.correlation_id
    if cid is None or cid not in _live or _site_loop is None:
        return
    try:
        _site_loop.call_soon_threadsafe(_deliver, cid, event.as_dict())
    except RuntimeError:  # the site's loop is closing
        pass


def _deliver(cid: str, event: dict[str, Any]) -> None:
    live = _live.get(cid)
    if live is None:
        return
    event["seq"] = len(live.events)
    live.events.append(event)
    layer = get_channel_layer()
    if layer is not None:
        _spawn(layer.group_send(live.group, {"type": "walk.event", "event": event}))


def _spawn(coro: Any) -> None:
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def register_live(correlation_id: str) -> LiveWalk:
    live = LiveWalk(correlation_id)
    _live[correlation_id] = live
    return live


def unregister_live(correlation_id: str) -> None:
    _live.pop(correlation_id, None)


def attach(thread: LabThread, loop: asyncio.AbstractEventLoop) -> None:
    """Connect a running lab to this process's site loop."""
    global _site_loop
    _site_loop = loop
    thread.stream.subscribe(_on_lab_event)
    labstate.set_lab(thread)


async def start_embedded_lab(config: LabConfig | None = None) -> LabThread:
    thread = LabThread(config or LabConfig())
    await asyncio.to_thread(thread.start)
    attach(thread, asyncio.get_running_loop())
    log.info("lab started: %s", thread.call(lambda lab: lab.endpoints()))
    return thread


async def stop_embedded_lab() -> None:
    thread = labstate.get_lab()
    labstate.set_lab(None)
    if thread is not None:
        await asyncio.to_thread(thread.stop)
    for task in list(_tasks):
        task.cancel()


def spawn(coro: Any) -> None:
    """Run a coroutine on the site's loop beyond the request that started it (keeps a reference)."""
    _spawn(coro)
