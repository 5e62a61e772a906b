"""Open a balancer's connection to a backend from the balancer's own address.

The socket is bound *before* it connects, for two reasons: the backend then sees the balancer's
address (127.0.2.x) as its client, as on a real network, and the balancer can bind that local
endpoint to the walk's correlation id before the backend can possibly report its ACCEPT.
"""
from __future__ import annotations

import asyncio
import socket

from ..events import Endpoint
from ..stream import EventStream


async def dial(source_host: str, backend: Endpoint, *, timeout: float, stream: EventStream,
               correlation_id: str | None) -> tuple[socket.socket, Endpoint]:
    """A connected non-blocking socket and its local endpoint (already correlated)."""
    family = socket.AF_INET6 if ":" in backend.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    local: Endpoint | None = None
    try:
        sock.setblocking(False)
        try:
            sock.bind((source_host if ":" not in backend.host or ":" in source_host else "::1", 0))
        except OSError:
            sock.bind(("", 0))  # the balancer's address is not local here: let the kernel choose
        local = Endpoint.of(sock.getsockname())
        if correlation_id is not None:
            stream.correlator.bind(local, correlation_id)
        async with asyncio.timeout(timeout):
            await asyncio.get_running_loop().sock_connect(sock, (backend.host, backend.port))
        return sock, local
    except BaseException:
        if local is not None and correlation_id is not None:
            stream.correlator.unbind(local)
        sock.close()
        raise
