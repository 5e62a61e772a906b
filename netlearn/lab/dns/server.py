"""Thin asyncio shells: one UDP socket and one TCP listener on the same address and port.

The protocol decisions live in :mod:`.authority` and :mod:`.resolution`; this module only moves
bytes. UDP datagrams and TCP messages (each prefixed by its two-byte length, RFC 1035 4.2.2)
both go to ``_answer(wire, peer, transport)``, which returns the reply bytes or ``None`` (say
nothing). Bounds, so that no learner can make the lab eat the machine: a cap on concurrent TCP
connections, an idle time-out on each, and a cap on queries being answered at once (beyond it
new datagrams are dropped and reported, exactly what an overloaded server does).

Each UDP server is bound to its role's own address, never 0.0.0.0: a wildcard-bound server
answers from 127.0.0.1 whatever address the client dialled, and a connected client drops that.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
from collections import Counter
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..tasks import cancel_and_wait
from ..timeouts import wait_for
from .authority import Authority
from .narrate import outcome_summary, query_summary

_LEN = struct.Struct("!H")


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServerBase) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.server._on_datagram(data, Endpoint.of(addr))


class DnsServerBase:
    """Sockets, bounds, failure injection and lifecycle shared by every DNS role."""

    def __init__(
        self,
        endpoint: Endpoint,
        stream: EventStream,
        name: str,
        *,
        rng: random.Random | None = None,
        max_connections: int = 512,
        max_inflight: int = 256,
        io_timeout: float = 10.0,
    ) -> None:
        self.endpoint = Endpoint(*endpoint)
        self.stream = stream
        self.name = name
        self.rng = rng or random.Random()
        self.max_connections = max_connections
        self.max_inflight = max_inflight
        self.io_timeout = io_timeout
        self.counters: Counter[str] = Counter()
        self.state = "stopped"
        self._drop_share = 0.0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tcp_writers: set[asyncio.StreamWriter] = set()
        self._bound: Endpoint | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def address(self) -> Endpoint:
        """The endpoint actually bound (the real port when configured with port 0)."""
        return self._bound or self.endpoint

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(8):  # with port 0, UDP's free port may be taken for TCP: pick again
            udp, _proto = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.endpoint.host, self.endpoint.port)
            )
            bound = Endpoint.of(udp.get_extra_info("sockname"))
            try:
                self._tcp = await asyncio.start_server(
                    self._serve_tcp, bound.host, bound.port, reuse_address=True, limit=70_000
                )
            except OSError:
                udp.close()
                if self.endpoint.port:
                    raise
                continue
            self._udp, self._bound = udp, bound
            break
        else:
            raise OSError(f"{self.name}: no port free for both UDP and TCP on {self.endpoint.host}")
        self.state = "running"
        self._control(f"{self.name} listening on {self.address} (UDP and TCP)", {"action": "start"})

    async def stop(self) -> None:
        if self.state == "stopped":
            return
        self.state = "stopped"
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for writer in list(self._tcp_writers):
            writer.close()
        await cancel_and_wait(self._tasks)
        if self._tcp is not None:
            await self._tcp.wait_closed()
        self._udp = self._tcp = None
        self._control(f"{self.name} stopped", {"action": "stop"})

    def describe(self) -> dict[str, Any]:
        return {
            "role": self.name,
            "state": self.state,
            "host": self.address.host,
            "port": self.address.port,
            "drop_share": self._drop_share,
            "counters": dict(self.counters),
        }

    # -- failure injection -----------------------------------------------------------------------
    def set_drop_share(self, p: float) -> None:
        """Silently ignore this share of incoming queries (0 = none, 1 = all), like a lossy link."""
        if not 0.0 <= p <= 1.0:
            raise ValueError("drop share must be between 0 and 1")
        self._drop_share = float(p)
        self._control(
            f"{self.name} now drops {p:.0%} of incoming queries", {"action": "drop_share", "value": p}
        )

    def _should_drop(self) -> bool:
        return self._drop_share > 0 and self.rng.random() < self._drop_share

    # -- the two transports ----------------------------------------------------------------------
    def _injected_drop(self, query: Any, peer: Endpoint, transport: str, wire: bytes) -> bool:
        """Failure injection: drop this query, count it and say so on the stream (both the
        authoritative roles and the resolver use it)."""
        if not self._should_drop():
            return False
        self.counters["dropped"] += 1
        self._error(
            f"{self.name} dropped the query for {query.qname} (failure injection)",
            peer,
            transport,
            wire,
            {**query.detail(self.name), "reason": "drop_share", "drop_share": self._drop_share},
        )
        return True

    def _on_datagram(self, data: bytes, peer: Endpoint) -> None:
        self.counters["udp_received"] += 1
        if len(self._tasks) >= self.max_inflight:
            self.counters["overload_dropped"] += 1
            self._error(
                f"{self.name} is overloaded ({self.max_inflight} queries in progress): datagram dropped",
                peer,
                "udp",
                data,
                {"reason": "overload"},
            )
            return
        self._spawn(self._answer_datagram(data, peer))

    async def _answer_datagram(self, data: bytes, peer: Endpoint) -> None:
        reply = await self._answer(data, peer, "udp")
        if reply is not None and self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(reply, tuple(peer))

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        peer = Endpoint.of(writer.get_extra_info("peername"))
        if len(self._tcp_writers) >= self.max_connections or task is None:
            self.counters["tcp_refused"] += 1
            self._error(
                f"{self.name}: too many TCP connections, closing {peer}",
                peer,
                "tcp",
                b"",
                {"reason": "connection limit"},
            )
            writer.close()
            return
        self._tasks.add(task)
        self._tcp_writers.add(writer)
        try:
            while True:  # RFC 7766: many queries may share one connection
                try:
                    (length,) = _LEN.unpack(await wait_for(reader.readexactly(2), self.io_timeout))
                    message = await wait_for(reader.readexactly(length), self.io_timeout)
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        self._error(
                            f"{peer} closed the TCP connection mid-message",
                            peer,
                            "tcp",
                            exc.partial,
                            {"reason": "truncated stream"},
                        )
                    break
                except (TimeoutError, ConnectionError):
                    break
                self.counters["tcp_received"] += 1
                reply = await self._answer(message, peer, "tcp")
                if reply is not None:
                    writer.write(_LEN.pack(len(reply)) + reply)
                    await wait_for(writer.drain(), self.io_timeout)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            self._tcp_writers.discard(writer)
            writer.close()

    async def _answer(self, wire: bytes, peer: Endpoint, transport: str) -> bytes | None:
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _control(self, summary: str, detail: dict[str, Any]) -> None:
        self.stream.emit(
            component=self.name,
            layer=7,
            kind=Kind.CONTROL,
            summary=summary,
            dst=self.address,
            detail={"role": self.name, **detail},
        )

    def _error(
        self,
        summary: str,
        peer: Endpoint | None,
        transport: str | None,
        data: bytes,
        detail: dict[str, Any],
        *,
        correlation_id: str | None = None,
    ) -> None:
        self.counters["errors"] += 1
        self.stream.emit(
            component=self.name,
            layer=7,
            kind=Kind.ERROR,
            summary=summary,
            src=peer,
            dst=self.address,
            data=data,
            transport=transport,
            correlation_id=correlation_id,
            detail={"server_role": self.name, **detail},
        )


class DnsServer(DnsServerBase):
    """An authoritative server (root, TLD or the lab zone's): :class:`Authority` behind sockets."""

    def __init__(
        self, endpoint: Endpoint, stream: EventStream, name: str, *, authority: Authority, **options: Any
    ) -> None:
        super().__init__(endpoint, stream, name, **options)
        self.authority = authority

    async def _answer(self, wire: bytes, peer: Endpoint, transport: str) -> bytes | None:
        started = time.perf_counter()
        outcome = self.authority.respond(wire, transport=transport)
        if outcome.query is None:
            self.counters[outcome.kind] += 1
            self._error(
                f"{self.name}: {outcome.reason}" + (f" → {outcome.kind.upper()}" if outcome.response else ""),
                peer,
                transport,
                wire,
                outcome.detail,
            )
            return outcome.response
        query = outcome.query
        if self._injected_drop(query, peer, transport, wire):
            return None
        self.counters["queries"] += 1
        self.counters[outcome.kind] += 1
        self.stream.emit(
            component=self.name,
            layer=7,
            kind=Kind.QUERY,
            src=peer,
            dst=self.address,
            data=wire,
            transport=transport,
            summary=query_summary(self.name, query.qname, query.qtype, transport),
            detail=query.detail(self.name),
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
        kind = Kind.REFERRAL if outcome.kind == "referral" else Kind.ANSWER
        self.stream.emit(
            component=self.name,
            layer=7,
            kind=kind,
            src=self.address,
            dst=peer,
            data=outcome.response or b"",
            transport=transport,
            summary=outcome_summary(self.name, outcome.kind, query.qname, outcome.detail),
            detail={
                **outcome.detail,
                "elapsed_ms": round(elapsed_ms, 3),
                "outcome": outcome.kind,
                "server_role": self.name,
            },
        )
        return outcome.response
