"""The HA failover and FT "try it"s: kill the active (or a replica) under continuous traffic, measure.

HA: a prober connects to the virtual address every ``probe_interval``; the outage is read off
the probes themselves (first failure → first success on the standby), and the takeover time off
the standby's own state transition. FT: requests go to both replicas, one is killed mid-stream,
and the count of lost requests and of replica requests per request is the lesson's comparison.
"""
from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from ..availability_config import AvailabilityConfig
from ..registry.demo import Options
from ..registry.demo import ms as _ms
from ..registry.demo import step as _step
from ..registry.httpio import HttpError, http_json
from ..stream import EventStream
from .ft import FTClient, Replica
from .pair import HAPair


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
        _step(stream, cid, "killing the active load balancer", step="ha_kill")
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
            # Advert heard last before the takeover, relative to the kill (negative: before it), and
            # the quiet from it to the takeover: VRRP takes over after the master-down interval of quiet.
            "last_advert_before_kill_ms": (_ms(killed_at - takeover["heard_at"])
                                           if takeover and takeover["heard_at"] is not None else None),
            "quiet_before_takeover_ms": (_ms(takeover["at"] - takeover["heard_at"])
                                         if takeover and takeover["heard_at"] is not None else None),
            "failover_gap_ms": failover["gap_ms"], "failed_connections": failover["failed"],
            "probe_interval_ms": _ms(probe_interval), "preempt": pair.preempt,
        }
        if restore:
            await asyncio.sleep(0.2)
            _step(stream, cid, "the active comes back", step="ha_return")
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
