"""Writes for walks: start one (vetting the URL first), finish one (storing what happened), and
fail the walks whose worker process died (``mark_lost_walks``, see "Lost walks" below)."""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone, translation

from netlearn.core import labstate
from netlearn.lab import calls
from netlearn.lab.timeouts import wait_for
from netlearn.lab.walker.url import Refusal, parse_lab_url

from . import bridge, finisher, packetview, rendering
from .models import Walk

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    from netlearn.lab.process import LabProcess
    from netlearn.lab.runner import ActionRecord, Lab, LabThread, WalkRecord
    from netlearn.lessons.models import Step

    User = AbstractBaseUser | AnonymousUser

R = TypeVar("R", "WalkRecord", "ActionRecord")
T = TypeVar("T")

log = logging.getLogger("netlearn.walks")

#: A learner may have this many walks running at once; the whole site this many.
MAX_RUNNING_PER_LEARNER = 2
MAX_RUNNING_TOTAL = 24
#: A walk that has not finished after this long is marked failed (the lab's own time-outs are shorter).
WALK_DEADLINE_SECONDS = 30.0
#: Lost walks: a running walk older than this is failed as ``worker_lost`` whoever runs it (see below).
LOST_MARGIN_SECONDS = 15.0
LOST_AFTER_SECONDS = WALK_DEADLINE_SECONDS + LOST_MARGIN_SECONDS
WORKER_LOST = "worker_lost"


class WalkBusy(Exception):
    """Too many walks in flight: the learner is asked to wait a moment."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope  # "learner" | "site"


class LabUnavailable(Exception):
    """The lab is not running in this process (starting, restarting or switched off)."""


def _owner(user: User | None, session_key: str | None) -> dict[str, Any]:
    if user is not None and user.is_authenticated:
        return {"user": user, "session_key": ""}
    return {"user": None, "session_key": session_key or ""}


def create_walk(*, url: str, user: User | None = None, session_key: str | None = None,
                step_id: int | None = None, cold: bool = False) -> tuple[Walk, Callable[[], None] | None]:
    """The database part of starting a walk, in one call from a thread: vet the URL (a URL the lab
    may not walk is stored as refused, and no socket is opened), check the lab and the caps, INSERT.
    Returns the walk and what starts it in the lab (:func:`launch`, to run on the site's loop;
    None when refused). ``step_id``: the lesson step whose "try it" started it, written in the
    same INSERT (one write: a full disk cannot leave a walk without its step). ``cold``: the
    resolver starts from an empty cache of this walk's own, so the root → TLD → authoritative
    referrals are on the wire.

    Why one sync call: a walk POST used to be an async view that hopped between the site's loop
    and its thread for each query (the learner's caps, the INSERT, the panel), and every hop is a
    hand-over of the GIL that a lesson step page served on the loop waits behind."""
    url = (url or "").strip()
    owner = _owner(user, session_key)
    parsed = parse_lab_url(url)
    if isinstance(parsed, Refusal):
        return Walk.objects.create(url=url[:2048], status=Walk.Status.REFUSED, code=parsed.code,
                                   detail={"refusal": parsed.detail}, finished_at=timezone.now(),
                                   step_id=step_id, **owner), None
    return _create_running(owner, calls.walk_and_topology, walk_finish, dict(url=url, cold=cold), url=url,
                           step_id=step_id, params={"cache": "cold" if cold else "warm"})


def create_action(*, step: Step, user: User | None = None, session_key: str | None = None
                  ) -> tuple[Walk, Callable[[], None] | None]:
    """:func:`create_walk` for a lesson step's "try it" action. A walk action is a walk; the
    others are stored the same way."""
    spec = dict(step.lab_action or {})
    if spec.get("kind") == "walk":  # cold: a lesson's walk shows the whole resolution, whoever walked before
        return create_walk(url=spec.get("url", ""), user=user, session_key=session_key, step_id=step.pk, cold=True)
    return _create_running(_owner(user, session_key), calls.action_and_topology, action_finish, dict(spec=spec),
                           kind=str(spec.get("kind", "")), url=describe_action(spec), params=spec, step_id=step.pk)


def _create_running(owner: dict[str, Any], call: Callable[..., Any], finish: Callable[..., Walk | None],
                    arguments: dict[str, Any], **fields: Any) -> tuple[Walk, Callable[[], None]]:
    lab = _available_lab(owner)
    walk = _insert_running({**fields, "worker": worker_identity(), **owner})
    work = functools.partial(call, correlation_id=walk.id.hex, **arguments)
    # The final page is made ahead in the language of the request that started the walk: the
    # learner watching it (the walk page's socket asks in the page's language). Any other
    # language is rendered when a socket asks for it.
    language = translation.get_language() or settings.LANGUAGE_CODE
    return walk, functools.partial(launch, walk.id.hex, lab, work, finish, [language])


def launch(cid: str, lab: LabThread | LabProcess, work: Callable[[Lab], Awaitable[tuple[R, dict[str, str]]]],
           finish: Callable[..., Walk | None], languages: list[str] | None = None) -> None:
    """On the site's loop: open the walk's live buffer, then run it in the lab in the background."""
    bridge.register_live(cid)
    bridge.spawn(_run(cid, lab, work, finish, languages))


def start_from_thread(created: tuple[Walk, Callable[[], None] | None]) -> Walk:
    """For a sync view: hand a created walk's launch to the site's loop. Handed over before the
    view's answer is (both go through the loop's queue in order), so the walk's live buffer is
    open before the browser can ask for its socket. A site loop that is gone (shutting down)
    fails the walk at once rather than leaving it running for the lost-walk sweep."""
    walk, start = created
    if start is not None and not bridge.run_on_site_loop(start):
        walk_fail(walk.id.hex, code="lab_error", message="the site is shutting down; try again in a moment")
        walk.refresh_from_db()
    return walk


async def walk_start(*, url: str, user: User | None = None, session_key: str | None = None,
                     step_id: int | None = None, cold: bool = False) -> Walk:
    """:func:`create_walk` from async code (one hop to a thread), then started on this loop."""
    walk, start = await sync_to_async(create_walk)(url=url, user=user, session_key=session_key,
                                                  step_id=step_id, cold=cold)
    if start is not None:
        start()
    return walk


def describe_action(spec: dict[str, Any]) -> str:
    kind = spec.get("kind")
    if kind == "dns_query":
        return f"dig @{spec.get('server', 'resolver')} {spec.get('name', '')} {spec.get('type', 'A')}"
    if kind == "lb_distribution":
        return f"{spec.get('requests', 40)} requests through {spec.get('balancer', 'l4')} ({spec.get('algorithm')})"
    if kind == "backend_fault":
        return f"{spec.get('fault')} backend-{spec.get('backend')} and watch the health checks"
    if kind == "http_exchange":
        return f"HTTP {spec.get('scenario')} through the L7 balancer"
    return str(kind)


def _available_lab(owner: dict[str, Any]) -> LabThread | LabProcess:
    """The running lab, after a cheap early look at the limits (the binding check is in
    :func:`_insert_running`): a learner already at the cap is told so without taking a lock."""
    lab = labstate.get_lab()
    if lab is None or not lab.is_alive():
        raise LabUnavailable()
    if Walk.objects.filter(status=Walk.Status.RUNNING, **owner).count() >= MAX_RUNNING_PER_LEARNER:
        raise WalkBusy("learner")
    return lab


#: The advisory lock (PostgreSQL) that serialises "count the running walks, then add one".
START_LOCK_ID = 0x6E65_746C_7761_6C6B & 0x7FFF_FFFF_FFFF_FFFF  # "netlwalk"


def _insert_running(fields: dict[str, Any]) -> Walk:
    """Count and insert in one transaction that no other start can interleave with.

    Why a lock: counting and then inserting in two steps let two POSTs from one learner (or many
    learners at once) both see room and both start, past every cap. PostgreSQL: a transaction-
    scoped advisory lock, taken by every start, so the count always sees the walks that the
    starts before it committed (READ COMMITTED takes a fresh snapshot per statement). SQLite:
    ``transaction_mode=IMMEDIATE`` (settings) makes ``atomic()`` take the database's write lock
    at BEGIN, which serialises the same way. The lock is held for one SELECT (both counts) and
    one INSERT."""
    from django.db import connection

    owner = {"user": fields.get("user"), "session_key": fields.get("session_key", "")}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [START_LOCK_ID])
        counts = Walk.objects.filter(status=Walk.Status.RUNNING).aggregate(  # one scan of the running rows
            mine=Count("pk", filter=Q(**owner)), total=Count("pk"))
        if counts["mine"] >= MAX_RUNNING_PER_LEARNER:
            raise WalkBusy("learner")
        if counts["total"] >= MAX_RUNNING_TOTAL:
            raise WalkBusy("site")
        return Walk.objects.create(**fields)


async def _run(cid: str, lab: LabThread | LabProcess, work: Callable[[Lab], Awaitable[tuple[R, dict[str, str]]]],
               finish: Callable[..., Walk | None], languages: list[str] | None = None) -> None:
    """Run ``work`` (one of :mod:`netlearn.lab.calls`, bound with ``functools.partial``: it may
    cross to a lab in another process) and store its record and topology with ``finish``;
    ``languages``: the final page's, made ahead (:func:`_store`)."""
    state: tuple[str, str, str] | None = None
    try:
        future = lab.submit(work)
        record, topology = await wait_for(asyncio.wrap_future(future), WALK_DEADLINE_SECONDS)
        state = await _store(cid, finish, record, topology, languages or [settings.LANGUAGE_CODE])
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # this task was cancelled (shutdown): let it end
            raise
        # The lab's loop cancelled the walk: it crashed and is being restarted.
        await in_thread(walk_fail, cid, code="lab_error",
                         message="the lab crashed during the walk; it restarts by itself")
    except Exception as exc:
        log.exception("walk %s failed inside the lab", cid)
        await in_thread(walk_fail, cid, code="lab_error", message=repr(exc))
    finally:
        bridge.unregister_live(cid)
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is not None:
            # With the stored row's state, a socket knows which render it wants without asking
            # the database (see WalkConsumer.walk_finished); without it (a failure), it asks.
            message: dict[str, Any] = {"type": "walk.finished", "walk": cid}
            if state is not None:
                message["state"] = list(state)
            await layer.group_send(f"walk.{cid}", message)


async def _store(cid: str, finish: Callable[..., Walk | None], record: Any, topology: dict[str, str],
                 languages: list[str]) -> tuple[str, str, str] | None:
    """Store a walk's record and make its final page in ``languages``: in this worker's finisher
    process when it runs (``netlearn.walks.finisher`` says why), its renders kept for the walk's
    sockets; else, or should the finisher fail, here (the page then made when a socket asks).
    Returns the stored row's state (None: not stored)."""
    child = finisher.current()
    if child is not None:
        try:
            state, renders = await child.finish(finish, cid, record, topology, languages)
        except finisher.FinisherGone:  # it ended while storing this walk: a new one starts (``current``)
            log.warning("walk %s: the finisher is gone; stored here", cid)
        except Exception:
            log.exception("walk %s: the finisher failed; stored here", cid)
        else:
            if state is not None:
                for lang, html in renders.items():
                    rendering.prime_final(cid, lang, state, html)
            return state
    stored = await in_thread(finish, cid, record=record, topology=topology)
    return rendering.state_of(stored) if stored is not None else None


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run an ORM write from a background task. ``thread_sensitive=False``: the request that
    spawned the task (and its executor) may be gone by the time the walk ends."""
    from django.db import close_old_connections

    def call() -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return await sync_to_async(call, thread_sensitive=False)()


def _storable(walk: Walk) -> bool:
    """May the lab's record be stored on this row? Yes while it runs, and also over a
    ``worker_lost`` verdict: that was a presumption (see "Lost walks"), the record is what really
    happened, so it wins. Any other ending is kept (stored once; nothing else writes twice)."""
    if walk.status == Walk.Status.RUNNING:
        return True
    if walk.code == WORKER_LOST:
        log.warning("walk %s finished after it was marked %s: storing its real record", walk.id.hex, WORKER_LOST)
        return True
    log.warning("walk %s already ended (%s %s): its late record is dropped", walk.id.hex, walk.status, walk.code)
    return False


def walk_finish(cid: str, *, record: WalkRecord, topology: dict[str, str]) -> Walk | None:
    """Store the lab's record on the walk's row; returns the stored walk (None: not stored), which
    this process keeps for the final render (``rendering.remember_stored``)."""
    outcome = record.outcome
    status = {"done": Walk.Status.DONE, "refused": Walk.Status.REFUSED}.get(outcome.status, Walk.Status.FAILED)
    # Made before the transaction: it holds the database's one write lock, which every other
    # writer (a page's session, the journals, another walk) waits for meanwhile.
    events = record.event_dicts()
    frames = packetview.annotate_frames(record.frames, topology)
    with transaction.atomic():
        walk = Walk.objects.select_for_update().get(id=cid)
        if not _storable(walk):
            return None
        walk.status = status
        walk.code = outcome.code
        walk.detail = {**walk.detail, "outcome": outcome.detail, "topology": topology,
                       "parsed": outcome.parsed.as_dict() if outcome.parsed else None, "dropped": record.dropped,
                       "capture": record.capture}
        walk.events = events
        walk.frames = frames
        walk.backends = outcome.backends
        walk.duration_ms = round((outcome.finished - outcome.started) * 1000, 3)
        walk.finished_at = timezone.now()
        walk.save()
    rendering.remember_stored(walk)
    return walk


def action_finish(cid: str, *, record: ActionRecord, topology: dict[str, str]) -> Walk | None:
    with transaction.atomic():
        walk = Walk.objects.select_for_update().get(id=cid)
        if not _storable(walk):
            return None
        walk.status = Walk.Status.FAILED if record.error else Walk.Status.DONE
        walk.code = "action_error" if record.error else ""
        walk.result = record.result
        walk.detail = {**walk.detail, "topology": topology, "error": record.error, "dropped": record.dropped}
        walk.events = [event.as_dict() for event in record.events]
        walk.duration_ms = record.result.get("elapsed_ms")
        walk.finished_at = timezone.now()
        walk.save()
    return walk


def walk_fail(cid: str, *, code: str, message: str) -> None:
    Walk.objects.filter(id=cid, status=Walk.Status.RUNNING).update(
        status=Walk.Status.FAILED, code=code, detail={"error": message[:500]}, finished_at=timezone.now())


# -- Lost walks ------------------------------------------------------------------------------------
#
# A walk runs inside the embedded lab of the worker process that started it; only that process
# stores its record. If the process dies (SIGKILL, OOM, a crash) the row would stay "running"
# forever and every page watching it would wait forever. So every worker's lab supervisor calls
# ``mark_lost_walks`` every few seconds (``LabSupervisor.sweep_interval``), and a running walk
# is failed with the code ``worker_lost`` when either
#
# 1. its process is gone: the row's ``worker`` (``worker_identity()``) names a process on *this*
#    machine — same host name, same boot, same PID namespace — and ``/proc/<pid>`` is missing, a
#    zombie, or another process that reused the pid (its start time differs). This is exact and
#    fast: a surviving worker on the same host notices within one sweep (2 s); or
# 2. it is older than ``LOST_AFTER_SECONDS`` (45 s): the site gives up on any walk after
#    ``WALK_DEADLINE_SECONDS`` (30 s, the ``wait_for`` in ``_run``) and then writes its failure,
#    so a walk still running 15 s later has nobody left to store it. This covers a worker on
#    another machine or container, where the first rule cannot look, and rows without a worker.
#
# A walk marked lost whose real record arrives after all (a worker that was only very slow)
# gets that record: the verdict was a presumption, the record is what happened (``_storable``).
# Pages are told at once (``walk.finished`` to the walk's group) and the walk's stale shared live
# buffer is dropped, so a page that reconnects shows the explanation instead of waiting.

_identity: tuple[int, str] | None = None


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process, or None when there is none."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name, in parentheses, may hold spaces
    return (fields[0], fields[19]) if len(fields) > 19 else None


_machine_of: tuple[int, str] | None = None


def _machine() -> str:
    """This machine and boot, and this PID namespace: where a pid means one process."""
    global _machine_of
    pid = os.getpid()
    if _machine_of is None or _machine_of[0] != pid:  # computed in the process itself (not inherited by a fork)
        boot = _read("/proc/sys/kernel/random/boot_id")[:8]
        try:
            pidns = os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
        except OSError:
            pidns = ""
        _machine_of = (pid, f"{socket.gethostname()}/{boot}/{pidns}")
    return _machine_of[1]


def worker_identity() -> str:
    """``host/boot/pidns/pid/start``: names this process, and no other, even after a pid is reused."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:  # computed in the process itself (not inherited by a fork)
        stat = _proc_stat(pid)
        _identity = (pid, f"{_machine()}/{pid}/{stat[1] if stat else ''}")
    return _identity[1]


def worker_gone(worker: str) -> bool:
    """True when ``worker`` names a process on this machine that no longer runs. False when it
    runs, or when it cannot be told from here (another machine or container, an empty value)."""
    parts = worker.rsplit("/", 2)
    if len(parts) != 3 or not parts[1].isdigit() or parts[0] != _machine():
        return False
    pid, start = int(parts[1]), parts[2]
    stat = _proc_stat(pid)
    if stat is not None:  # a zombie (killed, not yet reaped) or the pid of a newer process: gone
        return stat[0] in ("Z", "X") or (bool(start) and stat[1] != start)
    try:  # no /proc entry: ask the kernel (/proc may be hiding other users' processes, or absent)
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def mark_lost_walks(*, now: datetime | None = None) -> list[str]:
    """Fail the running walks whose worker is gone or that are past every deadline (see above).
    Returns their ids (hex). Safe to run in every worker at once: each row changes only while
    it is still running, so one sweep wins and a walk that is being stored is left alone."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=LOST_AFTER_SECONDS)
    lost: list[str] = []
    for walk_id, worker, created_at in Walk.objects.filter(status=Walk.Status.RUNNING).values_list(
            "id", "worker", "created_at"):
        if worker_gone(worker):
            reason = "process_gone"
        elif created_at < cutoff:
            reason = "deadline"
        else:
            continue
        detail = {"error": "the server process running this walk stopped; start it again",
                  "worker": worker, "reason": reason, "lost_by": worker_identity()}
        if Walk.objects.filter(id=walk_id, status=Walk.Status.RUNNING).update(
                status=Walk.Status.FAILED, code=WORKER_LOST, detail=detail, finished_at=now):
            log.warning("walk %s marked %s (%s; worker %s)", walk_id.hex, WORKER_LOST, reason, worker or "unknown")
            lost.append(walk_id.hex)
    return lost


async def sweep_lost_walks() -> list[str]:
    """``mark_lost_walks`` from the site's loop, then tell the pages and drop the stale live buffers."""
    from channels.layers import get_channel_layer

    from netlearn.core import livebuffer

    lost = await in_thread(mark_lost_walks)
    layer, shared = get_channel_layer(), livebuffer.get_buffer()
    for cid in lost:
        try:
            if shared is not None:
                await shared.close(cid)
            if layer is not None:
                await layer.group_send(f"walk.{cid}", {"type": "walk.finished", "walk": cid})
        except Exception:
            log.warning("could not announce lost walk %s", cid, exc_info=True)
    return lost
