"""Client-side balancing rules (Ribbon's), as pure functions of the cached instances and stats.

* round robin — the next one in turn;
* weighted response time — Ribbon's rule: an instance's weight is the sum of all average
  response times minus its own, so faster instances are picked more often, never exclusively;
* zone preference — stay in the client's zone while it has any candidate (cross-zone hops cost
  latency and money), fall back to every zone when it has none; round robin inside.

``exclude`` holds instances already tried for this call, which is how retry picks *another* one.
The random source is injected so tests are deterministic.
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    instance_id: str
    host: str
    port: int
    zone: str


@dataclass
class InstanceStats:
    requests: int = 0
    failures: int = 0
    avg_ms: float | None = None

    def record(self, elapsed_ms: float | None) -> None:
        """A response time (EWMA, α = 0.3) or a failure (``None``)."""
        self.requests += 1
        if elapsed_ms is None:
            self.failures += 1
            return
        self.avg_ms = elapsed_ms if self.avg_ms is None else 0.7 * self.avg_ms + 0.3 * elapsed_ms


STRATEGIES = ("round_robin", "weighted_response_time", "zone_preference")


class Chooser:
    def __init__(self, strategy: str = "round_robin", *, zone: str | None = None,
                 rng: random.Random | None = None) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}")
        self.strategy = strategy
        self.zone = zone
        self.rng = rng or random.Random()
        self._turn = 0

    def choose(self, candidates: Sequence[Candidate], stats: Mapping[str, InstanceStats],
               exclude: frozenset[str] = frozenset()) -> Candidate | None:
        pool = [c for c in candidates if c.instance_id not in exclude]
        if not pool:
            return None
        if self.strategy == "weighted_response_time":
            return self._weighted(pool, stats)
        if self.strategy == "zone_preference" and self.zone is not None:
            local = [c for c in pool if c.zone == self.zone]
            pool = local or pool
        return self._round_robin(pool)

    def _round_robin(self, pool: Sequence[Candidate]) -> Candidate:
        choice = pool[self._turn % len(pool)]
        self._turn += 1
        return choice

    def _weighted(self, pool: Sequence[Candidate], stats: Mapping[str, InstanceStats]) -> Candidate:
        known = [stats[c.instance_id].avg_ms for c in pool
                 if c.instance_id in stats and stats[c.instance_id].avg_ms is not None]
        if len(known) < len(pool):  # Ribbon too: round robin until every server has a figure
            return self._round_robin(pool)
        averages = [stats[c.instance_id].avg_ms or 0.0 for c in pool]
        total = sum(averages)
        weights = [max(total - avg, 1e-6) for avg in averages]
        return self.rng.choices(list(pool), weights=weights)[0]
