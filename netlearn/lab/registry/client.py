"""A discovery client with its own balancer: fetch, cache, choose, call, retry another.

The client never asks the registry per request. It refreshes its cache every ``refresh`` seconds
and balances on that cache, so when an instance dies there are three delays in a row, each
measured: until the registry evicts it (lease expiry + sweep), until this client's next fetch,
and meanwhile calls that hit the dead instance and are retried on another — which is why
client-side balancing needs retry.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..timeouts import wait_for
from .balancer import Candidate, Chooser, InstanceStats
from .httpio import HttpError, http_json


@dataclass
class CallResult:
    ok: bool
    instance_id: str | None
    attempts: int
    tried: list[str]
    elapsed_ms: float
    errors: list[str] = field(default_factory=list)


class DiscoveryClient:
    def __init__(self, *, stream: EventStream, name: str, registry: Endpoint, service: str, client_host: str,
                 chooser: Chooser, refresh: float = 0.25, retries: int = 2, timeout: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, correlation_id: str | None = None) -> None:
        self.stream = stream
        self.name = name
        self.registry = registry
        self.service = service
        self.client_host = client_host
        self.chooser = chooser
        self.refresh = refresh
        self.retries = retries
        self.timeout = timeout
        self.clock = clock
        self.cid = correlation_id
        self.cache: list[Candidate] = []
        self.version = -1
        self.fetched_at: float | None = None
        self.fetches = 0
        self.stats: dict[str, InstanceStats] = {}
        #: (clock time, version, instance ids) for each change seen: the convergence timeline.
        self.changes: list[tuple[float, int, tuple[str, ...]]] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def address(self) -> Endpoint:
        return Endpoint(self.client_host, 0)

    async def start(self) -> None:
        self._stop.clear()
        await self.fetch()
        self._task = asyncio.create_task(self._refresh_loop())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _refresh_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await wait_for(self._stop.wait(), self.refresh)
                return
            except TimeoutError:
                pass
            try:
                await self.fetch()
            except HttpError as exc:  # keep the old cache: a registry outage must not empty it
                self._emit(Kind.ERROR, f"{self.name}: registry fetch failed ({exc.code}); keeping the cache")

    async def fetch(self) -> None:
        status, doc = await http_json(self.registry, "POST", "/registry", {"op": "fetch", "service": self.service},
                                      local_host=self.client_host, timeout=self.timeout)
        self.fetches += 1
        self.fetched_at = self.clock()
        if status != 200:
            raise HttpError("status", f"registry answered {status}")
        if doc["version"] != self.version:
            self.version = doc["version"]
            self.cache = [Candidate(i["instance_id"], i["host"], i["port"], i["zone"]) for i in doc["instances"]]
            ids = tuple(c.instance_id for c in self.cache)
            self.changes.append((self.fetched_at, self.version, ids))
            self._emit(Kind.CACHE, f"{self.name}: cache now v{self.version}: {', '.join(ids) or 'no instances'}",
                       detail={"version": self.version, "instances": list(ids)})

    async def call(self, path: str = "/") -> CallResult:
        started = time.perf_counter()
        tried: list[str] = []
        errors: list[str] = []
        for _ in range(1 + self.retries):
            choice = self.chooser.choose(self.cache, self.stats, frozenset(tried))
            if choice is None:
                break
            tried.append(choice.instance_id)
            self._emit(Kind.CHOOSE, f"{self.name} picked {choice.instance_id} ({self.chooser.strategy})",
                       dst=Endpoint(choice.host, choice.port), detail={"instance_id": choice.instance_id,
                                                                        "zone": choice.zone})
            t0 = time.perf_counter()
            stats = self.stats.setdefault(choice.instance_id, InstanceStats())
            try:
                status, _ = await http_json((choice.host, choice.port), "GET", path, local_host=self.client_host,
                                            timeout=self.timeout)
                if status < 500:
                    stats.record((time.perf_counter() - t0) * 1000)
                    return CallResult(True, choice.instance_id, len(tried), tried,
                                      round((time.perf_counter() - started) * 1000, 2), errors)
                reason = f"{choice.instance_id} answered {status}"
            except HttpError as exc:
                reason = f"{choice.instance_id}: {exc.code}"
            stats.record(None)
            errors.append(reason)
            self._emit(Kind.ERROR, f"{self.name}: {reason}; retrying another instance",
                       dst=Endpoint(choice.host, choice.port), detail={"instance_id": choice.instance_id})
        return CallResult(False, None, len(tried), tried, round((time.perf_counter() - started) * 1000, 2), errors)

    def _emit(self, kind: Kind, summary: str, *, dst: Endpoint | None = None,
              detail: dict[str, Any] | None = None) -> None:
        self.stream.emit(component=self.name, layer=7, kind=kind, summary=summary, dst=dst, detail=detail,
                         correlation_id=self.cid, transport="tcp")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "strategy": self.chooser.strategy, "zone": self.chooser.zone,
                "version": self.version, "cache": [c.instance_id for c in self.cache], "fetches": self.fetches,
                "stats": {k: {"requests": s.requests, "failures": s.failures,
                              "avg_ms": round(s.avg_ms, 3) if s.avg_ms is not None else None}
                          for k, s in self.stats.items()}}
