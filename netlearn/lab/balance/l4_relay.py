"""One client's connection through the L4 balancer: two non-blocking sockets and the bytes between.

Theory of operation
-------------------
The client's socket comes from ``accept``; the backend's from :func:`~.dial.start_dial`, which
usually finds the loopback handshake over already. Both are watched by the balancer's
:class:`~.poller.Poller` (edge-triggered). Bytes go straight from one socket's ``recv_into`` (one
buffer shared by every connection: it is emptied before the handler returns) to the other's
``send``; only what the kernel refuses is copied and kept, and while something is kept for a side,
the opposite side is not read (back-pressure: the sender's window fills, no unbounded buffer here).

The accepted socket is left blocking at the kernel level (``accept`` does not inherit
``O_NONBLOCK``) and every call on it passes ``MSG_DONTWAIT``: non-blocking per call, one
``ioctl`` fewer per connection.

Half-close is relayed: a FIN from one side becomes ``shutdown(SHUT_WR)`` towards the other once
everything before it has been written; when both sides have finished, both sockets are simply
closed (a close after reading to the end of stream sends the same FIN, so the second
``shutdown`` is spared).
"""
from __future__ import annotations

import _socket
import asyncio
import os
import select
import socket
import time
import typing

from ..events import Endpoint, Kind, ms3, owned_event
from .algorithms import BackendState
from .dial import start_dial
from .poller import READ, READ_WRITE

if typing.TYPE_CHECKING:
    from .l4 import L4Balancer

#: Client bytes held while the backend connection opens; beyond this the client is not read.
EARLY_BYTES_LIMIT = 256 * 1024
#: Bytes moved per ``recv_into``.
CHUNK = 256 * 1024
_BUFFER = bytearray(CHUNK)
_VIEW = memoryview(_BUFFER)
_DONTWAIT = socket.MSG_DONTWAIT
_RDHUP = select.EPOLLRDHUP
_ERR = select.EPOLLERR
_OUT = select.EPOLLOUT
_IN = select.EPOLLIN


class _Side:
    """One socket of the pair and what is owed to it."""

    __slots__ = ("sock", "fd", "name", "pending", "eof", "writable_watched")

    def __init__(self, sock: _socket.socket, name: str, *, writable_watched: bool = False) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.name = name
        self.pending = b""  # bytes the kernel would not take yet
        self.eof = False  # this side's FIN has been read
        self.writable_watched = writable_watched


class Relay:
    """Owns one connection's sockets, counters and events (ACCEPT and CHOOSE are the balancer's)."""

    __slots__ = ("lb", "client", "upstream", "backend", "peer", "peer_text", "local_up", "cid", "early", "early_len",
                 "bytes_in", "bytes_out", "seen_at_sweep", "idle_sweeps", "turn_start", "sample_rtt", "started", "done",
                 "timer", "dialling")

    def __init__(self, lb: L4Balancer, sock: _socket.socket, peer: Endpoint, cid: str | None) -> None:
        self.lb = lb
        self.client = _Side(sock, "client")
        self.upstream: _Side | None = None  # set once the backend's handshake is over
        self.backend: BackendState | None = None
        self.peer = peer
        self.peer_text = str(peer)  # three events show it: formatted once
        self.local_up: Endpoint | None = None
        self.cid = cid
        self.early: list[bytes] = []
        self.early_len = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.seen_at_sweep = -1
        self.idle_sweeps = 0
        self.turn_start = 0.0
        self.sample_rtt = False
        self.started = time.perf_counter()
        self.done = False
        self.timer: asyncio.TimerHandle | None = None
        self.dialling: _socket.socket | None = None  # the backend's socket while its handshake is in flight

    # -- opening ---------------------------------------------------------------------------
    def open(self, backend: BackendState) -> None:
        """Dial ``backend`` and start relaying (or wait for the handshake on the poller)."""
        lb = self.lb
        self.backend = backend
        backend.active += 1
        self.sample_rtt = lb.pool.algorithm.name == "peak_ewma"
        try:
            sock, self.local_up, connected = start_dial(lb.address.host, backend.endpoint, stream=lb.stream,
                                                        correlation_id=self.cid)
        except OSError as exc:
            self._unreachable(exc)
            return
        self.dialling = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # relayed writes go out at once
        self._read_early(0)  # a client usually sends at once: its bytes are often here already
        if self.done:
            return
        lb.poller.register(self.client.fd, READ, self._on_client)
        if connected:
            self._connected(sock, watched=False)
            return
        lb.poller.register(sock.fileno(), READ_WRITE, self._on_handshake)
        self.timer = asyncio.get_running_loop().call_later(lb.connect_timeout, self._unreachable, TimeoutError())

    def _on_handshake(self, mask: int) -> None:
        sock = self.dialling
        assert sock is not None
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._unreachable(OSError(err, os.strerror(err)))
        elif mask & _OUT:
            self._connected(sock, watched=True)

    def _connected(self, sock: _socket.socket, *, watched: bool) -> None:
        lb, backend, local = self.lb, self.backend, self.local_up
        assert backend is not None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.dialling = None
        up = self.upstream = _Side(sock, "backend", writable_watched=watched)
        if watched:
            lb.poller.replace(up.fd, self._on_backend)  # was the handshake's
        else:
            lb.poller.register(up.fd, READ, self._on_backend)
        local_text, backend_text = str(local), str(backend.endpoint)
        # Correlated as publish would: the local end is bound to self.cid (start_dial) when there
        # is one; else only the backend's endpoint can be bound (a demo binds its private backends).
        stream = lb.stream
        cid = self.cid if self.cid is not None else stream.correlator.lookup(backend.endpoint)
        stream.deliver(owned_event(
            lb.name, 4, Kind.CONNECT, f"opened {local_text} → {backend.name} {backend_text}", local, backend.endpoint,
            {"backend": backend.name, "client": self.peer_text, "lb_local": local_text, "early_bytes": self.early_len,
             "connect_ms": ms3(time.perf_counter() - self.started)}, cid, "tcp"))
        early, self.early = self.early, []
        if early:
            self._write(up, b"".join(early) if len(early) > 1 else early[0])
        if self.done:
            return
        if self.client.eof:
            self._finish(self.client, up)
        elif self.early_len > EARLY_BYTES_LIMIT and not up.pending:
            self._pump(self.client, up, 0)  # the client was not read past the limit

    def _unreachable(self, exc: BaseException) -> None:
        lb, backend = self.lb, self.backend
        assert backend is not None
        self.timer = None
        lb.counters["connect_errors"] += 1
        error = "timed out" if isinstance(exc, TimeoutError) else (getattr(exc, "strerror", None)
                                                                  or type(exc).__name__)
        lb.stream.emit(component=lb.name, layer=4, kind=Kind.ERROR, transport="tcp", dst=backend.endpoint,
                       src=self.peer, correlation_id=self.cid, summary=f"could not reach {backend.name}: {error}",
                       detail={"backend": backend.name, "error": error})
        self.close(reason=f"backend {backend.name} unreachable")

    def _read_early(self, mask: int) -> None:
        """Read what the client sent before the backend connection is ready (bounded)."""
        client = self.client
        while self.early_len <= EARLY_BYTES_LIMIT:
            try:
                n = client.sock.recv_into(_BUFFER, CHUNK, _DONTWAIT)
            except BlockingIOError:
                return
            except OSError as exc:
                self.close(reason=f"client error: {exc}")
                return
            if not n:
                client.eof = True
                return
            self.early.append(bytes(_VIEW[:n]))
            self.early_len += n
            self.bytes_in += n
            if self.sample_rtt and not self.turn_start:
                self.turn_start = time.perf_counter()
            if n < CHUNK:  # short read: all there was (a later arrival is a new edge)
                if mask & _RDHUP and not mask & _ERR:
                    client.eof = True
                return

    # -- relaying --------------------------------------------------------------------------
    def _on_client(self, mask: int) -> None:
        up = self.upstream
        if up is None:  # the handshake is still in flight
            if not self.client.eof:
                self._read_early(mask)
            return
        if mask & _OUT and self.client.pending:
            self._flush(self.client, up)
        if mask & (_IN | _RDHUP | _ERR) and not up.pending and not self.client.eof:
            self._pump(self.client, up, mask)

    def _on_backend(self, mask: int) -> None:
        up = self.upstream
        assert up is not None
        if mask & _OUT and up.pending:
            self._flush(up, self.client)
        if mask & (_IN | _RDHUP | _ERR) and not self.client.pending and not up.eof:
            self._pump(up, self.client, mask)

    def _pump(self, src: _Side, dst: _Side, mask: int) -> None:
        """Move bytes from ``src`` to ``dst`` until ``src`` has none (or ``dst`` takes no more)."""
        from_client = src is self.client
        recv_into, send = src.sock.recv_into, dst.sock.send
        while not self.done:
            try:
                n = recv_into(_BUFFER, CHUNK, _DONTWAIT)
            except BlockingIOError:
                return
            except OSError as exc:
                self.close(reason=f"{src.name} error: {exc}")
                return
            if not n:
                self._finish(src, dst)
                return
            if from_client:
                self.bytes_in += n
                if self.sample_rtt and not self.turn_start:
                    self.turn_start = time.perf_counter()
            else:
                self.bytes_out += n
                if self.turn_start:
                    self._observe_rtt()
            try:
                sent = send(_VIEW[:n], _DONTWAIT)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self.close(reason=f"{dst.name} error: {exc}")
                return
            if sent < n:
                self._keep(dst, bytes(_VIEW[sent:n]))
                return  # src is read again once dst has taken what it owes
            if n < CHUNK:  # short read: nothing more for now ...
                if mask & _RDHUP and not mask & _ERR:  # ... and src's FIN is in: that is its end of stream
                    self._finish(src, dst)
                return

    def _write(self, dst: _Side, data: bytes) -> None:
        try:
            sent = dst.sock.send(data, _DONTWAIT)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.close(reason=f"{dst.name} error: {exc}")
            return
        if sent < len(data):
            self._keep(dst, data[sent:])

    def _keep(self, dst: _Side, rest: bytes) -> None:
        dst.pending += rest
        if not dst.writable_watched:
            dst.writable_watched = True
            self.lb.poller.modify(dst.fd, READ_WRITE)

    def _flush(self, dst: _Side, src: _Side) -> None:
        """``dst`` is writable again: send what it is owed, then read ``src`` again."""
        pending, dst.pending = dst.pending, b""
        self._write(dst, pending)
        if self.done or dst.pending:
            return
        if src.eof:
            self._finish(src, dst)
        else:
            self._pump(src, dst, 0)

    def _finish(self, src: _Side, dst: _Side) -> None:
        """``src`` sent its FIN: pass it on once ``dst`` has everything before it."""
        src.eof = True
        if dst.pending:
            return  # _flush calls again
        if dst.eof and not src.pending:
            self.close(reason="both sides finished")
            return
        try:
            dst.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self.close(reason=f"{dst.name} error: {exc}")

    def _observe_rtt(self) -> None:
        rtt = time.perf_counter() - self.turn_start
        self.turn_start = 0.0
        if self.backend is not None:
            self.lb.pool.observe_rtt(self.backend, rtt)

    # -- closing ---------------------------------------------------------------------------
    def close(self, *, reason: str) -> None:
        """Idempotent: close both sockets and report once."""
        if self.done:
            return
        self.done = True
        lb = self.lb
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for side in (self.client, self.upstream):
            if side is not None:
                lb.poller.forget(side.fd)
                side.sock.close()
        if self.dialling is not None:
            lb.poller.forget(self.dialling.fileno())
            self.dialling.close()
            self.dialling = None
        lb.forget(self)
        name = None
        if self.backend is not None:
            self.backend.active -= 1
            name = self.backend.name
        counters = lb.counters
        counters["closed"] += 1
        counters["bytes_in"] += self.bytes_in
        counters["bytes_out"] += self.bytes_out
        lb.stream.deliver(owned_event(  # the correlation found at accept (see L4Balancer._admit)
            lb.name, 4, Kind.CLOSE,
            f"closed {self.peer_text}: {self.bytes_in} B in, {self.bytes_out} B out ({reason})", self.peer, lb.address,
            {"backend": name, "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
             "duration_ms": ms3(time.perf_counter() - self.started), "reason": reason}, self.cid, "tcp"))
        if self.local_up is not None and self.cid is not None:  # start_dial bound it only then
            lb.stream.correlator.unbind(self.local_up)

