"""Open a balancer's connection to a backend from the balancer's own address.

The socket is bound *before* it connects, so the backend sees the balancer's address
(127.0.2.x) as its client, as on a real network; and the local endpoint is bound to the walk's
correlation id before the backend can possibly report its ACCEPT.

Cheap per connection, because an L4 balancer dials for every client: the bind asks for the
address only (``IP_BIND_ADDRESS_NO_PORT``, Linux ≥ 4.2, as HAProxy and nginx do), so the port is
picked by ``connect()``, which may reuse a port still in TIME_WAIT towards *another* backend;
``bind(port 0)`` must find a port free for every destination, a search that grew slower with
every closed connection (profiled: a quarter of the proxy's CPU with a new connection per
request). ``connect()`` on a non-blocking socket assigns the port at once, so the endpoint is
read and correlated right after it, before the event loop runs the backend's accept; then we
wait for the handshake (when it is not already over) with a writer callback and one timer.
"""
from __future__ import annotations

import _socket
import asyncio
import errno
import os
import socket

from ..events import Endpoint, sockaddr_endpoint
from ..stream import EventStream

#: From <linux/in.h>; Python's socket module does not name it.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
_AF_INET, _AF_INET6 = int(socket.AF_INET), int(socket.AF_INET6)
_STREAM_NONBLOCK = int(socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
_IPPROTO_IP = int(socket.IPPROTO_IP)


async def dial(source_host: str, backend: Endpoint, *, timeout: float, stream: EventStream,
               correlation_id: str | None) -> tuple[socket.socket, Endpoint]:
    """A connected non-blocking socket and its local endpoint (already correlated)."""
    raw, local, connected = start_dial(source_host, backend, stream=stream, correlation_id=correlation_id)
    # The full type for the event loop's transports; family, type and protocol are passed so
    # that adopting the descriptor asks the kernel nothing.
    sock = socket.socket(raw.family, raw.type | socket.SOCK_NONBLOCK, raw.proto, raw.detach())
    try:
        if not connected:
            await _connected(sock, timeout)
        return sock, local
    except BaseException:
        forget_dial(sock, local, stream=stream, correlation_id=correlation_id)
        raise


def start_dial(source_host: str, backend: Endpoint, *, stream: EventStream,
               correlation_id: str | None) -> tuple[_socket.socket, Endpoint, bool]:
    """Begin a connection without waiting: the non-blocking socket, its local endpoint (already
    correlated) and whether the handshake is already over (usual on loopback). The L4 balancer
    waits for the rest on its own poller; :func:`dial` waits with the event loop. Raises
    ``OSError`` when the connection failed at once."""
    v6 = ":" in backend.host
    # Non-blocking from birth (one ioctl fewer); the event loop sets TCP_NODELAY on its transport.
    # The C socket type: ``socket.socket`` adds a Python ``__init__`` and a Python ``close`` (~3 µs a
    # connection, profiled); :func:`dial` wraps it for the event loop, which wants the full type.
    sock = _socket.socket(_AF_INET6 if v6 else _AF_INET, _STREAM_NONBLOCK)
    local: Endpoint | None = None
    try:
        try:
            if not v6:
                sock.setsockopt(_IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source_host if not v6 or ":" in source_host else "::1", 0))
        except OSError:
            pass  # the balancer's address is not local here: connect() lets the kernel choose
        err = sock.connect_ex(backend)  # an Endpoint is the (host, port) tuple connect wants
        local = sockaddr_endpoint(sock.getsockname())
        if correlation_id is not None:
            stream.correlator.bind(local, correlation_id)
        if err == errno.EINPROGRESS:
            return sock, local, _established(sock)
        if err:
            raise OSError(err, os.strerror(err))
        return sock, local, True
    except BaseException:
        if local is not None:
            forget_dial(sock, local, stream=stream, correlation_id=correlation_id)
        else:
            sock.close()
        raise


def forget_dial(sock: _socket.socket | socket.socket, local: Endpoint, *, stream: EventStream,
                correlation_id: str | None) -> None:
    """Undo :func:`start_dial` for a connection that will not be used: unbind and close."""
    if correlation_id is not None:
        stream.correlator.unbind(local)
    sock.close()


def _established(sock: _socket.socket) -> bool:
    """On loopback the handshake is usually over before ``connect()`` returns: one ``getpeername``
    (ENOTCONN until the handshake ends) then spares the writer callback, the timer and their
    epoll changes."""
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


def _connected(sock: socket.socket, timeout: float) -> asyncio.Future[None]:
    """A future set when the non-blocking ``connect()`` finishes (or fails, or times out)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()

    def finish(exc: BaseException | None) -> None:
        loop.remove_writer(fd)
        timer.cancel()
        if done.done():
            return
        if exc is None:
            done.set_result(None)
        else:
            done.set_exception(exc)

    def writable() -> None:
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        finish(OSError(err, os.strerror(err)) if err else None)

    def cancelled(fut: asyncio.Future[None]) -> None:
        if fut.cancelled():
            loop.remove_writer(fd)
            timer.cancel()

    timer = loop.call_later(timeout, finish, TimeoutError())
    loop.add_writer(fd, writable)
    done.add_done_callback(cancelled)
    return done
