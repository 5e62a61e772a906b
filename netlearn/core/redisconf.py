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
"""
from __future__ import annotations

from typing import Any

#: Connection errors retried per command (at once, on a fresh connection).
RETRIES = 1


def asyncio_client_options() -> dict[str, Any]:
    """Connection options for redis-py's asyncio client (``channels_redis``'s hosts, ``loopcache``)."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return {"retry": Retry(NoBackoff(), RETRIES)}
