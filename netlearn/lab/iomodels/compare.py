"""The live comparison: the same slow clients against each io model, measured.

Theory of operation
-------------------
For each model in turn: start its server, open ``idle`` connections that never send a byte (phones
that opened a keep-alive connection and went quiet), then connect ``clients`` active connections
(the time that takes is reported), and every active client loops for ``duration`` seconds: send
``SLOW <service_ms> n`` (a request whose handler waits, like a call to a database), read the reply,
think ``think_ms``, again. Meanwhile a sampler reads the process's RSS and OS thread count every
20 ms. Then the server stops and the next model runs.

Idle connections are the point. Under OIO each one holds a thread parked in ``recv()``; a real
thread-per-connection server caps its pool (``oio_threads``; Tomcat's default ``maxThreads`` is
200), so once idle connections hold every thread, active clients wait in the kernel's accept queue
and are never answered. Under NIO an idle connection is one more registered file descriptor in a
selector, so the active clients are served as if the idle ones were not there. Without idle
connections and with a thread per client, both models serve about the same rate — the load, not
the model, sets the pace — which is why the lesson's try-it uses idle connections.

A request is waited for until one second after the run's end (at most ``timeout``): a client still
unanswered then counts as an error, so a starved model costs seconds, not the full time-out.

The clients are asyncio connections on the caller's loop; the OIO and NIO servers run on their
own threads, so the loop is never blocked by them. The local model runs on the caller's loop (no
threads: that is what it shows). Figures are per model: throughput, latency p50/p95/p99, server
threads, peak extra process threads and RSS — process-wide figures, reported as such.
"""
from __future__ import annotations

import asyncio
import selectors
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..events import Kind
from ..stream import EventStream
from ..timeouts import wait_for
from .common import rss_bytes, thread_count
from .embedded import EmbeddedChannel
from .local import LocalServer
from .nio import NioServer
from .oio import ThreadPerConnectionServer

MODELS = ("oio", "nio", "local", "embedded")
COMPONENT = "iomodels"


class ComparisonRejected(ValueError):
    """Asked for more than the lab allows (clients above the cap, an unknown model)."""


@dataclass(frozen=True)
class ComparisonSpec:
    clients: int = 50
    duration: float = 1.0
    think_ms: int = 20
    service_ms: int = 10
    models: tuple[str, ...] = ("oio", "nio", "local")
    workers: int = 2
    idle: int = 0  # connections opened first that never send: they hold OIO threads, not NIO ones
    oio_threads: int = 0  # the OIO pool's cap; 0 = a thread for every connection (never starved)

    def validate(self, *, max_clients: int) -> None:
        if not 1 <= self.clients <= max_clients:
            raise ComparisonRejected(f"clients must be between 1 and {max_clients} (asked for {self.clients})")
        if not 0 <= self.idle <= max_clients - self.clients:
            raise ComparisonRejected(f"active plus idle connections must be at most {max_clients} "
                                     f"(asked for {self.clients} + {self.idle})")
        if not 0 <= self.oio_threads <= 4096:
            raise ComparisonRejected("oio_threads must be between 0 (one per connection) and 4096")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise ComparisonRejected(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
        if not 0.1 <= self.duration <= 10 or not 0 <= self.think_ms <= 1000 or not 0 <= self.service_ms <= 1000:
            raise ComparisonRejected("duration 0.1–10 s, think_ms and service_ms 0–1000")


@dataclass
class _Run:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    connected: int = 0
    idle_connected: int = 0
    answered: int = 0  # active clients that got at least one reply
    starved: int = 0  # active clients with no reply before the run's end (later or never)


class _Sampler:
    """Peak RSS and OS threads while a model runs (process-wide, so relative to a baseline)."""

    def __init__(self) -> None:
        self.base_rss, self.base_threads = rss_bytes(), thread_count()
        self.peak_rss, self.peak_threads = self.base_rss, self.base_threads
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sample()
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, rss_bytes())
        self.peak_threads = max(self.peak_threads, thread_count())

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.02)


Opener = Callable[[], Awaitable[tuple[Callable[[bytes], Awaitable[None]], Callable[[], Awaitable[bytes]],
                                     Callable[[], Awaitable[None]]]]]


def _tcp_opener(host: str, port: int, local_host: str | None) -> Opener:
    async def open_() -> Any:
        reader, writer = await asyncio.open_connection(host, port, local_addr=(local_host, 0) if local_host else None)

        async def send(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        async def close() -> None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

        return send, reader.readline, close

    return open_


def _local_opener(server: LocalServer) -> Opener:
    async def open_() -> Any:
        channel = await server.connect()
        return channel.write, channel.readline, channel.close

    return open_


async def _drive(opener: Opener, spec: ComparisonSpec, timeout: float) -> tuple[_Run, float, float]:
    """Open the idle connections, connect every client, run the request loop, close everything.

    Returns the run, the active clients' connect seconds and the run seconds.
    """
    run = _Run()

    async def open_all(count: int) -> list[Any]:
        """Open ``count`` connections at once; a failed one is counted as an error."""
        results = await asyncio.gather(*(wait_for(opener(), timeout) for _ in range(count)),
                                       return_exceptions=True)
        opened = [r for r in results if not isinstance(r, BaseException)]
        for failure in (r for r in results if isinstance(r, BaseException)):
            if not isinstance(failure, (OSError, asyncio.TimeoutError)):
                raise failure
            run.errors += 1
        return opened

    # Idle first, all of them, so they are at the head of the accept queue as on a real server.
    idle = await open_all(spec.idle)
    run.idle_connected = len(idle)
    started = time.perf_counter()
    connections = await open_all(spec.clients)
    run.connected = len(connections)
    connect_seconds = time.perf_counter() - started
    request = f"SLOW {spec.service_ms} x\n".encode()
    end = time.perf_counter() + spec.duration

    async def client(send: Any, readline: Any, close: Any) -> None:
        answered = False
        try:
            while time.perf_counter() < end:
                sent = time.perf_counter()
                await send(request)
                wait = min(timeout, max(end - sent, 0.0) + 1.0)
                line = await wait_for(readline(), wait)
                if not line.startswith(b"OK"):
                    run.errors += 1
                    return
                run.latencies.append(time.perf_counter() - sent)
                if not answered:
                    answered = True
                    run.answered += 1
                    if time.perf_counter() > end:
                        run.starved += 1  # its first answer came only after the others hung up
                await asyncio.sleep(spec.think_ms / 1000)
        except (TimeoutError, OSError, ConnectionError):
            run.errors += 1
        finally:
            if not answered:
                run.starved += 1
            await close()

    run_started = time.perf_counter()
    try:
        await asyncio.gather(*(client(*c) for c in connections))
    finally:
        await asyncio.gather(*(close() for _send, _readline, close in idle))
    return run, connect_seconds, time.perf_counter() - run_started


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return round(sorted_values[index] * 1000, 3)


def _figures(model: str, run: _Run, connect_s: float, run_s: float, sampler: _Sampler,
             server_threads: int) -> dict[str, Any]:
    latencies = sorted(run.latencies)
    return {
        "model": model, "requests": len(latencies), "errors": run.errors, "connected": run.connected,
        "idle_connected": run.idle_connected, "answered_clients": run.answered, "starved_clients": run.starved,
        "connect_ms": round(connect_s * 1000, 1),
        "throughput_rps": round(len(latencies) / run_s, 1) if run_s > 0 else 0.0,
        "p50_ms": _percentile(latencies, 0.50), "p95_ms": _percentile(latencies, 0.95),
        "p99_ms": _percentile(latencies, 0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3) if latencies else None,
        "server_threads": server_threads,
        "extra_threads_peak": sampler.peak_threads - sampler.base_threads,
        "rss_peak_mb": round(sampler.peak_rss / 2**20, 1),
        "rss_delta_mb": round((sampler.peak_rss - sampler.base_rss) / 2**20, 1),
    }


async def _embedded(spec: ComparisonSpec) -> dict[str, Any]:
    """No transport: the handlers alone, time advanced by hand — the ceiling the others pay from."""
    channel = EmbeddedChannel()
    latencies: list[float] = []
    request = f"SLOW {spec.service_ms} x\n".encode()
    count = spec.clients * 200
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        channel.write_inbound(request)
        channel.advance_time(spec.service_ms / 1000)
        channel.read_outbound()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0)
    sampler = _Sampler()
    figures = _figures("embedded", _Run(latencies, answered=spec.clients), 0.0, elapsed, sampler, 0)
    figures["note"] = "handlers only, virtual clock: no network, no waiting"
    return figures


async def compare_models(spec: ComparisonSpec, *, stream: EventStream, hosts: dict[str, Any], client_host: str,
                         correlation_id: str | None = None, timeout: float = 5.0,
                         on_progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Run ``spec`` against each model in turn. ``hosts`` maps ``oio``/``nio`` to listen endpoints."""
    results = []
    total = len(spec.models)
    connections = spec.clients + spec.idle
    backlog = max(128, connections * 2)  # a burst of connects must not overflow the accept queue
    oio_threads = spec.oio_threads or connections + 8
    for index, model in enumerate(spec.models):
        if on_progress:
            on_progress(index / total, model)
        stream.emit(component=COMPONENT, layer=7, kind=Kind.STEP, correlation_id=correlation_id,
                    summary=f"{model}: {spec.clients} slow clients and {spec.idle} idle connections "
                            f"for {spec.duration:g} s",
                    detail={"progress": round(index / total, 3), "model": model, "clients": spec.clients,
                            "idle": spec.idle, "duration_s": spec.duration})
        if model == "embedded":
            results.append(await _embedded(spec))
            continue
        server: Any
        if model == "oio":
            server = ThreadPerConnectionServer(stream=stream, host=hosts["oio"].host, port=hosts["oio"].port,
                                               max_threads=oio_threads, backlog=backlog,
                                               correlation_id=correlation_id, trace_budget=5)
        elif model == "nio":
            server = NioServer(stream=stream, host=hosts["nio"].host, port=hosts["nio"].port, workers=spec.workers,
                               backlog=backlog, correlation_id=correlation_id, trace_budget=5)
        else:
            server = LocalServer(stream=stream, name="compare", correlation_id=correlation_id)
        async with _Sampler() as sampler:
            await server.start()
            try:
                opener = (_local_opener(server) if model == "local"
                          else _tcp_opener(server.address.host, server.address.port, client_host))
                run, connect_s, run_s = await _drive(opener, spec, timeout)
                server_threads = getattr(server, "peak_threads", server.threads)
            finally:
                await server.stop()
        figures = _figures(model, run, connect_s, run_s, sampler, server_threads)
        results.append(figures)
        stream.emit(component=COMPONENT, layer=7, kind=Kind.STEP, correlation_id=correlation_id,
                    summary=f"{model}: {figures['throughput_rps']} req/s, p99 {figures['p99_ms']} ms, "
                            f"{server_threads} server thread(s)",
                    detail={"progress": round((index + 1) / total, 3), **figures})
    if on_progress:
        on_progress(1.0, "done")
    return {"clients": spec.clients, "idle": spec.idle, "oio_threads": oio_threads,
            "oio_free_threads": max(oio_threads - spec.idle, 0),
            "duration_s": spec.duration, "think_ms": spec.think_ms,
            "service_ms": spec.service_ms, "selector": selectors.DefaultSelector.__name__,
            "models": results}
