"""Two demonstrations on the NIO server: what SO_BACKLOG really bounds, and graceful shutdown.

SO_BACKLOG, measured not assumed: with the boss loop's accept paused, Linux completes handshakes
into the accept queue until it holds ``backlog + 1`` connections; after that it *drops* new SYNs
(``net.ipv4.tcp_abort_on_overflow = 0``, the default) instead of refusing them, so the client's
``connect()`` stays pending and the kernel retransmits the SYN after about 1 s (then 3 s, 7 s…).
When accepting resumes, those retries succeed. The demo reports every figure from the sockets
themselves: ``TCP_INFO`` on the listening socket gives the queue length and its limit, and
``/proc/net/netstat`` counts ``ListenOverflows``.
"""
from __future__ import annotations

import asyncio
import socket
import struct
import time
from pathlib import Path
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..timeouts import wait_for
from .nio import NioServer

COMPONENT = "iomodels"


def _sysctl(name: str) -> int | None:
    try:
        return int(Path("/proc/sys", *name.split(".")).read_text().split()[0])
    except (OSError, ValueError):
        return None


def listen_overflows() -> int | None:
    """The kernel's ``TcpExt: ListenOverflows`` counter (whole network namespace)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for header, values in zip(lines[::2], lines[1::2]):
        if header.startswith("TcpExt:"):
            table = dict(zip(header.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", 0))
    return None


def accept_queue(sock: socket.socket) -> tuple[int, int] | None:
    """(connections waiting, limit) of a listening socket: ``tcpi_unacked``/``tcpi_sacked``."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except OSError:
        return None
    unacked, sacked = struct.unpack_from("II", info, 24)
    return unacked, sacked


def syn_retransmissions(sock: socket.socket) -> int | None:
    """How many times the kernel retransmitted on this connection so far (``tcpi_total_retrans``):
    right after ``connect()`` returns, the SYNs it had to send again."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except OSError:
        return None
    return struct.unpack_from("I", info, 100)[0] if len(info) >= 104 else None


async def _connect(host: str, address: Endpoint, loop: asyncio.AbstractEventLoop) -> tuple[socket.socket, float]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.bind((host, 0))
    started = time.perf_counter()
    try:
        await loop.sock_connect(sock, tuple(address))
    except BaseException:
        sock.close()
        raise
    return sock, time.perf_counter() - started


async def backlog_demo(*, stream: EventStream, host: str, port: int, client_host: str, backlog: int = 4,
                       extra: int = 4, resume_after: float = 0.4, wait_limit: float = 3.5,
                       correlation_id: str | None = None) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    server = NioServer(stream=stream, host=host, port=port, workers=1, backlog=backlog,
                       correlation_id=correlation_id)
    overflows_before = listen_overflows()
    await server.start()
    sockets: list[socket.socket] = []
    try:
        server.pause_accepting()
        await asyncio.sleep(0.05)
        stream.emit(component=COMPONENT, layer=4, kind=Kind.CONTROL, correlation_id=correlation_id,
                    src=server.address, summary=f"accept loop paused; listen(backlog={backlog})")
        tasks: list[asyncio.Task[tuple[socket.socket, float]]] = []
        immediate = 0
        for _ in range(backlog + 1 + extra):
            task = asyncio.create_task(_connect(client_host, server.address, loop))
            tasks.append(task)
            done, _ = await asyncio.wait({task}, timeout=0.05)
            immediate += int(bool(done) and task.exception() is None)
        queue = accept_queue(server._listener) if server._listener else None
        refused = sum(1 for t in tasks if t.done() and isinstance(t.exception(), ConnectionRefusedError))
        pending = sum(1 for t in tasks if not t.done())
        stream.emit(component=COMPONENT, layer=4, kind=Kind.CONTROL, correlation_id=correlation_id,
                    summary=f"{immediate} connected at once, {pending} pending (SYN dropped), {refused} refused",
                    detail={"accept_queue": list(queue) if queue else None})
        await asyncio.sleep(resume_after)
        server.resume_accepting()
        stream.emit(component=COMPONENT, layer=4, kind=Kind.CONTROL, correlation_id=correlation_id,
                    summary="accept loop resumed")
        await asyncio.wait(tasks, timeout=wait_limit)
        late_ms, retransmitted = [], []
        for task in tasks:
            if task.done() and task.exception() is None:
                sock, elapsed = task.result()
                sockets.append(sock)
                if elapsed > 0.1:
                    late_ms.append(round(elapsed * 1000))
                    retransmitted.append(syn_retransmissions(sock))
            else:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        served = 0
        for index, sock in enumerate(sockets):
            await loop.sock_sendall(sock, f"ECHO {index}\n".encode())
            reply = await wait_for(loop.sock_recv(sock, 64), 2)
            served += reply == f"OK {index}\n".encode()
        overflows_after = listen_overflows()
        figures = {
            "backlog": backlog, "attempted": len(tasks), "connected_immediately": immediate,
            "pending_while_paused": pending, "refused": refused,
            "accept_queue": {"length": queue[0], "limit": queue[1]} if queue else None,
            "completed_after_resume": len(late_ms), "late_connect_ms": sorted(late_ms),
            "late_syn_retransmissions": retransmitted,
            "resumed_after_ms": round(resume_after * 1000),
            "served": served, "never_connected": len(tasks) - len(sockets),
            "listen_overflows": (overflows_after - overflows_before)
            if overflows_before is not None and overflows_after is not None else None,
            "somaxconn": _sysctl("net.core.somaxconn"),
            "tcp_abort_on_overflow": _sysctl("net.ipv4.tcp_abort_on_overflow"),
            "explanation": ("Linux queued backlog+1 completed connections while accept() was paused, then dropped "
                            "further SYNs instead of refusing them; each client retransmitted its SYN (~1 s, the "
                            "initial retransmission timeout) and connected once accepting resumed."),
        }
        stream.emit(component=COMPONENT, layer=4, kind=Kind.CONTROL, correlation_id=correlation_id,
                    summary=f"{len(late_ms)} late connection(s) completed after SYN retransmission "
                            f"({', '.join(f'{ms} ms' for ms in sorted(late_ms))})", detail=figures)
        return figures
    finally:
        for sock in sockets:
            sock.close()
        await server.stop()


async def graceful_shutdown_demo(*, stream: EventStream, host: str, port: int, client_host: str,
                                 in_flight: int = 8, slow_ms: int = 300, hard_contrast: bool = True,
                                 correlation_id: str | None = None) -> dict[str, Any]:
    """In-flight ``SLOW`` requests, then ``shutdownGracefully()``; optionally the same with a hard stop."""
    graceful = await _shutdown_round(stream=stream, host=host, port=port, client_host=client_host, graceful=True,
                                     in_flight=in_flight, slow_ms=slow_ms, correlation_id=correlation_id)
    result: dict[str, Any] = {"graceful": graceful}
    if hard_contrast:
        result["hard_stop"] = await _shutdown_round(stream=stream, host=host, port=port, client_host=client_host,
                                                    graceful=False, in_flight=in_flight, slow_ms=slow_ms,
                                                    correlation_id=correlation_id)
    return result


async def _shutdown_round(*, stream: EventStream, host: str, port: int, client_host: str, graceful: bool,
                          in_flight: int, slow_ms: int, correlation_id: str | None) -> dict[str, Any]:
    server = NioServer(stream=stream, host=host, port=port, workers=2, correlation_id=correlation_id)
    await server.start()
    address = server.address
    writers: list[asyncio.StreamWriter] = []
    try:
        async def client(index: int) -> bool:
            reader, writer = await asyncio.open_connection(address.host, address.port, local_addr=(client_host, 0))
            writers.append(writer)
            writer.write(f"SLOW {slow_ms} r{index}\n".encode())
            await writer.drain()
            line = await wait_for(reader.readline(), slow_ms / 1000 + 3)
            return line == f"OK r{index}\n".encode()

        clients = [asyncio.create_task(client(i)) for i in range(in_flight)]
        deadline = time.monotonic() + 3
        while server.counters.requests < in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.005)  # every request read by the server before we pull the plug
        requests_read = server.counters.requests
        started = time.perf_counter()
        shutdown: asyncio.Task[Any]
        if graceful:
            shutdown = asyncio.create_task(server.shutdown_gracefully(timeout=slow_ms / 1000 + 2))
        else:
            shutdown = asyncio.create_task(server.stop())
        await asyncio.sleep(0.02)
        try:
            _, late_writer = await asyncio.open_connection(address.host, address.port, local_addr=(client_host, 0))
            late_writer.close()
            new_connection = "accepted"
        except ConnectionRefusedError:
            new_connection = "refused"
        outcomes = await asyncio.gather(*clients, return_exceptions=True)
        report = await shutdown
        answered = sum(1 for o in outcomes if o is True)
        return {"mode": "shutdownGracefully" if graceful else "hard stop", "in_flight": requests_read,
                "answered": answered, "lost": requests_read - answered,
                "new_connection_during_shutdown": new_connection,
                "shutdown_ms": round((time.perf_counter() - started) * 1000, 1),
                "drained": bool(report and report.get("drained")) if graceful else False}
    finally:
        for writer in writers:
            writer.close()
        await server.stop()
