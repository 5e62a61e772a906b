"""Fault tolerance, for contrast with HA: every request goes to both replicas; the first good answer wins.

Nothing fails over because nothing needs to: while one replica lives, every request is answered,
with no gap. The price is paid on every request, failure or not — each one is done twice — and
:class:`FTClient` counts it, so the lesson's HA-vs-FT table is built from measured figures.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from ..events import Endpoint, Kind
from ..registry.httpio import HttpError, JsonHttpServer, http_json
from ..stream import EventStream


class Replica:
    """A replica computing the same deterministic answer as its twin."""

    def __init__(self, *, stream: EventStream, name: str, host: str, port: int = 0,
                 correlation_id: str | None = None) -> None:
        self.stream = stream
        self.name = name
        self.cid = correlation_id
        self.handled = 0
        self.state = "stopped"
        self.http = JsonHttpServer(self._handle, host=host, port=port)

    @property
    def address(self) -> Endpoint:
        return self.http.address

    async def start(self) -> None:
        await self.http.start()
        self.state = "running"

    async def _handle(self, method: str, path: str, body: bytes, peer: Endpoint) -> tuple[int, dict[str, Any]]:
        self.handled += 1
        return 200, {"replica": self.name, "path": path[:200], "result": sum(path.encode()) % 9973}

    async def kill(self) -> None:
        await self.http.stop()
        self.state = "killed"
        self.stream.emit(component=self.name, layer=7, kind=Kind.CONTROL, correlation_id=self.cid,
                         summary=f"{self.name} killed", src=self.address, detail={"event": "killed"})

    async def stop(self) -> None:
        await self.http.stop()
        self.state = "stopped"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "address": list(self.address), "handled": self.handled}


@dataclass
class FTResult:
    ok: bool
    winner: str | None
    elapsed_ms: float
    failures: list[str]


class FTClient:
    def __init__(self, *, stream: EventStream, replicas: list[Endpoint], client_host: str, timeout: float = 1.0,
                 correlation_id: str | None = None) -> None:
        self.stream = stream
        self.replicas = replicas
        self.client_host = client_host
        self.timeout = timeout
        self.cid = correlation_id
        self.requests = 0
        self.replica_requests = 0

    @property
    def address(self) -> Endpoint:
        return Endpoint(self.client_host, 0)

    def describe(self) -> dict[str, Any]:
        return {"replicas": [list(r) for r in self.replicas], "requests": self.requests,
                "replica_requests": self.replica_requests,
                "cost_factor": round(self.replica_requests / self.requests, 2) if self.requests else None}

    async def call(self, path: str) -> FTResult:
        self.requests += 1
        started = time.perf_counter()
        pending = {asyncio.create_task(self._one(r, path)) for r in self.replicas}
        self.replica_requests += len(pending)
        failures: list[str] = []
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    outcome = task.result()
                    if isinstance(outcome, str):
                        failures.append(outcome)
                        continue
                    elapsed = round((time.perf_counter() - started) * 1000, 2)
                    self.stream.emit(component="ft-client", layer=7, kind=Kind.RESPONSE, correlation_id=self.cid,
                                     summary=f"{path}: first good answer from {outcome['replica']}",
                                     detail={"winner": outcome["replica"], "failures": failures})
                    return FTResult(True, outcome["replica"], elapsed, failures)
            self.stream.emit(component="ft-client", layer=7, kind=Kind.ERROR, correlation_id=self.cid,
                             summary=f"{path}: every replica failed", detail={"failures": failures})
            return FTResult(False, None, round((time.perf_counter() - started) * 1000, 2), failures)
        finally:
            for task in pending:  # the slower twin's answer is not needed: it was already paid for
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _one(self, replica: Endpoint, path: str) -> dict[str, Any] | str:
        try:
            status, body = await http_json(replica, "GET", path, local_host=self.client_host, timeout=self.timeout)
        except HttpError as exc:
            return f"{replica}: {exc.code}"
        return body if status == 200 else f"{replica}: status {status}"
