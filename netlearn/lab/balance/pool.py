"""A balancer's pool: backend state, the current algorithm, and active health checks.

Health checks are real HTTP requests (``GET /health``) on real connections, as HAProxy's
``option httpchk``: a backend is marked down after ``threshold`` consecutive failures (refused,
timed out, or not 2xx/3xx) and up again after ``threshold`` consecutive successes, so a single
lost check does not flap it. Marking down only affects *new* choices: connections already open
to the backend are left to finish (draining). Every check's round-trip time also feeds Peak
EWMA, so the latency-aware algorithm knows a backend is slow before any learner suffers it.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..timeouts import wait_for
from .algorithms import Algorithm, BackendState, Choice, make_algorithm


@dataclass(frozen=True)
class HealthConfig:
    interval: float = 1.0
    threshold: int = 2
    timeout: float = 0.5
    path: str = "/health"


class BackendPool:
    def __init__(self, *, component: str, pool: str, members: Sequence[tuple[str, Endpoint]], stream: EventStream,
                 algorithm: str = "round_robin", health: HealthConfig | None = None, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.component = component
        self.pool = pool
        self.stream = stream
        self.health = health or HealthConfig()
        self.rng = rng or random.Random()
        self.clock = clock
        self.states = [BackendState(name, Endpoint(*endpoint)) for name, endpoint in members]
        self.by_name = {s.name: s for s in self.states}
        self.algorithm: Algorithm = make_algorithm(algorithm, rng=self.rng)
        self._streaks: dict[str, int] = {s.name: 0 for s in self.states}  # +n successes / -n failures
        self._task: asyncio.Task[None] | None = None
        self._round = asyncio.Condition()
        self.rounds = 0

    # -- choosing --------------------------------------------------------------------------
    def choose(self, client_host: str) -> Choice:
        choice = self.algorithm.choose(self.states, client=client_host, now=self.clock())
        if choice.backend is not None:
            choice.backend.chosen += 1
        return choice

    def set_algorithm(self, name: str) -> None:
        self.algorithm = make_algorithm(name, rng=self.rng)

    def set_weights(self, weights: Mapping[str, int]) -> dict[str, int]:
        applied = {}
        for name, weight in weights.items():
            if name in self.by_name:
                self.by_name[name].weight = max(0, min(int(weight), 100))
                applied[name] = self.by_name[name].weight
        for s in self.states:
            s.current_weight = 0  # restart smooth WRR's credits so the new ratio shows at once
        return applied

    def observe_rtt(self, state: BackendState, rtt: float) -> None:
        state.observe_rtt(rtt, self.clock())

    # -- health checks ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name=f"{self.component}-{self.pool}-health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def wait_round(self, predicate: Callable[[BackendPool], bool], timeout: float) -> bool:
        """Wait until ``predicate(pool)`` holds after a completed check round (or time out)."""
        async def _wait() -> None:
            async with self._round:
                await self._round.wait_for(lambda: self.rounds > 0 and predicate(self))
        try:
            await wait_for(_wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def _run(self) -> None:
        while True:
            await asyncio.gather(*(self._check(s) for s in self.states))
            async with self._round:
                self.rounds += 1
                self._round.notify_all()
            await asyncio.sleep(self.health.interval)

    async def _check(self, state: BackendState) -> None:
        started = time.perf_counter()
        status, error = await self._probe(state.endpoint)
        rtt = time.perf_counter() - started
        ok = status is not None and 200 <= status < 400
        if ok:
            self.observe_rtt(state, rtt)
        streak = self._streaks[state.name]
        streak = max(streak, 0) + 1 if ok else min(streak, 0) - 1
        self._streaks[state.name] = streak
        changed = False
        if state.healthy and streak <= -self.health.threshold:
            state.healthy, changed = False, True
        elif not state.healthy and streak >= self.health.threshold:
            state.healthy, changed = True, True
        verdict = f"HTTP {status}" if status is not None else error
        summary = f"{state.name}: {verdict} in {rtt * 1000:.1f} ms"
        if changed:
            summary += " → marked UP" if state.healthy else f" → marked DOWN (draining {state.active} connection(s))"
        self.stream.emit(component=self.component, layer=7, kind=Kind.HEALTH_CHECK, summary=summary,
                         dst=state.endpoint, transport="tcp",
                         detail={"pool": self.pool, "backend": state.name, "ok": ok, "status": status, "error": error,
                                 "rtt_ms": round(rtt * 1000, 3), "healthy": state.healthy, "changed": changed,
                                 "streak": streak, "threshold": self.health.threshold})

    async def _probe(self, endpoint: Endpoint) -> tuple[int | None, str | None]:
        writer = None
        try:
            async with asyncio.timeout(self.health.timeout):
                reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
                writer.write(f"GET {self.health.path} HTTP/1.1\r\nHost: {endpoint.host}\r\n"
                             f"User-Agent: netlearn-healthcheck\r\nConnection: close\r\n\r\n".encode())
                line = await reader.readline()
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
                return int(parts[1]), None
            return None, "no HTTP status line" if line else "closed without answering"
        except TimeoutError:
            return None, f"no answer within {self.health.timeout * 1000:.0f} ms"
        except OSError as exc:
            return None, exc.strerror or type(exc).__name__
        finally:
            if writer is not None:
                writer.transport.close()  # never awaited: a check must not linger on a slow peer

    def describe(self) -> dict[str, Any]:
        now = self.clock()
        return {"pool": self.pool, "algorithm": self.algorithm.name, "health_rounds": self.rounds,
                "backends": [{**s.snapshot(now), "host": s.endpoint.host, "port": s.endpoint.port, "chosen": s.chosen,
                              "state": "up" if s.healthy else ("draining" if s.active else "down")}
                             for s in self.states]}
