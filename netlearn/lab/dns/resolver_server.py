"""The recursive resolver: :class:`Resolution` driven over real sockets, with one shared cache.

For every client question it runs a fresh :class:`~.resolution.Resolution` and performs the
actions it asks for: each upstream query goes out on a new UDP socket (a new random source port
per query, as resolvers do since the 2008 Kaminsky attack) or, after TC=1, a TCP connection, both
bound to the resolver's own address. Before sending, the socket's local endpoint is bound in
the stream's correlator to the client's correlation id, so the root, TLD and authoritative
servers' events join the learner's walk without knowing anything about it.

Safety: ports are not in DNS, so the resolver is given the lab's DNS servers as a map
``{glue address: Upstream(endpoint, role)}``. An address outside that map (a referral to the
real Internet, say) is never dialled; the attempt is reported as an ERROR event.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..timeouts import wait_for
from .cache import DnsCache
from .narrate import outcome_summary, query_summary
from .resolution import Done, Resolution, SendQuery
from .server import DnsServerBase
from .wire import Query, Rejection, check_query, describe, describe_wire, pack_for

_LEN = struct.Struct("!H")


class Upstream(NamedTuple):
    """Where a lab DNS server really listens, and which role it plays."""

    endpoint: Endpoint
    role: str


class _OneAnswer(asyncio.DatagramProtocol):
    """A connected UDP socket waiting for the one datagram that answers our query."""

    def __init__(self, accepts: Callable[[bytes], bool]) -> None:
        self.accepts = accepts
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.answer.done() and self.accepts(data):
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable: nobody listens
        if not self.answer.done():
            self.answer.set_exception(exc)


class ResolverServer(DnsServerBase):
    def __init__(
        self,
        endpoint: Endpoint,
        stream: EventStream,
        name: str = "resolver",
        *,
        upstreams: Mapping[str, Upstream],
        root_hints: list[str] | None = None,
        cache: DnsCache | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 1.0,
        rng: random.Random | None = None,
        **options: Any,
    ) -> None:
        super().__init__(endpoint, stream, name, rng=rng, **options)
        self.upstreams = dict(upstreams)
        self.root_hints = (
            root_hints
            if root_hints is not None
            else [ip for ip, upstream in self.upstreams.items() if upstream.role == "root"]
        )
        self.cache = cache or DnsCache(clock=clock)
        self.timeout = timeout
        self._clock = clock
        #: Cold walks: a cache private to one correlation id, so the walk sees root → TLD →
        #: authoritative whatever other walks did, and warms nobody else's (see ``private_cache``).
        self.private_caches: dict[str, DnsCache] = {}

    def private_cache(self, correlation_id: str) -> DnsCache:
        """Give ``correlation_id`` an empty cache of its own until :meth:`drop_private_cache`."""
        cache = self.private_caches[correlation_id] = DnsCache(clock=self._clock)
        return cache

    def drop_private_cache(self, correlation_id: str) -> None:
        self.private_caches.pop(correlation_id, None)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "cache_entries": len(self.cache),
            "cache_hits": self.cache.hits,
            "cache_misses": self.cache.misses,
        }

    def flush_cache(self) -> None:
        """Forget everything (a lesson's "now watch it walk the whole tree again")."""
        self.cache.clear()
        self._control(f"{self.name}: cache flushed", {"action": "flush_cache"})

    async def _answer(self, wire: bytes, peer: Endpoint, transport: str) -> bytes | None:
        started = time.perf_counter()
        checked = check_query(wire)
        if isinstance(checked, Rejection):
            self.counters[(checked.rcode or "drop").lower()] += 1
            self._error(
                f"{self.name}: {checked.reason}",
                peer,
                transport,
                wire,
                {"rcode": checked.rcode, "reason": checked.reason},
            )
            return checked.response
        if self._injected_drop(checked, peer, transport, wire):
            return None
        self.counters["queries"] += 1
        cid = self.stream.correlator.lookup(peer)
        self.stream.emit(
            component=self.name,
            layer=7,
            kind=Kind.QUERY,
            src=peer,
            dst=self.address,
            data=wire,
            transport=transport,
            correlation_id=cid,
            detail=checked.detail(self.name),
            summary=query_summary(self.name, checked.qname, checked.qtype, transport),
        )
        done = await self._resolve(checked, cid)
        reply, truncated = pack_for(done.reply, transport=transport, limit=checked.udp_limit)
        self.counters["from_cache" if done.from_cache else "resolved"] += 1
        detail = {
            **describe(done.reply),
            "truncated": truncated,
            "from_cache": done.from_cache,
            "reason": done.reason,
            "server_role": self.name,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        kind = "answer" if done.rcode == "NOERROR" else done.rcode.lower()
        self.stream.emit(
            component=self.name,
            layer=7,
            kind=Kind.ANSWER,
            src=self.address,
            dst=peer,
            data=reply,
            transport=transport,
            correlation_id=cid,
            detail=detail,
            summary=outcome_summary(self.name, kind, checked.qname, detail)
            + (" (from cache)" if done.from_cache else ""),
        )
        return reply

    async def _resolve(self, query: Query, cid: str | None) -> Done:
        cache = self.private_caches.get(cid, self.cache) if cid is not None else self.cache
        machine = Resolution(query, cache=cache, root_hints=self.root_hints, rng=self.rng)
        action = machine.start()
        self._publish_notes(machine, cid)
        while isinstance(action, SendQuery):
            action = await self._exchange(machine, action, cid)
            self._publish_notes(machine, cid)
        return action

    async def _exchange(self, machine: Resolution, send: SendQuery, cid: str | None) -> SendQuery | Done:
        upstream = self.upstreams.get(send.server_ip)
        if upstream is None:
            self.counters["refused_upstream"] += 1
            self._error(
                f"{self.name} refuses to send a query to {send.server_ip}: not a lab DNS server "
                "(no lab packet ever leaves this machine)",
                None,
                send.transport,
                send.wire,
                {"reason": "not_a_lab_address", "address": send.server_ip, "qname": send.qname},
                correlation_id=cid,
            )
            return machine.unreachable(f"{send.server_ip} is not a lab DNS server")
        self.counters[f"upstream_{send.transport}"] += 1
        exchange = self._udp_exchange if send.transport == "udp" else self._tcp_exchange
        try:
            return machine.feed(await exchange(machine, send, upstream, cid))
        except TimeoutError:
            self._error(
                f"no answer from {upstream.role} ({upstream.endpoint}) within {self.timeout} s",
                None,
                send.transport,
                send.wire,
                {"reason": "timeout", "server_role": upstream.role, "qname": send.qname},
                correlation_id=cid,
            )
            return machine.timed_out()
        except OSError as exc:
            self._error(
                f"{upstream.role} ({upstream.endpoint}) unreachable: {exc}",
                None,
                send.transport,
                send.wire,
                {"reason": "unreachable", "server_role": upstream.role},
                correlation_id=cid,
            )
            return machine.unreachable(f"{upstream.role} unreachable: {exc}")

    async def _udp_exchange(
        self, machine: Resolution, send: SendQuery, upstream: Upstream, cid: str | None
    ) -> bytes:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _OneAnswer(machine.matches), sock=_connected_udp(self.address.host, upstream.endpoint)
        )
        local = Endpoint.of(transport.get_extra_info("sockname"))
        try:
            with self._correlated(local, cid):
                started = self._sent(send, local, upstream)
                transport.sendto(send.wire)
                answer = await wait_for(protocol.answer, self.timeout)
                self._received(answer, send, local, upstream, started)
                return answer
        finally:
            transport.close()

    async def _tcp_exchange(
        self, machine: Resolution, send: SendQuery, upstream: Upstream, cid: str | None
    ) -> bytes:
        reader, writer = await wait_for(
            asyncio.open_connection(*upstream.endpoint, local_addr=(self.address.host, 0)), self.timeout
        )
        local = Endpoint.of(writer.get_extra_info("sockname"))
        try:
            with self._correlated(local, cid):
                started = self._sent(send, local, upstream)
                writer.write(_LEN.pack(len(send.wire)) + send.wire)
                (length,) = _LEN.unpack(await wait_for(reader.readexactly(2), self.timeout))
                answer = await wait_for(reader.readexactly(length), self.timeout)
                self._received(answer, send, local, upstream, started)
                return answer
        except asyncio.IncompleteReadError as exc:
            raise ConnectionResetError(f"{upstream.role} closed the connection before answering") from exc
        finally:
            writer.close()

    # -- event helpers ---------------------------------------------------------------------------
    def _correlated(self, local: Endpoint, cid: str | None) -> _Binding:
        return _Binding(self.stream, local, cid)

    def _sent(self, send: SendQuery, local: Endpoint, upstream: Upstream) -> float:
        self.stream.emit(
            component=self.name,
            layer=7,
            kind=Kind.QUERY,
            src=local,
            dst=upstream.endpoint,
            data=send.wire,
            transport=send.transport,
            summary=f"{self.name} asks {upstream.role} ({upstream.endpoint}) over "
            f"{send.transport.upper()}: {send.qname} {send.qtype}?",
            detail={
                "qname": send.qname,
                "qtype": send.qtype,
                "id": send.query_id,
                "rd": False,
                "server_role": upstream.role,
                "zone": send.zone,
            },
        )
        return time.perf_counter()

    def _received(
        self, answer: bytes, send: SendQuery, local: Endpoint, upstream: Upstream, started: float
    ) -> None:
        detail = {
            **describe_wire(answer),
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
            "server_role": upstream.role,
        }
        referral = (
            not detail["answers"]
            and detail["rcode"] == "NOERROR"
            and any(" NS " in rr for rr in detail["authority"])
        )
        kind = "referral" if referral else ("nxdomain" if detail["rcode"] == "NXDOMAIN" else "answer")
        self.stream.emit(
            component=self.name,
            layer=7,
            kind=Kind.REFERRAL if referral else Kind.ANSWER,
            src=upstream.endpoint,
            dst=local,
            data=answer,
            transport=send.transport,
            detail=detail,
            summary=f"{self.name} ← "
            + outcome_summary(upstream.role, kind, send.qname, detail)
            + f" ({detail['elapsed_ms']:.2f} ms)",
        )

    def _publish_notes(self, machine: Resolution, cid: str | None) -> None:
        for note in machine.notes:
            if note.kind == "cache":
                self.stream.emit(
                    component=self.name,
                    layer=7,
                    kind=Kind.CACHE,
                    summary=note.summary,
                    dst=self.address,
                    correlation_id=cid,
                    detail=note.detail,
                )
            elif note.kind == "error":
                self._error(
                    f"{self.name}: {note.summary}",
                    None,
                    None,
                    b"",
                    {"reason": "upstream", **note.detail},
                    correlation_id=cid,
                )
            else:
                self.stream.emit(
                    component=self.name,
                    layer=7,
                    kind=Kind.STEP,
                    summary=f"{self.name}: {note.summary}",
                    dst=self.address,
                    correlation_id=cid,
                    detail={"step": f"dns_{note.kind}", **note.detail},
                )
        machine.notes.clear()


def _connected_udp(host: str, peer: Endpoint) -> socket.socket:
    """A new UDP socket on ``host`` (a fresh random port) connected to ``peer``: what
    ``create_datagram_endpoint(local_addr=..., remote_addr=...)`` makes, without the address
    look-ups it does first (a third of its cost, for literal addresses)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, 0))
        sock.connect((peer.host, peer.port))
    except OSError:
        sock.close()
        raise
    return sock


class _Binding:
    """Bind a socket's local endpoint to the walk's correlation id for the exchange's lifetime."""

    def __init__(self, stream: EventStream, local: Endpoint, cid: str | None) -> None:
        self.stream, self.local, self.cid = stream, local, cid

    def __enter__(self) -> None:
        if self.cid is not None:
            self.stream.correlator.bind(self.local, self.cid)

    def __exit__(self, *exc: object) -> None:
        if self.cid is not None:
            self.stream.correlator.unbind(self.local)
