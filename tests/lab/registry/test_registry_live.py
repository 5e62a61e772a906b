"""The registry, instances and discovery clients on real loopback sockets."""
from __future__ import annotations

import asyncio
import time

import pytest

from netlearn.lab.events import Kind
from netlearn.lab.registry import Chooser, DiscoveryClient, RegistryServer, ServiceInstance
from netlearn.lab.registry.httpio import http_json
from netlearn.lab.stream import EventStream, Recorder
from tests.waiting import eventually

INTERVAL, MISSED, SWEEP = 0.1, 3, 0.02


@pytest.fixture
async def lab():
    stream = EventStream()
    registry = RegistryServer(stream=stream, host="127.0.4.1", heartbeat_interval=INTERVAL, missed=MISSED,
                              sweep_interval=SWEEP)
    await registry.start()
    instances = [ServiceInstance(stream=stream, service="shop", instance_id=f"i{n}", host=f"127.0.4.1{n}",
                                 zone="zone-a" if n % 2 else "zone-b", registry=registry.address,
                                 heartbeat_interval=INTERVAL) for n in (1, 2, 3)]
    for instance in instances:
        await instance.start()
    yield stream, registry, instances
    for instance in instances:
        await instance.stop()
    await registry.stop()


async def test_instances_register_and_renew(lab) -> None:
    stream, registry, _ = lab
    with Recorder(stream) as recorder:
        def renewed() -> bool:
            heard = {e.detail["instance_id"] for e in recorder.of_kind(Kind.HEALTH_CHECK, "registry")}
            return all(i["renewals"] >= 1 for i in registry.describe()["services"]["shop"]) and len(heard) == 3

        await eventually(renewed, "a renewal from every instance")
    snapshot = registry.describe()["services"]["shop"]
    assert [i["instance_id"] for i in snapshot] == ["i1", "i2", "i3"]
    assert all(i["renewals"] >= 1 for i in snapshot)
    heartbeats = recorder.of_kind(Kind.HEALTH_CHECK, "registry")
    assert {e.detail["instance_id"] for e in heartbeats} == {"i1", "i2", "i3"}
    assert {e.src.host for e in heartbeats} == {"127.0.4.11", "127.0.4.12", "127.0.4.13"}


async def test_a_killed_instance_is_evicted_after_the_missed_heartbeats(lab) -> None:
    _, registry, instances = lab
    killed_at = time.monotonic()
    await instances[1].kill()
    await eventually(lambda: registry.evictions, "the eviction")
    (eviction,) = registry.evictions
    assert eviction["instance_id"] == "i2"
    waited = eviction["at"] - killed_at
    # The lease is interval × missed after the last renewal (at most one interval before the kill):
    # never evicted earlier. No upper bound: a loaded machine may sweep late.
    assert waited >= INTERVAL * MISSED - INTERVAL
    assert [i["instance_id"] for i in registry.describe()["services"]["shop"]] == ["i1", "i3"]


async def test_a_clean_stop_cancels_at_once(lab) -> None:
    _, registry, instances = lab
    await instances[0].stop()
    assert [i["instance_id"] for i in registry.describe()["services"]["shop"]] == ["i2", "i3"]
    assert registry.evictions == []


async def test_the_client_retries_another_instance_and_its_cache_converges(lab) -> None:
    stream, registry, instances = lab
    client = DiscoveryClient(stream=stream, name="client-1", registry=registry.address, service="shop",
                             client_host="127.0.4.100", chooser=Chooser("round_robin"), refresh=INTERVAL)
    await client.start()
    try:
        assert client.cache and len(client.cache) == 3
        await instances[0].kill()
        results = [await client.call() for _ in range(3)]
        assert all(r.ok for r in results)
        retried = [r for r in results if r.attempts > 1]
        assert retried and retried[0].tried[0] == "i1" and "refused" in retried[0].errors[0]
        deadline = time.monotonic() + INTERVAL * MISSED + INTERVAL + 1.0
        while "i1" in [c.instance_id for c in client.cache] and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert [c.instance_id for c in client.cache] == ["i2", "i3"]
        assert client.changes[-1][2] == ("i2", "i3")
    finally:
        await client.stop()


async def test_bad_requests_and_unknown_heartbeats_get_clear_errors(lab) -> None:
    stream, registry, _ = lab
    with Recorder(stream) as recorder:
        status, body = await http_json(registry.address, "POST", "/registry",
                                       {"op": "renew", "service": "shop", "instance_id": "ghost"})
        assert (status, body["error"]) == (404, "unknown_instance")
        status, body = await http_json(registry.address, "POST", "/registry", {"op": "register", "service": "shop"})
        assert (status, body["error"]) == (400, "bad_instance_id")
        status, body = await http_json(registry.address, "POST", "/registry", {"op": "fetch", "service": "x" * 5000})
        assert (status, body["error"]) == (413, "payload_too_large")
        status, body = await http_json(registry.address, "DELETE", "/nowhere")
        assert status == 404
    assert len(recorder.of_kind(Kind.ERROR, "registry")) == 3
    assert len(registry.describe()["services"]["shop"]) == 3  # nothing broke
