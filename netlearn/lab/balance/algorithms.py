"""Load-balancing algorithms: pure objects over backend state, each choice explained.

No I/O and no clock of their own: a balancer passes the backends' state, the client's address
and the time, and gets back the chosen backend *and* an explanation (every candidate's state and
a sentence saying why), which is what the learner sees in the CHOOSE event. Randomness (Peak
EWMA's power of two choices) comes from an injected ``random.Random`` so tests are exact.
"""
from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from ..events import Endpoint, ms3

#: Peak EWMA forgets a latency spike with this time constant (Finagle and Linkerd use 10 s; a
#: lesson needs to see recovery sooner).
DEFAULT_DECAY = 5.0
_exp = math.exp


@dataclass
class BackendState:
    """What a balancer knows about one backend. Mutated by the balancer, read by algorithms."""

    name: str
    endpoint: Endpoint
    weight: int = 1
    healthy: bool = True
    active: int = 0
    ewma: float = 0.0  # seconds, Peak EWMA's round-trip estimate
    ewma_stamp: float = 0.0
    current_weight: int = 0  # smooth WRR's running credit
    chosen: int = 0

    def observe_rtt(self, rtt: float, now: float, *, decay: float = DEFAULT_DECAY) -> None:
        """Fold one round-trip sample in: a slower sample wins at once (the *peak*), a faster
        one is averaged in with a weight that grows with the time since the last sample."""
        current = self.decayed_ewma(now, decay=decay)
        if rtt > current:
            self.ewma = rtt
        else:
            w = math.exp(-max(now - self.ewma_stamp, 0.0) / decay)
            self.ewma = current * w + rtt * (1 - w)
        self.ewma_stamp = now

    def decayed_ewma(self, now: float, *, decay: float = DEFAULT_DECAY) -> float:
        """The estimate drifts toward zero while no samples arrive, so an avoided backend gets
        probed again once its bad reputation has aged (as in tower's PeakEwma)."""
        return self.ewma * math.exp(-max(now - self.ewma_stamp, 0.0) / decay)

    def snapshot(self, now: float) -> dict[str, Any]:
        """What a CHOOSE event shows of this backend. Taken for every backend at every choice
        (an L4 balancer chooses per connection), so the decay is inlined: same value as
        :meth:`decayed_ewma`, one call fewer."""
        ewma, age = self.ewma, now - self.ewma_stamp
        ewma_ms = ms3(ewma * _exp(-age / DEFAULT_DECAY) if age > 0.0 else ewma) if ewma else 0.0
        return {"name": self.name, "healthy": self.healthy, "active": self.active, "weight": self.weight,
                "ewma_ms": ewma_ms}


class Choice(NamedTuple):
    """A backend (or None) and why. A named tuple: made at every choice, per connection at L4."""

    backend: BackendState | None
    algorithm: str
    reason: str
    candidates: tuple[dict[str, Any], ...] = ()

    def explanation(self) -> dict[str, Any]:
        """The CHOOSE event's detail. The candidates' dicts are handed over, not copied: each
        choice builds its own, and nothing changes them afterwards."""
        return {"algorithm": self.algorithm, "chosen": self.backend.name if self.backend else None,
                "reason": self.reason, "candidates": list(self.candidates)}


class Algorithm(Protocol):
    name: str

    def choose(self, backends: Sequence[BackendState], *, client: str, now: float) -> Choice: ...


def _eligible(backends: Sequence[BackendState]) -> list[BackendState]:
    return [b for b in backends if b.healthy and b.weight > 0]


def _none(name: str, backends: Sequence[BackendState], now: float) -> Choice:
    return Choice(None, name, "No healthy backend is left in this pool, so there is nobody to send the request to.",
                  tuple(b.snapshot(now) for b in backends))


class RoundRobin:
    """Each healthy backend in turn: exactly even over any multiple of the pool size."""

    name = "round_robin"

    def __init__(self) -> None:
        self._next = 0

    def choose(self, backends: Sequence[BackendState], *, client: str, now: float) -> Choice:
        ready = _eligible(backends)
        if not ready:
            return _none(self.name, backends, now)
        chosen = ready[self._next % len(ready)]
        self._next += 1
        return Choice(chosen, self.name,
                      f"Round robin takes the healthy backends in turn; it was {chosen.name}'s turn.",
                      tuple([b.snapshot(now) for b in backends]))


class SmoothWeightedRoundRobin:
    """nginx's smooth weighted round robin: proportional to weights *and* interleaved (5,1,1
    gives a a b a c a a, not a a a a a b c)."""

    name = "weighted_round_robin"

    def choose(self, backends: Sequence[BackendState], *, client: str, now: float) -> Choice:
        ready = _eligible(backends)
        if not ready:
            return _none(self.name, backends, now)
        total = 0
        for b in ready:
            b.current_weight += b.weight
            total += b.weight
        credits = {b.name: b.current_weight for b in ready}
        chosen = max(ready, key=lambda b: b.current_weight)
        chosen.current_weight -= total
        cands = tuple({**b.snapshot(now), "credit": credits.get(b.name)} for b in backends)
        return Choice(chosen, self.name,
                      f"Every healthy backend earned its weight in credit; {chosen.name} had the most "
                      f"({credits[chosen.name]}) and pays back the total weight ({total}).", cands)


class LeastConnections:
    """The backend with the fewest open connections per unit of weight; ties in turn."""

    name = "least_connections"

    def __init__(self) -> None:
        self._turn = 0

    def choose(self, backends: Sequence[BackendState], *, client: str, now: float) -> Choice:
        ready = _eligible(backends)
        if not ready:
            return _none(self.name, backends, now)
        load = {b.name: b.active / b.weight for b in ready}
        best = min(load.values())
        tied = [b for b in ready if load[b.name] == best]
        chosen = tied[self._turn % len(tied)]
        self._turn += 1
        tie = f" ({len(tied)} were tied, taken in turn)" if len(tied) > 1 else ""
        return Choice(chosen, self.name,
                      f"{chosen.name} had the fewest open connections ({chosen.active}){tie}.",
                      tuple({**b.snapshot(now), "load": load.get(b.name)} for b in backends))


class SourceHash:
    """Rendezvous (highest random weight) hashing of the client's IP address.

    The same client always lands on the same backend while it is healthy, and when a backend
    goes down only *its* clients move: the others keep their backend (a modulo hash would
    reshuffle nearly everyone). The hash is BLAKE2, not ``hash()``, so it is the same in every
    process and every run.
    """

    name = "source_hash"

    @staticmethod
    def score(client: str, backend: str) -> int:
        digest = hashlib.blake2b(f"{client}|{backend}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def choose(self, backends: Sequence[BackendState], *, client: str, now: float) -> Choice:
        ready = _eligible(backends)
        if not ready:
            return _none(self.name, backends, now)
        scores = {b.name: self.score(client, b.name) for b in backends}
        chosen = max(ready, key=lambda b: scores[b.name])
        return Choice(chosen, self.name,
                      f"hash({client}, backend) was highest for {chosen.name}, so this client always lands there "
                      f"while it is healthy.",
                      tuple({**b.snapshot(now), "score": scores[b.name] % 10_000} for b in backends))


class PeakEwma:
    """Latency-aware, as Finagle and Linkerd: cost = decayed peak RTT × (active + 1), compared
    between two backends picked at random (power of two choices, which avoids the herd that
    always picking the global minimum causes)."""

    name = "peak_ewma"

    def __init__(self, rng: random.Random | None = None, *, decay: float = DEFAULT_DECAY) -> None:
        self.rng = rng or random.Random()
        self.decay = decay

    def cost(self, b: BackendState, now: float) -> float:
        return b.decayed_ewma(now, decay=self.decay) * (b.active + 1)

    def choose(self, backends: Sequence[BackendState], *, client: str, now: float) -> Choice:
        ready = _eligible(backends)
        if not ready:
            return _none(self.name, backends, now)
        costs = {b.name: self.cost(b, now) for b in ready}
        pair = self.rng.sample(ready, 2) if len(ready) >= 2 else [ready[0]]
        chosen = min(pair, key=lambda b: costs[b.name])
        if len(pair) == 2:
            other = pair[1] if chosen is pair[0] else pair[0]
            reason = (f"Picked {pair[0].name} and {pair[1].name} at random; {chosen.name} costs "
                      f"{costs[chosen.name] * 1000:.2f} (RTT ms × (active+1)) against {other.name}'s "
                      f"{costs[other.name] * 1000:.2f}.")
        else:
            reason = f"{chosen.name} is the only healthy backend."
        cands = tuple({**b.snapshot(now), "cost": round(costs[b.name] * 1000, 3) if b.name in costs else None,
                       "sampled": b in pair} for b in backends)
        return Choice(chosen, self.name, reason, cands)


ALGORITHMS = ("round_robin", "weighted_round_robin", "least_connections", "source_hash", "peak_ewma")


def make_algorithm(name: str, *, rng: random.Random | None = None) -> Algorithm:
    if name == "round_robin":
        return RoundRobin()
    if name == "weighted_round_robin":
        return SmoothWeightedRoundRobin()
    if name == "least_connections":
        return LeastConnections()
    if name == "source_hash":
        return SourceHash()
    if name == "peak_ewma":
        return PeakEwma(rng)
    raise ValueError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}")
