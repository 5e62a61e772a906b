"""Writes for walks: start one (vetting the URL first), finish one (storing what happened)."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from netlearn.core import labstate
from netlearn.lab.walker.url import Refusal, parse_lab_url

from . import bridge
from .models import Walk

log = logging.getLogger("netlearn.walks")

#: A learner may have this many walks running at once; the whole site this many.
MAX_RUNNING_PER_LEARNER = 2
MAX_RUNNING_TOTAL = 24
#: A walk that has not finished after this long is marked failed (the lab's own time-outs are shorter).
WALK_DEADLINE_SECONDS = 30.0


class WalkBusy(Exception):
    """Too many walks in flight: the learner is asked to wait a moment."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope  # "learner" | "site"


class LabUnavailable(Exception):
    """The lab is not running in this process (starting, restarting or switched off)."""


def _owner(user: Any, session_key: str | None) -> dict[str, Any]:
    if user is not None and user.is_authenticated:
        return {"user": user, "session_key": ""}
    return {"user": None, "session_key": session_key or ""}


async def walk_start(*, url: str, user: Any = None, session_key: str | None = None) -> Walk:
    """Create a walk. A URL the lab may not walk is stored as refused, and no socket is opened."""
    url = (url or "").strip()
    owner = _owner(user, session_key)
    parsed = parse_lab_url(url)
    if isinstance(parsed, Refusal):
        return await Walk.objects.acreate(url=url[:2048], status=Walk.Status.REFUSED, code=parsed.code,
                                          detail={"refusal": parsed.detail}, finished_at=timezone.now(), **owner)
    lab = await _available_lab(owner)
    walk = await Walk.objects.acreate(url=url, **owner)
    bridge.register_live(walk.id.hex)
    bridge.spawn(_run(walk.id.hex, lab, lambda l: l.walk(url, correlation_id=walk.id.hex), walk_finish))
    return walk


async def lab_action_start(*, step: Any, user: Any = None, session_key: str | None = None) -> Walk:
    """Run a lesson step's "try it" action. A walk action is a walk; the others are stored the same way."""
    spec = dict(step.lab_action or {})
    if spec.get("kind") == "walk":
        walk = await walk_start(url=spec.get("url", ""), user=user, session_key=session_key)
        walk.step_id = step.pk
        await walk.asave(update_fields=["step"])
        return walk
    owner = _owner(user, session_key)
    lab = await _available_lab(owner)
    walk = await Walk.objects.acreate(kind=str(spec.get("kind", "")), url=describe_action(spec), params=spec,
                                      step_id=step.pk, **owner)
    bridge.register_live(walk.id.hex)
    bridge.spawn(_run(walk.id.hex, lab, lambda l: l.run_action(spec, correlation_id=walk.id.hex), action_finish))
    return walk


def describe_action(spec: dict[str, Any]) -> str:
    kind = spec.get("kind")
    if kind == "dns_query":
        return f"dig @{spec.get('server', 'resolver')} {spec.get('name', '')} {spec.get('type', 'A')}"
    if kind == "lb_distribution":
        return f"{spec.get('requests', 40)} requests through {spec.get('balancer', 'l4')} ({spec.get('algorithm')})"
    if kind == "backend_fault":
        return f"{spec.get('fault')} backend-{spec.get('backend')} and watch the health checks"
    return str(kind)


async def _available_lab(owner: dict[str, Any]) -> Any:
    lab = labstate.get_lab()
    if lab is None or not lab.is_alive():
        raise LabUnavailable()
    running = Walk.objects.filter(status=Walk.Status.RUNNING)
    if await running.filter(**owner).acount() >= MAX_RUNNING_PER_LEARNER:
        raise WalkBusy("learner")
    if await running.acount() >= MAX_RUNNING_TOTAL:
        raise WalkBusy("site")
    return lab


async def _run(cid: str, lab: Any, work: Any, finish: Any) -> None:
    try:
        async def in_lab(l: Any) -> tuple[Any, dict[str, str]]:
            return await work(l), topology_map(l)

        future = lab.submit(in_lab)
        record, topology = await asyncio.wait_for(asyncio.wrap_future(future), WALK_DEADLINE_SECONDS)
        await _in_thread(finish, cid, record=record, topology=topology)
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():  # this task was cancelled (shutdown): let it end
            raise
        # The lab's loop cancelled the walk: it crashed and is being restarted.
        await _in_thread(walk_fail, cid, code="lab_error",
                         message="the lab crashed during the walk; it restarts by itself")
    except Exception as exc:  # noqa: BLE001 - a lab failure is a failed walk, never a broken site
        log.exception("walk %s failed inside the lab", cid)
        await _in_thread(walk_fail, cid, code="lab_error", message=repr(exc))
    finally:
        bridge.unregister_live(cid)
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is not None:
            await layer.group_send(f"walk.{cid}", {"type": "walk.finished", "walk": cid})


async def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an ORM write from a background task. ``thread_sensitive=False``: the request that
    spawned the task (and its executor) may be gone by the time the walk ends."""
    from django.db import close_old_connections

    def call() -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return await sync_to_async(call, thread_sensitive=False)()


def topology_map(lab: Any) -> dict[str, str]:
    """Lab address → diagram node id, stored with the walk so a replay draws the same picture."""
    endpoints = lab.endpoints()
    nodes = {lab.config.client_host: "client"}
    for role in ("root", "tld", "authoritative", "resolver", "l4", "l7"):
        nodes[endpoints[role]["host"]] = role
    for index, backend in enumerate(endpoints["backends"], start=1):
        nodes[backend["host"]] = f"backend-{index}"
    return nodes


def walk_finish(cid: str, *, record: Any, topology: dict[str, str]) -> None:
    outcome = record.outcome
    status = {"done": Walk.Status.DONE, "refused": Walk.Status.REFUSED}.get(outcome.status, Walk.Status.FAILED)
    with transaction.atomic():
        walk = Walk.objects.select_for_update().get(id=cid)
        walk.status = status
        walk.code = outcome.code
        walk.detail = {**walk.detail, "outcome": outcome.detail, "topology": topology,
                       "parsed": outcome.parsed.as_dict() if outcome.parsed else None, "dropped": record.dropped}
        walk.events = [event.as_dict() for event in record.events]
        walk.backends = outcome.backends
        walk.duration_ms = round((outcome.finished - outcome.started) * 1000, 3)
        walk.finished_at = timezone.now()
        walk.save()


def action_finish(cid: str, *, record: Any, topology: dict[str, str]) -> None:
    with transaction.atomic():
        walk = Walk.objects.select_for_update().get(id=cid)
        walk.status = Walk.Status.FAILED if record.error else Walk.Status.DONE
        walk.code = "action_error" if record.error else ""
        walk.result = record.result
        walk.detail = {**walk.detail, "topology": topology, "error": record.error, "dropped": record.dropped}
        walk.events = [event.as_dict() for event in record.events]
        walk.duration_ms = record.result.get("elapsed_ms")
        walk.finished_at = timezone.now()
        walk.save()


def walk_fail(cid: str, *, code: str, message: str) -> None:
    Walk.objects.filter(id=cid, status=Walk.Status.RUNNING).update(
        status=Walk.Status.FAILED, code=code, detail={"error": message[:500]}, finished_at=timezone.now())
