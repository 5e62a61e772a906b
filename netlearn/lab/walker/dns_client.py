"""The stub resolver of the learner's computer: one real query to the recursive resolver.

Like the stub in libc, it does no iteration itself; it asks the recursive resolver with RD=1,
retries once on a lost datagram, and retries over TCP when the answer comes back truncated.
"""
from __future__ import annotations

import asyncio
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RCODE, DNSRecord

from ..dnsparse import parsed
from ..events import Endpoint, Kind
from ..stream import EventStream
from ..timeouts import wait_for

COMPONENT = "client"


@dataclass
class StubAnswer:
    rcode: str
    addresses: list[str] = field(default_factory=list)
    cname_chain: list[str] = field(default_factory=list)
    ttl: int | None = None
    elapsed_ms: float = 0.0
    transport: str = "udp"
    error: str | None = None  # "timeout" | "refused" | None


async def stub_query(
    *,
    stream: EventStream,
    resolver: Endpoint,
    client_host: str,
    name: str,
    qtype: str = "A",
    correlation_id: str,
    timeout: float = 2.0,
    recursion_desired: bool = True,
    server_role: str = "resolver",
) -> StubAnswer:
    """Ask ``resolver`` (or, with ``recursion_desired=False``, any lab DNS server directly)."""
    query = DNSRecord.question(name, qtype)
    query.header.rd = 1 if recursion_desired else 0
    labels = {"rd": recursion_desired, "role": server_role}
    wire = query.pack()
    started = time.perf_counter()
    response: bytes | None = None
    transport = "udp"
    for attempt in (1, 2):
        response = await _udp_exchange(stream, resolver, client_host, wire, name, qtype, correlation_id, timeout,
                                       attempt, labels)
        if response is not None:
            break
    if response is not None and parsed(response).header.tc:
        transport = "tcp"
        stream.emit(component=COMPONENT, layer=7, kind=Kind.STEP, correlation_id=correlation_id,
                    summary="The answer was truncated (TC=1): retrying over TCP, as RFC 7766 requires",
                    detail={"step": "dns_tcp_retry"})
        response = await _tcp_exchange(stream, resolver, client_host, wire, name, qtype, correlation_id, timeout,
                                       labels)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response is None:
        return StubAnswer(rcode="TIMEOUT", elapsed_ms=elapsed_ms, error="timeout", transport=transport)
    return _interpret(parsed(response), name, elapsed_ms, transport)


def _interpret(record: DNSRecord, name: str, elapsed_ms: float, transport: str) -> StubAnswer:
    answer = StubAnswer(rcode=RCODE.get(record.header.rcode), elapsed_ms=elapsed_ms, transport=transport)
    wanted = name.rstrip(".").lower()
    for rr in record.rr:
        owner = str(rr.rname).rstrip(".").lower()
        if rr.rtype == QTYPE.CNAME and owner == wanted:
            wanted = str(rr.rdata).rstrip(".").lower()
            answer.cname_chain.append(wanted)
        elif rr.rtype in (QTYPE.A, QTYPE.AAAA) and owner == wanted:
            answer.addresses.append(str(rr.rdata))
            answer.ttl = rr.ttl if answer.ttl is None else min(answer.ttl, rr.ttl)
    return answer


def _bound_socket(kind: int, client_host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.setblocking(False)
    sock.bind((client_host, 0))
    return sock


async def _udp_exchange(stream: EventStream, resolver: Endpoint, client_host: str, wire: bytes, name: str,
                        qtype: str, cid: str, timeout: float, attempt: int,
                        labels: dict[str, Any]) -> bytes | None:
    loop = asyncio.get_running_loop()
    sock = _bound_socket(socket.SOCK_DGRAM, client_host)
    local = Endpoint.of(sock.getsockname())
    stream.correlator.bind(local, cid)
    try:
        sock.connect(tuple(resolver))
        stream.emit(component=COMPONENT, layer=7, kind=Kind.QUERY, src=local, dst=resolver, data=wire,
                    transport="udp", correlation_id=cid,
                    summary=(f"Stub resolver asks the recursive resolver for {name} {qtype} (RD=1)" if labels["rd"]
                             else f"Ask the {labels['role']} server directly for {name} {qtype} (RD=0)")
                    + (" — retry" if attempt > 1 else ""),
                    detail={"qname": name, "qtype": qtype, "rd": labels["rd"], "attempt": attempt,
                            "server_role": labels["role"]})
        await loop.sock_sendall(sock, wire)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):  # not wait_for: no task per await (hot path)
                data = await loop.sock_recv(sock, 65535)
        except (TimeoutError, ConnectionRefusedError) as exc:
            timed_out = isinstance(exc, TimeoutError)
            stream.emit(component=COMPONENT, layer=7, kind=Kind.ERROR, src=resolver, dst=local, correlation_id=cid,
                        transport="udp", summary=f"No answer from the resolver within {timeout:.1f} s"
                        if timed_out else "The resolver's port is closed (ICMP unreachable)",
                        detail={"error": "timeout" if timed_out else "refused"})
            return None
        _emit_answer(stream, resolver, local, data, cid, "udp", (time.perf_counter() - started) * 1000, labels["role"])
        return data
    finally:
        sock.close()
        stream.correlator.unbind(local)


async def _tcp_exchange(stream: EventStream, resolver: Endpoint, client_host: str, wire: bytes, name: str,
                        qtype: str, cid: str, timeout: float, labels: dict[str, Any]) -> bytes | None:
    loop = asyncio.get_running_loop()
    sock = _bound_socket(socket.SOCK_STREAM, client_host)
    local = Endpoint.of(sock.getsockname())
    stream.correlator.bind(local, cid)
    try:
        await wait_for(loop.sock_connect(sock, tuple(resolver)), timeout)
        framed = struct.pack("!H", len(wire)) + wire
        stream.emit(component=COMPONENT, layer=7, kind=Kind.QUERY, src=local, dst=resolver, data=wire,
                    transport="tcp", correlation_id=cid, summary=f"Same question over TCP: {name} {qtype}",
                    detail={"qname": name, "qtype": qtype, "rd": labels["rd"], "server_role": labels["role"]})
        started = time.perf_counter()
        await loop.sock_sendall(sock, framed)
        reader, writer = await asyncio.open_connection(sock=sock)
        length = struct.unpack("!H", await wait_for(reader.readexactly(2), timeout))[0]
        data = await wait_for(reader.readexactly(length), timeout)
        writer.close()
        _emit_answer(stream, resolver, local, data, cid, "tcp", (time.perf_counter() - started) * 1000, labels["role"])
        return data
    except (TimeoutError, OSError, asyncio.IncompleteReadError):
        stream.emit(component=COMPONENT, layer=7, kind=Kind.ERROR, src=resolver, dst=local, correlation_id=cid,
                    transport="tcp", summary="The TCP retry to the resolver failed", detail={"error": "tcp_failed"})
        return None
    finally:
        sock.close()
        stream.correlator.unbind(local)


def _emit_answer(stream: EventStream, resolver: Endpoint, local: Endpoint, data: bytes, cid: str,
                 transport: str, elapsed_ms: float, role: str = "resolver") -> None:
    try:
        record = parsed(data)
        rcode = RCODE.get(record.header.rcode)
        answers = [str(rr).replace("\t", " ") for rr in record.rr]
        who = "Resolver" if role == "resolver" else f"The {role} server"
        summary = (f"{who} answers {rcode}: " + ", ".join(str(rr.rdata) for rr in record.rr)) if record.rr else (
            f"{who} answers {rcode} with no records")
        detail = {"rcode": rcode, "answers": answers, "elapsed_ms": round(elapsed_ms, 3),
                  "truncated": bool(record.header.tc), "server_role": role,
                  "authority": [str(rr).replace("\t", " ") for rr in record.auth],
                  "additional": [str(rr).replace("\t", " ") for rr in record.ar]}
    except Exception:  # noqa: BLE001 - a malformed answer is itself something to show
        summary, detail = "Resolver sent a message that does not parse", {"rcode": "MALFORMED"}
    stream.emit(component=COMPONENT, layer=7, kind=Kind.ANSWER, src=resolver, dst=local, data=data,
                transport=transport, correlation_id=cid, summary=summary, detail=detail)
