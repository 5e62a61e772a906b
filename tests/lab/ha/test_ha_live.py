"""The HA pair and the FT pair on real loopback sockets."""
from __future__ import annotations

import asyncio
import socket
import time

import pytest

from netlearn.lab.availability_config import AvailabilityConfig
from netlearn.lab.events import Kind
from netlearn.lab.ha import Advertisement, FTClient, HAPair, Replica
from netlearn.lab.registry.httpio import HttpError, http_json
from netlearn.lab.stream import EventStream, Recorder
from tests.waiting import eventually

CONFIG = AvailabilityConfig.ephemeral(advert_interval=0.05, advert_missed=3)


async def _who(pair: HAPair) -> str | None:
    try:
        _, body = await http_json(pair.address, "GET", "/", local_host="127.0.5.100", timeout=0.2)
        return body["node"]
    except HttpError:
        return None


async def _until(predicate, limit: float = 20.0) -> float:
    started = time.monotonic()
    while not await predicate():
        if time.monotonic() - started > limit:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def test_standby_takes_over_within_the_master_down_interval() -> None:
    stream = EventStream()
    pair = HAPair(stream=stream, config=CONFIG)
    await pair.start()
    try:
        assert await _who(pair) == "lb-active"
        with Recorder(stream) as heard:  # the standby has heard the active's adverts
            await eventually(lambda: heard.of_kind(Kind.HEALTH_CHECK, "lb-standby"), "an advert heard by the standby")
        killed = time.monotonic()
        await pair.kill_active()
        assert await _who(pair) is None  # the active really released the address
        await _until(lambda: _standby_serves(pair))
        takeover = next(t for t in pair.standby.transitions if t["to"] == "master")
        # Not before the master-down interval, counted from the last advert heard (≤ one interval
        # before the kill). No upper bound: a loaded machine may be late, never early.
        assert takeover["at"] - killed >= CONFIG.master_down_interval - CONFIG.advert_interval - 0.01
    finally:
        await pair.stop()


async def _standby_serves(pair: HAPair) -> bool:
    return await _who(pair) == "lb-standby"


async def test_the_active_preempts_when_it_returns() -> None:
    pair = HAPair(stream=EventStream(), config=CONFIG, preempt=True)
    await pair.start()
    try:
        await pair.kill_active()
        await _until(lambda: _standby_serves(pair))
        await pair.restore_active()

        async def active_serves() -> bool:
            return await _who(pair) == "lb-active"

        await _until(active_serves)
        assert pair.standby.role.value == "backup"
    finally:
        await pair.stop()


async def test_without_preemption_the_standby_keeps_the_address() -> None:
    pair = HAPair(stream=EventStream(), config=CONFIG, preempt=False)
    await pair.start()
    try:
        await pair.kill_active()
        await _until(lambda: _standby_serves(pair))
        with Recorder(pair.stream) as heard:
            await pair.restore_active()
            # A backup of higher priority that may preempt does so on the first advert it hears;
            # this one has heard several and stays backup.
            await eventually(lambda: len(heard.of_kind(Kind.HEALTH_CHECK, "lb-active")) >= 3,
                             "the returned active hears the standby's adverts")
        assert await _who(pair) == "lb-standby"
        assert pair.active.role.value == "backup"
    finally:
        await pair.stop()


async def test_forged_advertisements_are_reported_and_ignored() -> None:
    stream = EventStream()
    pair = HAPair(stream=stream, config=CONFIG)
    await pair.start()
    try:
        with Recorder(stream) as recorder:
            target = tuple(pair.standby.address)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rogue:
                rogue.bind(("127.0.5.2", 0))  # even from the active's own address
                rogue.sendto(Advertisement(CONFIG.vrid, 254, 0.05, "127.0.5.1").serialize(), target)
                rogue.sendto(Advertisement(CONFIG.vrid, 200, 0.05, "127.0.7.7").serialize(), target)
                rogue.sendto(b"\x00" * 300, target)
            await eventually(lambda: len(recorder.of_kind(Kind.ERROR, "lb-standby")) >= 3, "three rejections")
        errors = recorder.of_kind(Kind.ERROR, "lb-standby")
        assert sorted(e.detail["error"] for e in errors) == ["forged_address", "forged_priority", "too_large"]
        assert pair.standby.role.value == "backup" and await _who(pair) == "lb-active"
    finally:
        await pair.stop()


async def test_a_clean_stop_releases_every_socket() -> None:
    pair = HAPair(stream=EventStream(), config=CONFIG)
    await pair.start()
    virtual, own = pair.address, pair.standby.address
    await pair.stop()
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(tuple(virtual))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(tuple(own))  # the advertisement port is free again


async def test_the_ft_pair_loses_nothing_when_a_replica_dies() -> None:
    stream = EventStream()
    replicas = [Replica(stream=stream, name=f"r{n}", host=f"127.0.5.1{n}") for n in (1, 2)]
    for replica in replicas:
        await replica.start()
    client = FTClient(stream=stream, replicas=[r.address for r in replicas], client_host="127.0.5.100")
    try:
        results = []
        for n in range(20):
            if n == 8:
                await replicas[0].kill()
            results.append(await client.call(f"/job/{n}"))
        assert all(r.ok for r in results)
        assert {r.winner for r in results[8:]} == {"r2"}
        assert client.replica_requests == 2 * client.requests == 40
        assert replicas[1].handled == 20
    finally:
        for replica in replicas:
            await replica.stop()
