"""The fixed list of lab actions a lesson step can carry ("try it"), run for real.

Theory of operation
-------------------
Each action is a coroutine ``(lab, spec, correlation_id) -> result dict``. ``spec`` comes from
lesson content (``docs/content-format.md``) and is validated here again: an instructor picks
from a fixed list, never code, and out-of-range numbers are clamped, not trusted.

Actions that change a balancer or break a backend never touch the shared lab that every
learner's walks go through: they build a *private* set of real backends and a real balancer on
the lab's addresses with kernel-chosen ports, drive it, and tear it down. One learner's "stop
backend 2" therefore cannot break another learner's walk, and the measured figures are still
real sockets and real health checks.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import h11

from .action_error import ActionError  # its one home, shared with http_exchange
from .balance.l4 import L4Balancer
from .balance.pool import HealthConfig
from .events import Endpoint
from .http.backend import BackendServer
from .stream import EventStream
from .timeouts import wait_for
from .walker.dns_client import stub_query

ALGORITHMS = ("round_robin", "weighted_round_robin", "least_connections", "source_hash", "peak_ewma")
ALGORITHM_ALIASES = {"source_ip_hash": "source_hash"}
MAX_REQUESTS = 100
#: Weights used when a learner tries weighted round robin: visibly uneven.
DEMO_WEIGHTS = {"backend-1": 4, "backend-2": 2, "backend-3": 1, "backend-4": 1}
#: Source addresses the client spreads over, so source-IP hashing has several clients to hash.
CLIENT_HOSTS = tuple(f"127.0.9.{i}" for i in range(1, 9))


async def run_action(lab: Any, spec: dict[str, Any], correlation_id: str) -> dict[str, Any]:
    kind = spec.get("kind")
    runner = _RUNNERS.get(str(kind))
    if runner is None:
        raise ActionError(f"unknown lab action {kind!r}")
    started = time.perf_counter()
    result = await runner(lab, spec, correlation_id)
    result["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    result["kind"] = kind
    return result


# -- DNS ------------------------------------------------------------------------------------
async def dns_query(lab: Any, spec: dict[str, Any], cid: str) -> dict[str, Any]:
    server = spec.get("server", "resolver")
    if server not in ("resolver", "root", "tld", "authoritative"):
        raise ActionError(f"unknown DNS server {server!r}")
    qtype = str(spec.get("type", "A")).upper()
    if qtype not in ("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA"):
        raise ActionError(f"unsupported record type {qtype!r}")
    name = str(spec.get("name", "shop.netlearn.test")).strip().rstrip(".").lower()
    if not (name == "netlearn.test" or name.endswith(".netlearn.test") or name in ("test", "")):
        raise ActionError("only names in the lab zone can be queried")
    endpoint = getattr(lab.dns, server).address
    answer = await stub_query(stream=lab.stream, resolver=endpoint, client_host=lab.config.client_host, name=name,
                              qtype=qtype, correlation_id=cid, recursion_desired=server == "resolver",
                              server_role=server)
    return {"server": server, "endpoint": [endpoint.host, endpoint.port], "name": name, "type": qtype,
            "rcode": answer.rcode, "addresses": answer.addresses, "cname_chain": answer.cname_chain,
            "ttl": answer.ttl, "dns_ms": round(answer.elapsed_ms, 3), "transport": answer.transport,
            "error": answer.error}


# -- balancing --------------------------------------------------------------------------------
@asynccontextmanager
async def private_pool(lab: Any, cid: str, *, algorithm: str, weights: dict[str, int] | None = None,
                       slow: dict[int, float] | None = None) -> AsyncIterator[tuple[L4Balancer, list[BackendServer]]]:
    """Four real backends and a real L4 balancer that only this action uses.

    The private backends' endpoints are bound to the action's correlation id, so everything
    that touches them — the balancer's health checks included — is gathered with the action.
    """
    stream: EventStream = lab.stream
    config = lab.config
    backends = [BackendServer(Endpoint(b.host, 0), stream, f"backend-{i}", head_timeout=5.0, idle_timeout=10.0)
                for i, b in enumerate(config.backends, start=1)]
    balancer: L4Balancer | None = None
    try:
        for b in backends:
            await b.start()
            stream.correlator.bind(b.address, cid)
        for index, seconds in (slow or {}).items():
            backends[index - 1].set_latency(seconds)
        balancer = L4Balancer(Endpoint(config.l4.host, 0), stream, "l4",
                              backends=[(b.name, b.address) for b in backends],
                              algorithm=algorithm, health=HealthConfig(interval=0.15, threshold=2, timeout=0.4),
                              connect_timeout=1.0, idle_timeout=10.0)
        if weights:
            balancer.set_weights(weights)
        await balancer.start()
        yield balancer, backends
    finally:
        if balancer is not None:
            await balancer.stop()
        for b in backends:
            await b.stop()
            stream.correlator.unbind(b.address)


async def http_get(stream: EventStream, target: Endpoint, cid: str, *, client_host: str, path: str = "/api/hello",
                   timeout: float = 3.0) -> tuple[int | None, str | None, float]:
    """One request on a fresh connection: (status, X-Backend, ms). A failure is (None, reason, ms)."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.bind((client_host, 0))
        local = Endpoint.of(sock.getsockname())
        stream.correlator.bind(local, cid)
        await wait_for(loop.sock_connect(sock, tuple(target)), timeout)
        conn = h11.Connection(h11.CLIENT)
        await loop.sock_sendall(sock, conn.send(h11.Request(method="GET", target=path, headers=[
            ("Host", "shop.netlearn.test"), ("Connection", "close")])) + conn.send(h11.EndOfMessage()))
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await wait_for(loop.sock_recv(sock, 65536), timeout))
                continue
            if isinstance(event, h11.Response):
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
                return event.status_code, headers.get("x-backend"), (time.perf_counter() - started) * 1000
            if isinstance(event, h11.ConnectionClosed):
                return None, "closed", (time.perf_counter() - started) * 1000
    except h11.RemoteProtocolError:
        return None, "closed", (time.perf_counter() - started) * 1000  # the balancer hung up: no backend
    except (TimeoutError, OSError) as exc:
        return None, type(exc).__name__, (time.perf_counter() - started) * 1000
    finally:
        sock.close()


async def lb_distribution(lab: Any, spec: dict[str, Any], cid: str) -> dict[str, Any]:
    algorithm = ALGORITHM_ALIASES.get(str(spec.get("algorithm", "round_robin")), str(spec.get("algorithm")))
    if algorithm not in ALGORITHMS:
        raise ActionError(f"unknown algorithm {algorithm!r}")
    requests = max(1, min(int(spec.get("requests", 40)), MAX_REQUESTS))
    weights = DEMO_WEIGHTS if algorithm == "weighted_round_robin" else None
    slow = {2: 0.05} if algorithm == "peak_ewma" else None  # one backend 50 ms slower: EWMA should notice
    sequence: list[str] = []
    async with private_pool(lab, cid, algorithm=algorithm, weights=weights, slow=slow) as (balancer, _):
        for i in range(requests):
            status, backend, _ms = await http_get(lab.stream, balancer.address, cid,
                                                  client_host=CLIENT_HOSTS[i % len(CLIENT_HOSTS)])
            sequence.append(backend or f"error ({_ms:.0f} ms)")
        explanation = balancer.describe()
    counts = Counter(sequence)
    return {"balancer": spec.get("balancer", "l4"), "algorithm": algorithm, "requests": requests,
            "counts": dict(sorted(counts.items())), "sequence": sequence, "weights": weights,
            "slowed": {"backend-2": 50} if slow else {}, "clients": len(CLIENT_HOSTS), "balancer_state": explanation}


async def backend_fault(lab: Any, spec: dict[str, Any], cid: str) -> dict[str, Any]:
    index = max(1, min(int(spec.get("backend", 1)), 4))
    fault = spec.get("fault", "stop")
    if fault not in ("stop", "slow", "error"):
        raise ActionError(f"unknown fault {fault!r}")
    name = f"backend-{index}"
    timeline: list[dict[str, Any]] = []
    marked_down_ms: float | None = None
    async with private_pool(lab, cid, algorithm="round_robin") as (balancer, backends):
        t0 = time.perf_counter()
        fault_at: float | None = None
        for i in range(40):
            if i == 8:
                fault_at = time.perf_counter()
                if fault == "stop":
                    await backends[index - 1].stop()
                elif fault == "slow":
                    backends[index - 1].set_latency(1.0)
                else:
                    backends[index - 1].set_mode("error")
            status, backend, ms = await http_get(lab.stream, balancer.address, cid, client_host=CLIENT_HOSTS[0],
                                                 timeout=2.0)
            state = balancer.pool.by_name[name]
            if fault_at is not None and marked_down_ms is None and not state.healthy:
                marked_down_ms = round((time.perf_counter() - fault_at) * 1000, 1)
            timeline.append({"t_ms": round((time.perf_counter() - t0) * 1000, 1), "status": status,
                             "backend": backend, "ms": round(ms, 1), "after_fault": fault_at is not None})
            await asyncio.sleep(0.05)
    after = [t for t in timeline if t["after_fault"]]
    failures = [t for t in after if t["status"] is None or (t["status"] or 0) >= 500]
    return {"backend": name, "fault": fault, "timeline": timeline, "marked_down_after_ms": marked_down_ms,
            "failed_requests": len(failures), "requests_after_fault": len(after),
            "health": {"interval_ms": 150, "threshold": 2, "timeout_ms": 400},
            "served_by_faulty_after_down": sum(1 for t in after if t["backend"] == name and t["status"] == 200)}


# -- availability and server handling (netlearn.lab.availability) --------------------------------
async def ha_failover(lab: Any, spec: dict[str, Any], cid: str) -> dict[str, Any]:
    from . import availability
    from .availability_config import AvailabilityConfig

    return await availability.run_ha_failover_demo(lab.stream, AvailabilityConfig.ephemeral(), cid)


#: The io-models try-it's load: idle keep-alive connections that hold every thread of a capped
#: thread-per-connection pool (Tomcat's default maxThreads is 200), plus active slow clients. With
#: no idle connections both models serve the same rate; the lesson text quotes these numbers and
#: tests/lessons/test_generated_examples.py checks that it does.
IO_MODELS_LOAD = {"clients": 50, "idle": 180, "oio_threads": 200}


async def io_models(lab: Any, spec: dict[str, Any], cid: str) -> dict[str, Any]:
    from . import availability
    from .availability_config import AvailabilityConfig

    clients = max(1, min(int(spec.get("clients", IO_MODELS_LOAD["clients"])), 200))
    options = {"idle": IO_MODELS_LOAD["idle"], "oio_threads": IO_MODELS_LOAD["oio_threads"]}
    return await availability.run_io_models_comparison(lab.stream, AvailabilityConfig.ephemeral(), cid, options,
                                                       clients=clients)


async def http_exchange(lab: Any, spec: dict[str, Any], cid: str) -> dict[str, Any]:
    from .http_exchange import http_exchange as run

    return await run(lab, spec, cid)


_RUNNERS = {"dns_query": dns_query, "http_exchange": http_exchange, "lb_distribution": lb_distribution,
            "backend_fault": backend_fault, "ha_failover": ha_failover, "io_models": io_models}
