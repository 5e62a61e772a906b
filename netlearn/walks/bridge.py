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
or the other. With several workers (``REDIS_URL``), the live buffer is also kept in Redis
(``netlearn.core.livebuffer``), written before each group send, so a consumer on another worker
catches up the same way (``catch_up``).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer

from netlearn.core import labstate, livebuffer
from netlearn.lab import calls, stream
from netlearn.lab.events import LabEvent
from netlearn.lab.process import LabProcess
from netlearn.lab.runner import LabThread
from netlearn.lab.topology import LabConfig

log = logging.getLogger("netlearn.walks")

#: Walks in flight on this process, by correlation id (the walk's hex id).
_live: dict[str, LiveWalk] = {}
_site_loop: asyncio.AbstractEventLoop | None = None
_tasks: set[asyncio.Task] = set()


@dataclass
class LiveWalk:
    correlation_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    #: Events waiting to be published, in order (None: the walk ended). One pump task per walk
    #: publishes them one at a time, so the group (and the shared buffer) see them in seq order.
    outbox: asyncio.Queue = field(default_factory=asyncio.Queue)

    @property
    def group(self) -> str:
        return f"walk.{self.correlation_id}"


def is_live(correlation_id: str) -> bool:
    """Is this walk in flight on this process (not stored yet)?"""
    return correlation_id in _live


def live_snapshot(correlation_id: str) -> list[dict[str, Any]] | None:
    """The events so far of a walk in flight here, or None when it is not (or no longer) live."""
    live = _live.get(correlation_id)
    return list(live.events) if live is not None else None


async def catch_up(correlation_id: str) -> list[dict[str, Any]] | None:
    """Like :func:`live_snapshot`, but also for a walk running in another worker process (read
    from the shared buffer in Redis). Call it *after* joining the walk's group."""
    local = live_snapshot(correlation_id)
    if local is not None:
        return local
    shared = livebuffer.get_buffer()
    if shared is None:
        return None
    try:
        return await shared.read(correlation_id)
    except Exception:
        log.warning("live buffer unreadable for walk %s", correlation_id, exc_info=True)
        return None


#: Live events published per run (defined with the lab's stream: see there).
LIVE_EVENT_CAP = stream.LIVE_EVENT_CAP


#: Events that arrive within this window go out as one group message (one WebSocket message,
#: one render). Most walks finish inside it: their live stream is then skipped altogether,
#: because the final render, which follows at once, shows every step anyway. A walk slowed
#: down (a dropped DNS packet, a time-out) still streams, a batch every window.
LIVE_BATCH_SECONDS = 0.05


class SharedEvents(tuple):
    """A batch of a walk's event dicts as the group message carries it. The in-memory channel
    layer deep-copies every message for every socket (~1 ms for a walk's 70 events, each time);
    these dicts are never changed once made (consumers only read them, as the live buffer's
    readers do), so every socket may share them: a deep copy of the batch is the batch. Over
    Redis it travels as the list it is."""

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedEvents:
        return self


async def _pump(live: LiveWalk) -> None:
    """Publish a walk's events in order, in batches: shared buffer first, then the group."""
    shared = livebuffer.get_buffer()
    layer = get_channel_layer()
    cid = live.correlation_id
    if shared is not None:
        await _quietly(shared.open(cid), "open")
    ended = False
    while not ended:
        batch = [await live.outbox.get()]
        if batch[0] is not None:
            await asyncio.sleep(LIVE_BATCH_SECONDS)
        while not live.outbox.empty():
            batch.append(live.outbox.get_nowait())
        ended = None in batch
        events = [e for e in batch if e is not None and e.get("seq", 0) < LIVE_EVENT_CAP]
        if ended or not events:  # ended: stored already (see unregister_live); walk.finished follows
            continue
        if shared is not None:
            await _quietly(shared.append(cid, *events), "append")
        if layer is not None:
            await _quietly(layer.group_send(live.group, {"type": "walk.events", "events": SharedEvents(events)}),
                           "send")
    if shared is not None:
        await _quietly(shared.close(cid), "close")


async def _quietly(coro: Awaitable[object], what: str) -> None:
    """A broken Redis must not stop the walk: the stored record stays complete."""
    try:
        await coro
    except Exception:
        log.warning("live %s failed", what, exc_info=True)


#: Events on their way from the lab's loop to the site's, in order. The lab appends; the first
#: event of a batch asks the lab's loop to wake the site's loop ``HANDOFF_SECONDS`` later
#: (``_wake_site``), which then takes them all (``_deliver_all``). A wake-up is a write to the site
#: loop's self-pipe from the lab's thread and a turn of the site's loop to read it; taken as they
#: came (whenever the site's loop had taken the last batch) it happened ~26 times a walk, ~2 now.
#: The live stream sends a batch every ``LIVE_BATCH_SECONDS`` anyway, and the stored walk comes
#: from the lab's record, not from these.
_handoff: list[tuple[str, dict[str, Any]]] = []
_handoff_lock = threading.Lock()
HANDOFF_SECONDS = 0.01


def _on_lab_event(event: LabEvent) -> None:  # runs on the lab's loop: must be quick
    cid = event.correlation_id
    if cid is None or cid not in _live or _site_loop is None:
        return
    if _on_site_loop():  # a lab in its own process: its batches are read on the site's loop already
        _deliver(cid, event.as_dict())
        return
    item = (cid, event.as_dict())
    with _handoff_lock:
        _handoff.append(item)
        first = len(_handoff) == 1
    if first:
        try:
            asyncio.get_running_loop().call_later(HANDOFF_SECONDS, _wake_site)
        except RuntimeError:  # published from outside a loop: wake the site's loop now
            _wake_site()


def _on_site_loop() -> bool:
    try:
        return asyncio.get_running_loop() is _site_loop
    except RuntimeError:
        return False


def _wake_site() -> None:
    loop = _site_loop
    if loop is None:
        return
    try:
        loop.call_soon_threadsafe(_deliver_all)
    except RuntimeError:  # the site's loop is closing: nobody will take them
        with _handoff_lock:
            _handoff.clear()


def _deliver_all() -> None:
    with _handoff_lock:
        batch = _handoff[:]
        _handoff.clear()
    for cid, event in batch:
        _deliver(cid, event)


def _deliver(cid: str, event: dict[str, Any]) -> None:
    live = _live.get(cid)
    if live is None:
        return
    event["seq"] = len(live.events)
    live.events.append(event)
    live.outbox.put_nowait(event)


def _spawn(coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def register_live(correlation_id: str) -> LiveWalk:
    live = LiveWalk(correlation_id)
    _live[correlation_id] = live
    _spawn(_pump(live))
    return live


def unregister_live(correlation_id: str) -> None:
    """The walk is stored: stop collecting; the pump publishes what is left, then clears the
    shared buffer (so a late consumer finds the events in one place or the other)."""
    live = _live.pop(correlation_id, None)
    if live is not None:
        live.outbox.put_nowait(None)


def attach(thread: LabThread | LabProcess, loop: asyncio.AbstractEventLoop) -> None:
    """Connect a running lab to this process's site loop."""
    global _site_loop
    _site_loop = loop
    with _handoff_lock:
        _handoff.clear()
    thread.stream.subscribe(_on_lab_event)
    labstate.set_lab(thread)


async def start_embedded_lab(config: LabConfig | None = None) -> LabThread | LabProcess:
    """Start this worker's lab and attach it: in a thread of this process, or in a child process
    of its own when ``NETLEARN_LAB_MODE = "process"`` (``netlearn.lab.process`` says why)."""
    from django.conf import settings

    thread: LabThread | LabProcess
    if settings.NETLEARN_LAB_MODE == "process":
        thread = LabProcess(config or LabConfig(), loop=asyncio.get_running_loop())
    else:
        thread = LabThread(config or LabConfig())
    starting = asyncio.ensure_future(asyncio.to_thread(thread.start))
    try:
        await asyncio.shield(starting)
    except asyncio.CancelledError:
        # Cancelled (the server is shutting down, the supervisor stopped) while the lab was still
        # starting: it would run on, attached to nothing. Stop it once it is up.
        await asyncio.gather(starting, return_exceptions=True)
        await asyncio.to_thread(thread.stop)
        raise
    attach(thread, asyncio.get_running_loop())
    log.info("lab started: %s", await asyncio.wrap_future(thread.submit(calls.endpoints)))
    return thread


async def stop_embedded_lab() -> None:
    thread = labstate.get_lab()
    labstate.set_lab(None)
    if thread is not None:
        await asyncio.to_thread(thread.stop)
    for task in list(_tasks):
        task.cancel()


def run_on_site_loop(callback: Callable[[], None]) -> bool:
    """Run ``callback`` on the site's loop: now when called there, else queued to it from this
    thread (in order with whatever this thread queues after it). False when there is no loop to
    run it (no lab attached, or the loop is closing)."""
    loop = _site_loop
    if loop is None:
        return False
    if _on_site_loop():
        callback()
        return True
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # closed
        return False
    return True


def spawn(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on the site's loop beyond the request that started it (keeps a reference)."""
    _spawn(coro)
