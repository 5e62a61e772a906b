"""The availability lab's "try it" demonstrations: each starts real servers, does the thing, measures it.

Every coroutine here has the same shape — ``(stream, config, correlation_id, options)`` — emits
its events tagged with ``correlation_id``, stops everything it started (even on error), runs in a
few seconds at the defaults, and returns a JSON-ready dict of *measured* figures. The lead calls
them from lessons' "try it" steps and ``runlab``; :data:`DEMOS` maps their names to them.

The io-models comparison is the one that saturates the machine, so it runs one at a time per
process through :data:`COMPARISON_QUEUE`; callers learn their place through ``on_position`` (an
option) and :func:`comparison_queue_status`.
"""
from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any, Awaitable, Callable, Mapping

from .availability_config import AvailabilityConfig
from .events import Kind
from .ha import FTClient, HAPair, Replica
from .iomodels.compare import ComparisonRejected, ComparisonSpec, compare_models
from .iomodels.demos import backlog_demo, graceful_shutdown_demo
from .iomodels.queue import ComparisonQueue, QueueFull
from .registry import Chooser, DiscoveryClient, RegistryServer, ServiceInstance
from .registry.httpio import HttpError, http_json
from .stream import EventStream

Options = Mapping[str, Any] | None
COMPONENT = "availability"

#: One comparison at a time for the whole process (the lab is one per process too).
COMPARISON_QUEUE = ComparisonQueue()

__all__ = ["COMPARISON_QUEUE", "DEMOS", "ComparisonRejected", "QueueFull", "comparison_queue_status",
           "run_backlog_demo", "run_client_side_demo", "run_ft_demo", "run_graceful_shutdown_demo",
           "run_ha_failover_demo", "run_io_models_comparison"]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _step(stream: EventStream, cid: str | None, summary: str, **detail: Any) -> None:
    stream.emit(component=COMPONENT, layer=7, kind=Kind.STEP, summary=summary, detail=detail, correlation_id=cid)


# -- client-side balancing ---------------------------------------------------------------------
async def run_client_side_demo(stream: EventStream, config: AvailabilityConfig, correlation_id: str | None,
                               options: Options = None) -> dict[str, Any]:
    """Register 3 instances; two clients balance on their caches; kill one; time eviction and convergence.

    Options: ``strategies`` (one per client; default round robin and zone preference), ``kill``
    (index of the instance to kill, default 1), ``calls`` (per client before the kill, default 6).
    """
    opts = dict(options or {})
    strategies = list(opts.get("strategies", ["round_robin", "zone_preference"]))[:4]
    kill_index = int(opts.get("kill", 1)) % 3
    calls = max(1, min(int(opts.get("calls", 6)), 50))
    cid = correlation_id
    registry = RegistryServer(stream=stream, host=config.registry.host, port=config.registry.port,
                              heartbeat_interval=config.heartbeat_interval, missed=config.eviction_missed,
                              sweep_interval=config.eviction_sweep, max_instances=config.max_instances,
                              max_payload=config.max_payload, correlation_id=cid)
    instances: list[ServiceInstance] = []
    clients: list[DiscoveryClient] = []
    try:
        await registry.start()
        t0 = time.monotonic()
        for n, endpoint in enumerate(config.instances[:3]):
            instance = ServiceInstance(stream=stream, service="shop", instance_id=f"shop-{n + 1}",
                                       host=endpoint.host, port=endpoint.port, zone=config.instance_zones[n],
                                       registry=registry.address, heartbeat_interval=config.heartbeat_interval,
                                       correlation_id=cid)
            await instance.start()
            instances.append(instance)
        registered_ms = _ms(time.monotonic() - t0)
        for n, strategy in enumerate(strategies):
            client = DiscoveryClient(stream=stream, name=f"client-{n + 1}", registry=registry.address,
                                     service="shop", client_host=config.client_host,
                                     chooser=Chooser(strategy, zone=config.instance_zones[0]),
                                     refresh=config.client_refresh, correlation_id=cid)
            await client.start()
            clients.append(client)
        before: dict[str, dict[str, int]] = {}
        for client in clients:
            picks: dict[str, int] = {}
            for _ in range(calls):
                result = await client.call()
                if result.instance_id:
                    picks[result.instance_id] = picks.get(result.instance_id, 0) + 1
            before[client.name] = picks
        victim = instances[kill_index]
        _step(stream, cid, f"killing {victim.instance_id}: watch its heartbeats stop")
        killed_at = time.monotonic()
        await victim.kill()
        during = {"calls": 0, "retried": 0, "failed": 0}
        deadline = killed_at + config.eviction_after + config.eviction_sweep + config.client_refresh + 2.0
        while time.monotonic() < deadline:
            if all(victim.instance_id not in [c.instance_id for c in cl.cache] for cl in clients):
                break
            for client in clients:
                result = await client.call()
                during["calls"] += 1
                during["retried"] += result.attempts > 1
                during["failed"] += not result.ok
            await asyncio.sleep(0.02)
        eviction = next((e for e in registry.evictions if e["instance_id"] == victim.instance_id), None)
        evicted_ms = _ms(eviction["at"] - killed_at) if eviction else None
        converged = {}
        for client in clients:
            change = next((c for c in client.changes if c[0] >= killed_at and victim.instance_id not in c[2]), None)
            converged[client.name] = _ms(change[0] - killed_at) if change else None
        return {
            "service": "shop", "instances": [i.instance_id for i in instances], "killed": victim.instance_id,
            "registered_ms": registered_ms, "heartbeat_interval_ms": _ms(config.heartbeat_interval),
            "lease_ms": _ms(config.eviction_after), "client_refresh_ms": _ms(config.client_refresh),
            "distribution_before_kill": before, "evicted_after_ms": evicted_ms,
            "silent_for_ms": eviction["silent_ms"] if eviction else None,
            "caches_converged_after_ms": converged, "calls_while_converging": during,
            "strategies": {c.name: c.chooser.strategy for c in clients},
            "expected_bound_ms": _ms(config.eviction_after + config.eviction_sweep + config.client_refresh),
        }
    finally:
        for client in clients:
            await client.stop()
        for instance in instances:
            await instance.stop()
        await registry.stop()


# -- high availability ---------------------------------------------------------------------------
async def run_ha_failover_demo(stream: EventStream, config: AvailabilityConfig, correlation_id: str | None,
                               options: Options = None) -> dict[str, Any]:
    """Probe the virtual address continuously; kill the active; measure the gap; optionally restore it.

    Options: ``restore`` (bring the active back, default True), ``preempt`` (default from config),
    ``probe_interval`` (default 0.02 s).
    """
    opts = dict(options or {})
    restore = bool(opts.get("restore", True))
    probe_interval = max(0.005, float(opts.get("probe_interval", 0.02)))
    cid = correlation_id
    pair = HAPair(stream=stream, config=config, correlation_id=cid, preempt=opts.get("preempt"))
    probes: list[tuple[float, bool, str]] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            at = time.monotonic()
            try:
                status, body = await http_json(pair.address, "GET", "/", local_host=config.client_host,
                                               timeout=max(0.05, probe_interval * 4))
                probes.append((at, status == 200, str(body.get("node"))))
            except HttpError as exc:
                probes.append((at, False, exc.code))
            await asyncio.sleep(probe_interval)

    async def wait_for_master(name: str, limit: float) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            master = pair.master()
            if master is not None and master.name == name and probes and probes[-1][2] == name:
                return True
            await asyncio.sleep(0.01)
        return False

    prober: asyncio.Task[None] | None = None
    try:
        await pair.start()
        prober = asyncio.create_task(probe())
        await asyncio.sleep(0.3)
        _step(stream, cid, "killing the active load balancer")
        killed_at = time.monotonic()
        await pair.kill_active()
        took_over = await wait_for_master("lb-standby", config.master_down_interval + 2.0)
        assert pair.standby is not None
        takeover = next((t for t in pair.standby.transitions if t["to"] == "master"), None)
        failover = _gap(probes, killed_at, "lb-standby")
        result: dict[str, Any] = {
            "virtual": list(pair.address), "advert_interval_ms": _ms(config.advert_interval),
            "advert_missed": config.advert_missed, "master_down_interval_ms": _ms(config.master_down_interval),
            "took_over": took_over, "takeover_after_ms": _ms(takeover["at"] - killed_at) if takeover else None,
            "failover_gap_ms": failover["gap_ms"], "failed_connections": failover["failed"],
            "probe_interval_ms": _ms(probe_interval), "preempt": pair.preempt,
        }
        if restore:
            await asyncio.sleep(0.2)
            _step(stream, cid, "the active comes back")
            restored_at = time.monotonic()
            await pair.restore_active()
            if pair.preempt:
                back = await wait_for_master("lb-active", config.master_down_interval + 2.0)
                preemption = _gap(probes, restored_at, "lb-active")
                result["preemption"] = {"preempted": back, "after_ms": preemption["switch_ms"],
                                        "gap_ms": preemption["gap_ms"],
                                        "failed_connections": preemption["failed"]}
            else:
                await asyncio.sleep(config.master_down_interval + 0.2)
                master = pair.master()
                result["preemption"] = {"preempted": False, "master": master.name if master else None}
        await asyncio.sleep(0.1)
        result["probes"] = len(probes)
        result["probes_failed"] = sum(1 for p in probes if not p[1])
        return result
    finally:
        stop.set()
        if prober is not None:
            await asyncio.gather(prober, return_exceptions=True)
        await pair.stop()


def _gap(probes: list[tuple[float, bool, str]], since: float, new_node: str) -> dict[str, Any]:
    """After ``since``: failed probes until ``new_node`` first answered, and the outage they span.

    The gap runs from the first failed connection to the first success on the new node: the time
    during which a client really could not connect (to within one probe interval).
    """
    after = [p for p in probes if p[0] >= since]
    first = next((p for p in after if p[1] and p[2] == new_node), None)
    window = [p for p in after if first is None or p[0] < first[0]]
    failures = [p for p in window if not p[1]]
    gap = None
    if first is not None:
        gap = _ms(first[0] - failures[0][0]) if failures else 0.0
    return {"failed": len(failures), "switch_ms": _ms(first[0] - since) if first else None, "gap_ms": gap}


# -- fault tolerance -------------------------------------------------------------------------------
async def run_ft_demo(stream: EventStream, config: AvailabilityConfig, correlation_id: str | None,
                      options: Options = None) -> dict[str, Any]:
    """Requests to both replicas at once; kill one mid-stream; count what was lost and what it cost.

    Options: ``requests`` (default 40), ``kill_after`` (default 15), ``concurrency`` (default 4).
    """
    opts = dict(options or {})
    total = max(2, min(int(opts.get("requests", 40)), 1000))
    kill_after = max(1, min(int(opts.get("kill_after", 15)), total - 1))
    concurrency = max(1, min(int(opts.get("concurrency", 4)), 32))
    cid = correlation_id
    replicas = [Replica(stream=stream, name=f"replica-{n + 1}", host=e.host, port=e.port, correlation_id=cid)
                for n, e in enumerate(config.replicas[:2])]
    try:
        for replica in replicas:
            await replica.start()
        client = FTClient(stream=stream, replicas=[r.address for r in replicas], client_host=config.client_host,
                          correlation_id=cid)
        results: list[Any] = []
        counter = iter(range(total))
        killed = asyncio.Event()

        async def worker() -> None:
            for n in counter:
                if n == kill_after and not killed.is_set():
                    killed.set()
                    await replicas[0].kill()
                result = await client.call(f"/work/{n}")
                results.append((n >= kill_after, result))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        answered = sum(1 for _, r in results if r.ok)
        after = [r.elapsed_ms for late, r in results if late and r.ok]
        before = [r.elapsed_ms for late, r in results if not late and r.ok]
        return {
            "requests": client.requests, "answered": answered, "lost": client.requests - answered,
            "replica_requests": client.replica_requests,
            "cost_factor": round(client.replica_requests / client.requests, 2),
            "killed": replicas[0].name, "killed_after_requests": kill_after, "failover_gap_ms": 0.0,
            "replica_errors_absorbed": sum(len(r.failures) for _, r in results),
            "p50_ms_before_kill": round(statistics.median(before), 2) if before else None,
            "p50_ms_after_kill": round(statistics.median(after), 2) if after else None,
            "handled": {r.name: r.handled for r in replicas},
        }
    finally:
        for replica in replicas:
            await replica.stop()


# -- server handling -------------------------------------------------------------------------------
def comparison_queue_status(queue: ComparisonQueue | None = None) -> dict[str, object]:
    """Who is running and how many wait (for a page to show before it asks to run)."""
    return (queue or COMPARISON_QUEUE).status()


async def run_io_models_comparison(stream: EventStream, config: AvailabilityConfig, correlation_id: str | None,
                                   options: Options = None, *, clients: int | None = None,
                                   queue: ComparisonQueue | None = None,
                                   on_position: Callable[[int], None] | None = None,
                                   on_progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """OIO vs NIO vs local (vs embedded) under ``clients`` slow clients; queued one at a time.

    Raises :class:`ComparisonRejected` (a ``ValueError``) for more clients than
    ``config.max_comparison_clients`` or unknown models, before queueing; :class:`QueueFull` when
    too many wait. Options: ``clients``, ``duration``, ``think_ms``, ``service_ms``, ``models``.
    """
    opts = dict(options or {})
    spec = ComparisonSpec(
        clients=int(clients if clients is not None else opts.get("clients", 50)),
        duration=float(opts.get("duration", 1.0)), think_ms=int(opts.get("think_ms", 20)),
        service_ms=int(opts.get("service_ms", 10)), models=tuple(opts.get("models", ("oio", "nio", "local"))),
        workers=config.nio_workers)
    spec.validate(max_clients=config.max_comparison_clients)
    queue = queue or COMPARISON_QUEUE

    def told(position: int) -> None:
        if position:
            _step(stream, correlation_id, f"queued: {position} comparison(s) ahead of this one", queue_position=position)
        if on_position is not None:
            on_position(position)

    async with queue.slot(label=correlation_id or "comparison", on_position=told) as ticket:
        _step(stream, correlation_id, "comparison starting", ticket=ticket.number)
        result = await compare_models(spec, stream=stream, hosts={"oio": config.oio, "nio": config.nio},
                                      client_host=config.load_client_host, correlation_id=correlation_id,
                                      timeout=config.io_timeout, on_progress=on_progress)
    return result


async def run_backlog_demo(stream: EventStream, config: AvailabilityConfig, correlation_id: str | None,
                           options: Options = None) -> dict[str, Any]:
    """Pause accept(); open backlog + 1 + ``extra`` connections; see what Linux does. Options: backlog, extra."""
    opts = dict(options or {})
    return await backlog_demo(stream=stream, host=config.backlog_server.host, port=config.backlog_server.port,
                              client_host=config.load_client_host,
                              backlog=max(1, min(int(opts.get("backlog", 4)), 64)),
                              extra=max(1, min(int(opts.get("extra", 4)), 32)), correlation_id=correlation_id)


async def run_graceful_shutdown_demo(stream: EventStream, config: AvailabilityConfig, correlation_id: str | None,
                                     options: Options = None) -> dict[str, Any]:
    """In-flight slow requests, then shutdownGracefully() (and a hard stop for contrast).

    Options: ``in_flight`` (default 8), ``slow_ms`` (default 300), ``hard_contrast`` (default True).
    """
    opts = dict(options or {})
    return await graceful_shutdown_demo(stream=stream, host=config.shutdown_server.host,
                                        port=config.shutdown_server.port, client_host=config.load_client_host,
                                        in_flight=max(1, min(int(opts.get("in_flight", 8)), 64)),
                                        slow_ms=max(50, min(int(opts.get("slow_ms", 300)), 2000)),
                                        hard_contrast=bool(opts.get("hard_contrast", True)),
                                        correlation_id=correlation_id)


Demo = Callable[[EventStream, AvailabilityConfig, "str | None", Options], Awaitable[dict[str, Any]]]
DEMOS: dict[str, Demo] = {
    "client_side": run_client_side_demo, "ha_failover": run_ha_failover_demo, "ft": run_ft_demo,
    "io_models": run_io_models_comparison, "backlog": run_backlog_demo, "graceful_shutdown": run_graceful_shutdown_demo,
}
