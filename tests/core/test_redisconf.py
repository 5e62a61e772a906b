"""A cancelled send to Redis stops (``netlearn.core.redisconf``), against a real Redis.

The send is cancelled after 0, 1, 2, ... turns of the event loop, so the cancel lands at every
point a send goes through, including the one where Python 3.11's ``asyncio.wait_for`` swallows it
(CPython gh-86296): its inner task has finished and ``wait_for`` has not resumed yet. A task that
took the cancel (``cancel()`` returned True) must end cancelled. redis-py's own connection class
is the control: on this Python it swallows the cancel at some step, or the test would prove nothing.
"""
from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio.connection import AbstractConnection, Connection, ConnectionPool

from netlearn.core.redisconf import (
    CancelSafeConnection,
    CancelSafeSSLConnection,
    CancelSafeUnixConnection,
    asyncio_client_options,
    cancel_safe_connection_class,
)
from tests.cancels import steps_where_a_cancel_was_dropped

pytestmark = [pytest.mark.services, pytest.mark.timeout(60)]

#: Turns of the loop before the cancel: a send on an open connection takes three or four.
STEPS = 8


async def _steps_where_a_cancel_was_swallowed(url: str, connection_class: type[AbstractConnection]) -> list[int]:
    kwargs = ConnectionPool.from_url(url, socket_timeout=15, connection_class=connection_class).connection_kwargs

    @asynccontextmanager
    async def sending() -> AsyncIterator[asyncio.Future[object]]:
        connection = connection_class(**kwargs)
        await connection.connect()
        try:
            yield asyncio.ensure_future(connection.send_command("PING", check_health=False))
        finally:
            await connection.disconnect()

    return await steps_where_a_cancel_was_dropped(STEPS, sending)


def test_redis_pys_connection_swallows_a_cancel_on_this_python(redis_server) -> None:
    if sys.version_info >= (3, 12):
        pytest.skip("asyncio.wait_for no longer swallows a cancel (gh-86296): the control cannot show it")
    assert asyncio.run(_steps_where_a_cancel_was_swallowed(redis_server.url, Connection)) != []


def test_our_connection_stops_at_a_cancel_at_every_step(redis_server) -> None:
    assert asyncio.run(_steps_where_a_cancel_was_swallowed(redis_server.url, CancelSafeConnection)) == []


def test_our_connection_still_talks_to_redis_with_its_time_out(redis_server) -> None:
    """The swapped time-out is put back, and commands and replies go through as before."""
    from redis.asyncio import Redis

    async def scenario() -> tuple[list[object], float | None]:
        client = Redis.from_url(redis_server.url, socket_timeout=15, **asyncio_client_options(redis_server.url))
        try:
            await client.set("netlearn:redisconf", "ok")
            replies = [await client.get("netlearn:redisconf"), await client.ping()]
            connection = await client.connection_pool.get_connection()
            kind, timeout = type(connection), connection.socket_timeout
            await client.connection_pool.release(connection)
            assert kind is CancelSafeConnection
            return replies, timeout
        finally:
            await client.aclose()

    replies, timeout = asyncio.run(scenario())
    assert replies == [b"ok", True]
    assert timeout == 15


def test_the_class_follows_the_urls_scheme() -> None:
    assert cancel_safe_connection_class("redis://127.0.0.1:6379/0") is CancelSafeConnection
    assert cancel_safe_connection_class("rediss://cache.example:6380/0") is CancelSafeSSLConnection
    assert cancel_safe_connection_class("unix:///run/redis.sock") is CancelSafeUnixConnection
