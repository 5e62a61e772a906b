"""The client-side balancing "try it": register, balance, kill an instance, time the convergence.

Shared by the availability facade (:mod:`netlearn.lab.availability`); the helpers :func:`ms` and
:func:`step` are used by the other demos too.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from ..availability_config import AvailabilityConfig
from ..events import Kind
from ..stream import EventStream
from .balancer import Chooser
from .client import DiscoveryClient
from .instance import ServiceInstance
from .server import RegistryServer

Options = Mapping[str, Any] | None
COMPONENT = "availability"


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def step(stream: EventStream, cid: str | None, summary: str, **detail: Any) -> None:
    """A narrative step of a demo, for the page's timeline."""
    stream.emit(component=COMPONENT, layer=7, kind=Kind.STEP, summary=summary, detail=detail, correlation_id=cid)


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
        registered_ms = ms(time.monotonic() - t0)
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
        step(stream, cid, f"killing {victim.instance_id}: watch its heartbeats stop", step="instance_kill",
             instance_id=victim.instance_id)
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
        evicted_ms = ms(eviction["at"] - killed_at) if eviction else None
        converged = {}
        for client in clients:
            change = next((c for c in client.changes if c[0] >= killed_at and victim.instance_id not in c[2]), None)
            converged[client.name] = ms(change[0] - killed_at) if change else None
        return {
            "service": "shop", "instances": [i.instance_id for i in instances], "killed": victim.instance_id,
            "registered_ms": registered_ms, "heartbeat_interval_ms": ms(config.heartbeat_interval),
            "lease_ms": ms(config.eviction_after), "client_refresh_ms": ms(config.client_refresh),
            "distribution_before_kill": before, "evicted_after_ms": evicted_ms,
            "silent_for_ms": eviction["silent_ms"] if eviction else None,
            "caches_converged_after_ms": converged, "calls_while_converging": during,
            "strategies": {c.name: c.chooser.strategy for c in clients},
            "expected_bound_ms": ms(config.eviction_after + config.eviction_sweep + config.client_refresh),
        }
    finally:
        for client in clients:
            await client.stop()
        for instance in instances:
            await instance.stop()
        await registry.stop()
