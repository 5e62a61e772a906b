"""A service instance: a tiny HTTP service that registers itself and renews with heartbeats.

``kill()`` is a crash: the listener closes and heartbeats simply stop, no goodbye — the registry
only notices when the lease runs out, which is the delay the lesson measures. ``stop()`` is a
clean shutdown: it cancels its lease first, so clients learn at their next fetch.
"""
from __future__ import annotations

import asyncio
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..timeouts import wait_for
from .httpio import HttpError, JsonHttpServer, http_json


class ServiceInstance:
    def __init__(self, *, stream: EventStream, service: str, instance_id: str, host: str, port: int = 0,
                 zone: str = "default", registry: Endpoint, heartbeat_interval: float = 0.25,
                 delay_ms: float = 0.0, correlation_id: str | None = None) -> None:
        self.stream = stream
        self.service, self.instance_id, self.zone = service, instance_id, zone
        self.registry = registry
        self.heartbeat_interval = heartbeat_interval
        self.delay_ms = delay_ms
        self.cid = correlation_id
        self.failing = False
        self.served = 0
        self.heartbeats = 0
        self.state = "stopped"
        self.http = JsonHttpServer(self._handle, host=host, port=port)
        self._heartbeat: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def address(self) -> Endpoint:
        return self.http.address

    async def start(self) -> None:
        await self.http.start()
        self._stop.clear()
        await self._register()
        self._heartbeat = asyncio.create_task(self._beat())
        self.state = "running"

    async def _register(self) -> None:
        a = self.address
        await self._call({"op": "register", "service": self.service, "instance_id": self.instance_id,
                          "host": a.host, "port": a.port, "zone": self.zone})

    async def _call(self, message: dict[str, Any]) -> int:
        status, _ = await http_json(self.registry, "POST", "/registry", message, local_host=self.address.host,
                                    timeout=max(0.5, self.heartbeat_interval * 2))
        return status

    async def _beat(self) -> None:
        while not self._stop.is_set():
            try:
                await wait_for(self._stop.wait(), self.heartbeat_interval)
                return
            except TimeoutError:
                pass
            try:
                status = await self._call({"op": "renew", "service": self.service, "instance_id": self.instance_id})
                self.heartbeats += 1
                if status == 404:  # evicted while we were slow: register again, as Eureka clients do
                    await self._register()
            except HttpError as exc:
                self.stream.emit(component=self.instance_id, layer=7, kind=Kind.ERROR, correlation_id=self.cid,
                                 summary=f"{self.instance_id}: heartbeat failed ({exc.code})", src=self.address)

    async def _handle(self, method: str, path: str, body: bytes, peer: Endpoint) -> tuple[int, dict[str, Any]]:
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000)
        if self.failing:
            return 503, {"error": "unavailable", "instance": self.instance_id}
        self.served += 1
        return 200, {"instance": self.instance_id, "zone": self.zone, "path": path[:200], "served": self.served}

    async def _halt(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None
        await self.http.stop()

    async def kill(self) -> None:
        """Crash: the service and its heartbeats stop; the registry is not told."""
        await self._halt()
        self.state = "killed"
        self.stream.emit(component=self.instance_id, layer=7, kind=Kind.CONTROL, correlation_id=self.cid,
                         summary=f"{self.instance_id} killed: its heartbeats stop", src=self.address,
                         detail={"event": "instance_killed", "instance_id": self.instance_id})

    async def stop(self) -> None:
        """Clean shutdown: cancel the lease, then stop."""
        if self.state == "running":
            self._stop.set()
            if self._heartbeat is not None:
                await asyncio.gather(self._heartbeat, return_exceptions=True)
            try:
                await self._call({"op": "cancel", "service": self.service, "instance_id": self.instance_id})
            except HttpError:
                pass
        await self._halt()
        self.state = "stopped"

    def describe(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "service": self.service, "zone": self.zone, "state": self.state,
                "address": list(self.address), "served": self.served, "heartbeats": self.heartbeats,
                "failing": self.failing}
