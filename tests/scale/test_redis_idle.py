"""The channel layer and the cache against a Redis that closes idle clients' connections (its ``timeout``).

A managed Redis may close a connection idle for a while; the dev stack's closes them after 30 s.
redis-py's asyncio pool keeps such a connection and finds it dead only when the next command
fails. Before ``netlearn.core.redisconf``, under ``bench/classroom.py --config stack``, that
answered a WebSocket handshake with 500 (its ``group_add``) and lost a walk's final message. The
cache needs no option of ours (its blocking pool reopens such a connection before handing it out):
the cache test holds that, which the settings and the README rely on; a write it skipped would leave
a session's old copy in Redis. Here the server closes a connection idle for 1 s, and each client
is used again after 2.5 s of silence.
"""
from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis
import redis.asyncio as aioredis
from channels_redis.core import RedisChannelLayer

from netlearn.core.cache import FailSoftRedisCache
from netlearn.devtools.servers import Redis
from netlearn.settings.base import redis_cache, redis_channel_layer

pytestmark = [pytest.mark.services, pytest.mark.timeout(60)]

IDLE_TIMEOUT = 1
#: Redis checks its clients' idle time a few times a second: well past the timeout.
SILENCE = IDLE_TIMEOUT + 1.5


@pytest.fixture(scope="module")
def closing_redis() -> Redis:
    server = Redis(idle_timeout=IDLE_TIMEOUT).start()
    yield server
    server.destroy()


def test_this_redis_really_closes_an_idle_connection(closing_redis):
    """The control: redis-py's asyncio pool as ``channels_redis`` builds it without our options
    fails on its first command after the silence; else the test below would prove nothing."""
    async def ping_after_silence() -> None:
        client = aioredis.Redis(connection_pool=aioredis.ConnectionPool.from_url(closing_redis.url))
        try:
            assert await client.ping()
            await asyncio.sleep(SILENCE)
            with pytest.raises(redis.exceptions.ConnectionError):
                await client.ping()
        finally:
            await client.aclose(close_connection_pool=True)

    asyncio.run(ping_after_silence())


def test_the_channel_layer_after_a_silence(closing_redis):
    async def scenario() -> list[int]:
        layer = RedisChannelLayer(**redis_channel_layer(closing_redis.url)["CONFIG"])
        received = []
        try:
            channel = await layer.new_channel()
            await layer.group_add("walk.a", channel)
            await layer.group_send("walk.a", {"type": "walk.finished", "n": 1})
            received.append((await asyncio.wait_for(layer.receive(channel), 5))["n"])
            await asyncio.sleep(SILENCE)
            await layer.group_add("walk.b", channel)  # what a WebSocket's handshake does first
            await layer.group_send("walk.b", {"type": "walk.finished", "n": 2})
            received.append((await asyncio.wait_for(layer.receive(channel), 5))["n"])
            await asyncio.sleep(SILENCE)
            await layer.group_discard("walk.a", channel)  # what a socket that leaves does
            await layer.group_send("walk.a", {"type": "walk.finished", "n": 3})  # no member left
            await layer.group_send("walk.b", {"type": "walk.finished", "n": 4})
            received.append((await asyncio.wait_for(layer.receive(channel), 5))["n"])
        finally:
            await layer.flush()
            await layer.close_pools()
        return received

    assert asyncio.run(scenario()) == [1, 2, 4]


def test_a_cache_write_after_a_silence_reaches_redis(closing_redis, caplog):
    config = redis_cache(closing_redis.url)
    cache = FailSoftRedisCache(config["LOCATION"], {"KEY_PREFIX": "idle-test", "OPTIONS": config["OPTIONS"]})
    cache.set("session", "before")
    assert cache.get("session") == "before"
    time.sleep(SILENCE)
    with caplog.at_level(logging.WARNING, logger="netlearn.cache"):
        cache.set("session", "after")  # the first command on the connection the server closed
    assert not caplog.records, [r.getMessage() for r in caplog.records]  # not skipped as "unreachable"
    assert cache.get("session") == "after"
