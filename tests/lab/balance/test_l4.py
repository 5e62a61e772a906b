"""The L4 balancer on real sockets: distribution, health checks, draining, early bytes, events."""
from __future__ import annotations

import asyncio
import random
import socket
import typing
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from netlearn.lab.balance import HealthConfig, L4Balancer
from netlearn.lab.events import Endpoint, Kind
from netlearn.lab.http import BackendServer
from netlearn.lab.stream import EventStream, Recorder
from tests.waiting import eventually

from ..http.client import fetch, raw_exchange

HEALTH = HealthConfig(interval=0.1, threshold=2, timeout=0.3)


@pytest.fixture
async def l4(stream: EventStream, backends: list[BackendServer]) -> AsyncIterator[L4Balancer]:
    lb = L4Balancer(Endpoint("127.0.2.1", 0), stream, backends=[(b.name, b.address) for b in backends],
                    health=HEALTH, rng=random.Random(3))
    await lb.start()
    assert await lb.pool.wait_round(lambda p: all(s.healthy for s in p.states), 20)
    yield lb
    await lb.stop()


async def spread(lb: L4Balancer, n: int, path: str = "/api/hello") -> Counter[str]:
    counts: Counter[str] = Counter()
    for _ in range(n):
        counts[(await fetch(lb.address, path)).backend or "?"] += 1
    return counts


async def test_round_robin_is_exactly_even(l4: L4Balancer) -> None:
    assert await spread(l4, 40) == {f"backend-{i}": 10 for i in range(1, 5)}


async def test_weighted_round_robin_follows_the_weights(l4: L4Balancer, stream: EventStream) -> None:
    with Recorder(stream) as rec:
        l4.set_algorithm("weighted_round_robin")
        l4.set_weights({"backend-1": 3, "backend-2": 1, "backend-3": 1, "backend-4": 0})
    assert [e.detail["action"] for e in rec.of_kind(Kind.CONTROL)] == ["set_algorithm", "set_weights"]
    assert await spread(l4, 50) == {"backend-1": 30, "backend-2": 10, "backend-3": 10}


async def test_least_connections_avoids_backends_holding_connections(l4: L4Balancer) -> None:
    l4.set_algorithm("least_connections")
    held = []
    for _ in range(3):  # round robin among the tied: these land on backend-1, -2, -3
        held.append(await asyncio.open_connection(*l4.address))
    await eventually(lambda: sorted(s.active for s in l4.pool.states) == [0, 1, 1, 1],
                     "three held connections counted on three backends")
    idle = next(s.name for s in l4.pool.states if s.active == 0)
    assert await spread(l4, 5) == {idle: 5}  # each finishes before the next: the idle one stays least loaded
    for _, w in held:
        w.close()


async def test_source_hash_keeps_each_client_on_one_backend(l4: L4Balancer) -> None:
    l4.set_algorithm("source_hash")
    seen: dict[str, set[str]] = {}
    for host in ("127.0.9.1", "127.0.9.2", "127.0.9.3", "127.0.9.4", "127.0.9.5"):
        for _ in range(4):
            seen.setdefault(host, set()).add((await fetch(l4.address, "/health", local_host=host)).backend or "?")
    assert all(len(backends) == 1 for backends in seen.values()), seen
    chosen = set().union(*seen.values())
    assert "?" not in chosen and len(chosen) > 1, seen  # real backends answered, and not one for all


async def test_peak_ewma_steers_away_from_a_slowed_backend(l4: L4Balancer, backends: list[BackendServer]) -> None:
    l4.set_algorithm("peak_ewma")
    backends[1].set_latency(0.1)
    await spread(l4, 8, "/health")  # let the slow answers (and health checks) teach the estimate
    counts = await spread(l4, 40, "/health")
    # What each backend's estimate was at the end, in the failure message: this test failed twice
    # in a row once (2026-12-04, right after a CI run, in `tests/lab` only) and not in the next 20
    # runs, loaded or not; the next failure should say which estimate misled the choice.
    learned = {s.name: (round(s.ewma * 1000, 2), s.chosen, s.active) for s in l4.pool.states}
    # Blind to latency, backend-2 would get ~10 of 40. Not "at most 2": on a loaded machine the fast
    # backends' own answers spike now and then and a draw may still favour the slow one once or twice more.
    assert counts["backend-2"] <= 4, (counts, learned)
    assert sum(counts.values()) == 40, (counts, learned)
    # What it learned: the estimate as last sampled. The shown figure (``describe``) decays with the
    # seconds since, so on a loaded machine it fell to 3 ms while the 40 requests ran elsewhere.
    assert l4.pool.by_name["backend-2"].ewma > 0.05, learned


async def test_health_check_removes_a_stopped_backend_in_time_and_restores_it(
        l4: L4Balancer, backends: list[BackendServer], stream: EventStream) -> None:
    with Recorder(stream) as rec:
        await backends[0].stop()
        assert await l4.pool.wait_round(lambda p: not p.by_name["backend-1"].healthy, 20)
        assert "backend-1" not in await spread(l4, 12)
        await backends[0].start()
        assert await l4.pool.wait_round(lambda p: p.by_name["backend-1"].healthy, 20)
        assert "backend-1" in await spread(l4, 8)
    checks = [e.detail for e in rec.of_kind(Kind.HEALTH_CHECK) if e.detail["backend"] == "backend-1"]
    changes = [(c["healthy"], i) for i, c in enumerate(checks) if c["changed"]]
    assert [healthy for healthy, _ in changes] == [False, True]
    # Taken out after exactly `threshold` failed checks in a row (in time: counted in checks, not seconds).
    down_at = changes[0][1]
    assert [c["ok"] for c in checks[down_at - HEALTH.threshold + 1:down_at + 1]] == [False] * HEALTH.threshold
    assert checks[down_at]["streak"] == -HEALTH.threshold  # failures count down


async def test_a_backend_marked_down_is_drained_not_cut(l4: L4Balancer, backends: list[BackendServer]) -> None:
    reader, writer = await asyncio.open_connection(*l4.address)  # round robin: backend-1
    writer.write(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
    assert b"X-Backend: backend-1" in await reader.readuntil(b"ok\n")
    await backends[0].stop(drain=True)  # stops listening; open connections may finish
    assert await l4.pool.wait_round(lambda p: not p.by_name["backend-1"].healthy, 20)
    assert l4.describe()["backends"][0]["state"] == "draining"
    assert "backend-1" not in await spread(l4, 6)
    writer.write(b"GET /api/hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert b"backend-1" in await asyncio.wait_for(reader.read(), 3)  # the old connection still works
    writer.close()


async def test_bytes_sent_before_the_backend_connection_opens_are_forwarded(l4: L4Balancer,
                                                                            stream: EventStream) -> None:
    request = b"GET /api/hello HTTP/1.1\r\nHost: shop.netlearn.test\r\nConnection: close\r\n\r\n"
    with Recorder(stream) as rec:
        sock = socket.create_connection(tuple(l4.address))  # blocking: done before the loop runs again
        sock.sendall(request)  # so these bytes reach the balancer before it could dial a backend
        sock.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=sock)
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200") and b"Hello from" in answer
    [connect] = rec.of_kind(Kind.CONNECT, "l4")
    assert connect.detail["early_bytes"] == len(request)


async def test_events_tell_the_story_and_carry_the_walks_id(l4: L4Balancer, stream: EventStream) -> None:
    sock = socket.socket()
    sock.bind(("127.0.9.1", 0))
    stream.correlator.bind(Endpoint.of(sock.getsockname()), "walk-7")
    sock.setblocking(False)
    with Recorder(stream, correlation_id="walk-7") as rec:
        await asyncio.get_running_loop().sock_connect(sock, tuple(l4.address))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(b"GET / HTTP/1.1\r\nHost: shop.netlearn.test\r\nConnection: close\r\n\r\n")
        body = await reader.read()
        writer.close()
        await eventually(lambda: rec.of_kind(Kind.CLOSE, "l4"), "the balancer's CLOSE event")
    l4_kinds = [e.kind for e in rec.events if e.component == "l4"]
    assert l4_kinds == [Kind.ACCEPT, Kind.CHOOSE, Kind.CONNECT, Kind.CLOSE]
    choose = rec.of_kind(Kind.CHOOSE)[0]
    assert choose.detail["algorithm"] == "round_robin" and len(choose.detail["candidates"]) == 4
    close = rec.of_kind(Kind.CLOSE, "l4")[0]
    assert close.detail["bytes_out"] == len(body) and close.detail["bytes_in"] > 0
    backend_kinds = {e.kind for e in rec.events if e.component.startswith("backend-")}
    assert {Kind.ACCEPT, Kind.REQUEST, Kind.HANDLER, Kind.RESPONSE} <= backend_kinds  # correlated through the LB


async def test_a_backend_bound_to_a_demo_correlates_only_the_connect_to_it(
        l4: L4Balancer, backends: list[BackendServer], stream: EventStream) -> None:
    """The relay looks a connection's correlation up once, at accept, and delivers its events
    without looking again; the CONNECT goes to a backend, which a demo may have bound (its private
    backends are), so that one event is still correlated by its destination, as publish would."""
    for b in backends:
        stream.correlator.bind(b.address, "demo-3")
    with Recorder(stream) as rec:
        reader, writer = await asyncio.open_connection(*l4.address)  # a client nobody bound
        writer.write(b"GET / HTTP/1.1\r\nHost: shop.netlearn.test\r\nConnection: close\r\n\r\n")
        await reader.read()
        writer.close()
        await eventually(lambda: rec.of_kind(Kind.CLOSE, "l4"), "the balancer's CLOSE event")
    ids = {e.kind: e.correlation_id for e in rec.events if e.component == "l4"}
    assert ids == {Kind.ACCEPT: None, Kind.CHOOSE: None, Kind.CONNECT: "demo-3", Kind.CLOSE: None}


async def test_dead_backend_before_the_check_notices_is_an_error_event(
        l4: L4Balancer, backends: list[BackendServer], stream: EventStream) -> None:
    await l4.pool.stop()  # freeze the view: the balancer still believes backend-1 is up
    await backends[0].stop()
    with Recorder(stream) as rec:
        answer = await raw_exchange(l4.address, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
    assert answer == b""  # at L4 there is no status code to send: the client sees the connection close
    assert any(e.kind == Kind.ERROR and e.detail.get("backend") == "backend-1" for e in rec.events)
    assert l4.counters["connect_errors"] == 1


async def test_connection_cap_refuses_extra_clients(stream: EventStream, backends: list[BackendServer]) -> None:
    lb = L4Balancer(Endpoint("127.0.2.1", 0), stream, backends=[(b.name, b.address) for b in backends],
                    health=HEALTH, max_connections=2)
    await lb.start()
    held = [await asyncio.open_connection(*lb.address) for _ in range(2)]
    await eventually(lambda: lb.describe()["active_connections"] == 2, "both held connections accepted")
    reader, writer = await asyncio.open_connection(*lb.address)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    assert lb.counters["refused"] == 1
    for _, w in [*held, (reader, writer)]:
        w.close()
    await lb.stop()


async def test_stop_closes_everything_and_leaks_no_tasks(stream: EventStream, backends: list[BackendServer]) -> None:
    before = asyncio.all_tasks()
    lb = L4Balancer(Endpoint("127.0.2.1", 0), stream, backends=[(b.name, b.address) for b in backends], health=HEALTH)
    await lb.start()
    reader, writer = await asyncio.open_connection(*lb.address)
    writer.write(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
    await eventually(lambda: lb.describe()["active_connections"] == 1, "the slow request's connection proxied")
    await lb.stop()
    try:
        assert await asyncio.wait_for(reader.read(), 2) == b""  # closed by the stop
    except ConnectionResetError:
        pass  # aborted: equally closed
    writer.close()
    assert lb.describe()["active_connections"] == 0 and lb.describe()["state"] == "stopped"
    assert asyncio.all_tasks() <= before


class _HalfCloser(asyncio.Protocol):
    """Test peer for half-close: greets, answers ``echo:`` + everything the client sent once the
    client's FIN arrives, and records it all (it is not one of our servers: the L4 is tested)."""

    def __init__(self, seen: list[bytes]) -> None:
        self.seen = seen
        self.got = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.got += data

    def eof_received(self) -> bool:
        self.seen.append(self.got)
        self.transport.write(b"echo:" + self.got)
        self.transport.close()
        return True


async def test_a_half_close_is_relayed_both_ways(stream: EventStream) -> None:
    """The client's FIN reaches the backend after its bytes, the backend still answers on the
    half-open connection, and its own FIN reaches the client: ``shutdown(SHUT_WR)`` is relayed."""
    seen: list[bytes] = []
    server = await asyncio.get_running_loop().create_server(lambda: _HalfCloser(seen), "127.0.3.2", 0)
    backend = Endpoint.of(server.sockets[0].getsockname())
    lb = L4Balancer(Endpoint("127.0.2.1", 0), stream, backends=[("half", backend)],
                    health=HealthConfig(interval=60, threshold=1, timeout=1.0))
    await lb.start()
    try:
        with Recorder(stream) as rec:
            reader, writer = await asyncio.open_connection(*lb.address)
            payload = bytes(range(256)) * 400  # 100 KiB: more than one read
            writer.write(payload)
            writer.write_eof()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            await eventually(lambda: rec.of_kind(Kind.CLOSE, "l4"), "the balancer's CLOSE event")
        assert seen == [payload]  # every byte, then the FIN: the backend answered only after it
        assert answer == b"echo:" + payload
        [close] = rec.of_kind(Kind.CLOSE, "l4")
        assert close.detail["reason"] == "both sides finished"
        assert close.detail["bytes_in"] == len(payload) and close.detail["bytes_out"] == len(answer)
    finally:
        await lb.stop()
        server.close()
        await server.wait_closed()
