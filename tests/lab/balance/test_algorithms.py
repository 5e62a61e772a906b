"""The balancing algorithms as pure objects: exact distributions and honest explanations."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from netlearn.lab.balance.algorithms import (
    ALGORITHMS,
    BackendState,
    LeastConnections,
    PeakEwma,
    RoundRobin,
    SmoothWeightedRoundRobin,
    SourceHash,
    make_algorithm,
)
from netlearn.lab.events import Endpoint


def pool(n: int = 4) -> list[BackendState]:
    return [BackendState(f"backend-{i}", Endpoint(f"127.0.3.{i}", 18000 + i)) for i in range(1, n + 1)]


def test_round_robin_is_exactly_even_and_skips_the_unhealthy() -> None:
    backends, rr = pool(), RoundRobin()
    assert Counter(rr.choose(backends, client="c", now=0).backend.name for _ in range(400)) == {  # type: ignore[union-attr]
        f"backend-{i}": 100 for i in range(1, 5)}
    backends[1].healthy = False
    names = {rr.choose(backends, client="c", now=0).backend.name for _ in range(30)}  # type: ignore[union-attr]
    assert names == {"backend-1", "backend-3", "backend-4"}


def test_smooth_wrr_is_proportional_and_interleaved_like_nginx() -> None:
    backends = pool(3)
    for b, w in zip(backends, (5, 1, 1)):
        b.weight = w
    wrr = SmoothWeightedRoundRobin()
    seq = [wrr.choose(backends, client="c", now=0).backend.name[-1] for _ in range(7)]  # type: ignore[union-attr]
    assert "".join(seq) == "1121311"  # nginx's documented a a b a c a a
    counts = Counter(wrr.choose(backends, client="c", now=0).backend.name for _ in range(700))  # type: ignore[union-attr]
    assert counts == {"backend-1": 500, "backend-2": 100, "backend-3": 100}


def test_weight_zero_takes_no_traffic() -> None:
    backends = pool()
    backends[0].weight = 0
    wrr = SmoothWeightedRoundRobin()
    assert "backend-1" not in {wrr.choose(backends, client="c", now=0).backend.name for _ in range(20)}  # type: ignore[union-attr]


def test_least_connections_picks_the_least_loaded_and_rotates_ties() -> None:
    backends = pool()
    for b, active in zip(backends, (3, 1, 2, 1)):
        b.active = active
    lc = LeastConnections()
    first = lc.choose(backends, client="c", now=0)
    second = lc.choose(backends, client="c", now=0)
    assert {first.backend.name, second.backend.name} == {"backend-2", "backend-4"}  # type: ignore[union-attr]
    assert "fewest open connections" in first.reason
    assert [c["active"] for c in first.explanation()["candidates"]] == [3, 1, 2, 1]


def test_source_hash_is_stable_and_moves_only_the_clients_of_a_failed_backend() -> None:
    backends, sh = pool(), SourceHash()
    clients = [f"127.0.9.{i}" for i in range(1, 201)]
    before = {c: sh.choose(backends, client=c, now=0).backend.name for c in clients}  # type: ignore[union-attr]
    assert before == {c: sh.choose(backends, client=c, now=0).backend.name for c in clients}  # type: ignore[union-attr]
    assert len(set(before.values())) == 4
    backends[2].healthy = False
    after = {c: sh.choose(backends, client=c, now=0).backend.name for c in clients}  # type: ignore[union-attr]
    moved = {c for c in clients if before[c] != after[c]}
    assert moved == {c for c in clients if before[c] == "backend-3"}


def test_peak_ewma_avoids_a_slow_backend_and_explains_the_costs() -> None:
    backends = pool()
    for b in backends:
        b.observe_rtt(0.002, now=0.0)
    backends[2].observe_rtt(0.200, now=0.0)  # the peak wins at once
    assert backends[2].ewma == pytest.approx(0.2)
    pe = PeakEwma(random.Random(7))
    choices = [pe.choose(backends, client="c", now=0.1) for _ in range(300)]
    assert "backend-3" not in {c.backend.name for c in choices}  # type: ignore[union-attr]
    explanation = choices[0].explanation()
    assert explanation["algorithm"] == "peak_ewma" and sum(c["sampled"] for c in explanation["candidates"]) == 2
    assert "RTT ms × (active+1)" in explanation["reason"]


def test_peak_ewma_weighs_open_connections_too() -> None:
    backends = pool(2)
    for b in backends:
        b.observe_rtt(0.010, now=0.0)
    backends[0].active = 5
    assert PeakEwma(random.Random(1)).choose(backends, client="c", now=0.0).backend.name == "backend-2"  # type: ignore[union-attr]


def test_ewma_decays_so_a_recovered_backend_is_tried_again() -> None:
    b = pool(1)[0]
    b.observe_rtt(0.5, now=0.0)
    assert b.decayed_ewma(20.0) < 0.5 * 0.05
    b.observe_rtt(0.001, now=20.0)
    assert b.ewma < 0.02


@pytest.mark.parametrize("name", ALGORITHMS)
def test_no_healthy_backend_gives_none_with_a_reason(name: str) -> None:
    backends = pool()
    for b in backends:
        b.healthy = False
    choice = make_algorithm(name).choose(backends, client="c", now=0)
    assert choice.backend is None and "No healthy backend" in choice.reason
    assert len(choice.explanation()["candidates"]) == 4


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown algorithm"):
        make_algorithm("random_guess")
