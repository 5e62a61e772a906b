"""How the channel layer's Redis connections survive a server that closes idle clients.

Why this exists: a Redis server may close a client's connection once it has been idle for
``timeout`` seconds (its setting; managed Redis services often set one, and the dev stack's Redis
uses 30 s). redis-py's asyncio pool, which ``channels_redis`` uses, keeps such a connection and
hands it out again; the command sent on it fails, and with the pool ``channels_redis`` builds (no
``retry`` given) nothing is retried. Measured under ``bench/classroom.py --config stack``: a
WebSocket's ``group_add`` on a connection idle past 30 s answered the handshake with 500, a walk's
``walk.finished`` was lost once (its page then found the stored walk by its 1 s poll), and hundreds
of ``group_discard`` failed when the bench's idle sockets left. (The cache's blocking pool does not
need this: it checks each connection it hands out and reopens one whose socket reads as closed.)

So every channel-layer connection:

* sends a ``PING`` before a command once it has been idle for :data:`IDLE_CHECK_SECONDS`, so a
  connection the server closed after a longer silence is found by the ``PING`` (harmless to
  repeat) and reopened before the command is sent;
* retries a command once, at once, on a connection error: a server that closed the connection
  before the command reached it never ran it (the idle case when the server's timeout is shorter
  than the check's interval). A connection lost *after* Redis ran a command could repeat it once:
  group membership (``ZADD``, ``ZREM``) is idempotent, and a repeated walk message shows nothing
  twice (the page keys its steps by their ids, and a final message replaces the page).

``tests/scale/test_redis_idle.py`` runs the layer against a Redis that closes idle clients after 1 s.
"""
from __future__ import annotations

from typing import Any

#: Seconds a pooled connection may sit idle before it is checked with a PING before its next use.
IDLE_CHECK_SECONDS = 10
#: Connection errors retried per command (at once, on a fresh connection).
RETRIES = 1


def channel_layer_options() -> dict[str, Any]:
    """Connection options for ``channels_redis``'s hosts (redis-py's asyncio client)."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return {"health_check_interval": IDLE_CHECK_SECONDS, "retry": Retry(NoBackoff(), RETRIES)}
