"""How our asyncio Redis connections (the channel layer's, the loop's cache read-ahead) survive a
server that closes idle clients.

Why this exists: a Redis server may close a client's connection once it has been idle for
``timeout`` seconds (its setting; managed Redis services often set one, and the dev stack's Redis
uses 30 s). redis-py's asyncio pool, which ``channels_redis`` uses, keeps such a connection and
hands it out again; the command sent on it fails, and with the pool ``channels_redis`` builds (no
``retry`` given) nothing is retried. Measured under ``bench/classroom.py --config stack``: a
WebSocket's ``group_add`` on a connection idle past 30 s answered the handshake with 500, a walk's
``walk.finished`` was lost once (its page then found the stored walk by its 1 s poll), and hundreds
of ``group_discard`` failed when the bench's idle sockets left. (The cache's blocking pool does not
need this: it checks each connection it hands out and reopens one whose socket reads as closed.)

So a channel-layer command is retried once, at once, on a fresh connection after a connection
error. A server that closed the connection before the command reached it never ran it, which is
the idle case. A connection lost *after* Redis ran a command could repeat it once: group
membership (``ZADD``, ``ZREM``) is idempotent, and a repeated walk message shows nothing twice (the
page keys its steps by their ids, and a final message replaces the page). No ``PING`` before use
(redis-py's ``health_check_interval``): the retry already covers the idle case, without a round
trip for every connection that sat idle.

The loop's read-ahead of cache entries (``netlearn.core.loopcache``) uses the same asyncio client
and the same option: its commands are reads and plain ``SET``s, which a repeat leaves unchanged.

``tests/scale/test_redis_idle.py`` runs the layer against a Redis that closes idle clients after 1 s.

The same options also make a cancel stick (``connection_class``). redis-py bounds each send with
``asyncio.wait_for`` when a socket time-out is set, and on Python 3.11 ``wait_for`` swallows a
cancel that lands after the send has finished but before ``wait_for`` has resumed (CPython
gh-86296, fixed in 3.12 by rewriting ``wait_for`` on ``asyncio.timeout``). The cancelled task then
carries on: ``channels_redis``' receive goes back to its blocking pop, and a classroom room's pump
or a consumer's receive that was told to stop kept running until a message came for it, which for
a room nobody is in is never (a test loop's teardown hung on it in CI, 120 s). Our connections
bound the send with ``asyncio.timeout`` instead, which has no second task and so no such window.
``tests/core/test_redisconf.py`` cancels a send at every step of the way, with redis-py's class
as the control.
"""
from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import TimeoutError as RedisTimeoutError

#: Connection errors retried per command (at once, on a fresh connection).
RETRIES = 1


class _CancelSafeSend:
    """Bounds a send with ``asyncio.timeout`` where redis-py uses ``asyncio.wait_for`` (see above)."""

    socket_timeout: float | None

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        limit = self.socket_timeout
        if not limit:
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
            return
        # Without a socket time-out redis-py writes on the caller's own task; the outer bound
        # covers that write and the connect and health check that may come before it. A connection
        # is used by one task at a time (the pool hands it out), so the swap is seen by no other.
        self.socket_timeout = None
        try:
            async with asyncio.timeout(limit):
                await super().send_packed_command(command, check_health)  # type: ignore[misc]
        except TimeoutError:
            # redis-py's own error, so its retry and its callers treat it as they did before.
            raise RedisTimeoutError("Timeout writing to socket") from None
        finally:
            self.socket_timeout = limit


class CancelSafeConnection(_CancelSafeSend, Connection):
    """redis-py's TCP connection, with a send that a cancel always stops."""


class CancelSafeSSLConnection(_CancelSafeSend, SSLConnection):
    """The same for ``rediss://``."""


class CancelSafeUnixConnection(_CancelSafeSend, UnixDomainSocketConnection):
    """The same for ``unix://``."""


def cancel_safe_connection_class(url: str) -> type[AbstractConnection]:
    """The connection class for ``url``'s scheme (``from_url`` takes it in place of the scheme's)."""
    scheme = urlsplit(url).scheme
    if scheme == "rediss":
        return CancelSafeSSLConnection
    if scheme == "unix":
        return CancelSafeUnixConnection
    return CancelSafeConnection


def asyncio_client_options(url: str) -> dict[str, Any]:
    """Connection options for redis-py's asyncio client on ``url`` (``channels_redis``'s hosts,
    ``loopcache``): the retry after an idle close and the send a cancel stops."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return {"retry": Retry(NoBackoff(), RETRIES), "connection_class": cancel_safe_connection_class(url)}
