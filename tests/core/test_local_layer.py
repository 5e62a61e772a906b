"""The embedded channel layer keeps the in-memory layer's promises with a throttled sweep."""
from __future__ import annotations

import asyncio
import time

import pytest

from netlearn.core.layers import LocalChannelLayer


def test_the_embedded_settings_use_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without REDIS_URL (the embedded defaults) the settings name this layer; with it, Redis's.
    Read from the settings' own builder: the suite also runs with REDIS_URL set."""
    from netlearn.settings.base import _channel_layers_from_env

    monkeypatch.delenv("REDIS_URL", raising=False)
    assert _channel_layers_from_env()["default"]["BACKEND"] == "netlearn.core.layers.LocalChannelLayer"
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert _channel_layers_from_env()["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"


def test_group_send_reaches_every_member_with_its_own_copy() -> None:
    async def scenario() -> None:
        layer = LocalChannelLayer()
        names = [await layer.new_channel() for _ in range(3)]
        for name in names:
            await layer.group_add("walk.x", name)
        await layer.group_send("walk.x", {"type": "walk.events", "items": [1, 2]})
        received = [await asyncio.wait_for(layer.receive(name), 5) for name in names]
        assert [m["items"] for m in received] == [[1, 2]] * 3
        received[0]["items"].append(3)  # one socket's handler changing its message changes no other's
        assert received[1]["items"] == [1, 2]

    asyncio.run(scenario())


def test_a_full_member_misses_the_message_and_the_others_get_it() -> None:
    async def scenario() -> None:
        layer = LocalChannelLayer(capacity=1)
        full, free = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("g", full)
        await layer.group_add("g", free)
        await layer.send(full, {"type": "first"})
        await layer.group_send("g", {"type": "second"})
        assert (await asyncio.wait_for(layer.receive(free), 5))["type"] == "second"
        assert (await asyncio.wait_for(layer.receive(full), 5))["type"] == "first"
        assert full not in layer.channels  # its queue held only "first"

    asyncio.run(scenario())


def test_send_to_a_full_channel_raises_channel_full() -> None:
    from channels.exceptions import ChannelFull

    async def scenario() -> None:
        layer = LocalChannelLayer(capacity=1)
        name = await layer.new_channel()
        await layer.send(name, {"type": "a"})
        with pytest.raises(ChannelFull):
            await layer.send(name, {"type": "b"})

    asyncio.run(scenario())


def test_an_expired_message_is_swept_and_its_channel_leaves_its_groups() -> None:
    """The sweep is throttled, not gone: past its interval, an expired message is dropped."""
    async def scenario() -> None:
        layer = LocalChannelLayer(expiry=60, clean_interval=1.0)
        stale, live = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("g", stale)
        await layer.send(stale, {"type": "old"})
        expires, message = layer.channels[stale]._queue[0]
        layer.channels[stale]._queue[0] = (time.time() - 1, message)  # as if 60 s had passed
        layer._next_clean = 0.0  # and the sweep's interval too
        await layer.send(live, {"type": "x"})
        await asyncio.wait_for(layer.receive(live), 5)  # a receive sweeps
        assert stale not in layer.channels
        assert stale not in layer.groups.get("g", {})

    asyncio.run(scenario())


def test_the_sweep_runs_at_most_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    from channels.layers import InMemoryChannelLayer

    sweeps = []
    base_clean = InMemoryChannelLayer._clean_expired
    monkeypatch.setattr(InMemoryChannelLayer, "_clean_expired", lambda self: sweeps.append(1) or base_clean(self))

    async def scenario() -> None:
        layer = LocalChannelLayer(clean_interval=3600)
        name = await layer.new_channel()
        await layer.group_add("g", name)
        for _ in range(50):
            await layer.group_send("g", {"type": "m"})
            await layer.receive(name)

    asyncio.run(scenario())
    assert len(sweeps) == 1  # the base class swept 100 times
