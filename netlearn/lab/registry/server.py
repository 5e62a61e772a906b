"""The registry's asyncio shell: HTTP in, :class:`LeaseTable` updates, events out, a sweep task.

``POST /registry`` takes every message (``{"op": "register" | "renew" | "cancel" | "fetch", ...}``);
``GET /registry/<service>`` is a convenience fetch. The eviction sweep wakes every
``sweep_interval`` and evicts expired leases, reporting how long each instance had been silent —
that figure, not the configured one, is what the lesson shows.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..timeouts import wait_for
from .httpio import JsonHttpServer
from .protocol import Cancel, Fetch, LeaseTable, Register, RegistryError, Renew, parse_message

COMPONENT = "registry"


class RegistryServer:
    def __init__(self, *, stream: EventStream, host: str, port: int = 0, heartbeat_interval: float = 0.25,
                 missed: int = 3, sweep_interval: float = 0.05, max_instances: int = 64, max_payload: int = 4096,
                 clock: Callable[[], float] = time.monotonic, correlation_id: str | None = None) -> None:
        self.stream = stream
        self.clock = clock
        self.cid = correlation_id
        self.sweep_interval = sweep_interval
        self.max_payload = max_payload
        self.table = LeaseTable(lease_duration=heartbeat_interval * missed, max_instances=max_instances)
        self.http = JsonHttpServer(self._handle, host=host, port=port, max_payload=max_payload)
        self.evictions: list[dict[str, Any]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

    @property
    def address(self) -> Endpoint:
        return self.http.address

    async def start(self) -> None:
        await self.http.start()
        self._stopped.clear()
        self._sweeper = asyncio.create_task(self._sweep())
        self._emit(Kind.CONTROL, f"registry listening; leases last {self.table.lease_duration * 1000:.0f} ms",
                   detail={"lease_ms": self.table.lease_duration * 1000})

    async def stop(self) -> None:
        self._stopped.set()
        if self._sweeper is not None:
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        await self.http.stop()

    def _emit(self, kind: Kind, summary: str, *, peer: Endpoint | None = None, detail: dict[str, Any] | None = None,
              layer: int = 7) -> None:
        self.stream.emit(component=COMPONENT, layer=layer, kind=kind, summary=summary, src=peer, dst=self.address,
                         detail=detail, correlation_id=self.cid, transport="tcp")

    async def _sweep(self) -> None:
        while not self._stopped.is_set():
            try:
                await wait_for(self._stopped.wait(), self.sweep_interval)
            except TimeoutError:
                pass
            now = self.clock()
            for lease in self.table.expired(now):
                r = lease.registration
                silent_ms = round((now - lease.last_renewal) * 1000, 1)
                record = {"service": r.service, "instance_id": r.instance_id, "silent_ms": silent_ms,
                          "version": self.table.version, "at": now}
                self.evictions.append(record)
                del self.evictions[:-100]
                self._emit(Kind.CONTROL, f"evicted {r.service}/{r.instance_id}: no heartbeat for {silent_ms} ms",
                           detail={"event": "evicted", **record})

    async def _handle(self, method: str, path: str, body: bytes, peer: Endpoint) -> tuple[int, dict[str, Any]]:
        try:
            if method == "GET" and path.startswith("/registry/"):
                service = path.removeprefix("/registry/")[:200]
                message: Any = parse_message(json.dumps({"op": "fetch", "service": service}).encode())
            elif method == "POST" and path == "/registry":
                message = parse_message(body, max_payload=self.max_payload)
            else:
                raise RegistryError("not_found", f"no route for {method} {path[:64]}", 404)
            return 200, self._apply(message, peer)
        except RegistryError as exc:
            self._emit(Kind.ERROR, f"registry refused a message from {peer}: {exc}", peer=peer,
                       detail={"error": exc.code, "status": exc.status})
            return exc.status, exc.as_dict()

    def _apply(self, message: Register | Renew | Cancel | Fetch, peer: Endpoint) -> dict[str, Any]:
        now = self.clock()
        if isinstance(message, Register):
            self.table.register(message, now)
            self._emit(Kind.CONTROL, f"registered {message.service}/{message.instance_id} at "
                       f"{message.host}:{message.port} ({message.zone})", peer=peer,
                       detail={"event": "registered", "instance_id": message.instance_id, "zone": message.zone,
                               "version": self.table.version})
            return {"ok": True, "version": self.table.version, "lease_ms": self.table.lease_duration * 1000}
        if isinstance(message, Renew):
            lease = self.table.renew(message, now)
            self._emit(Kind.HEALTH_CHECK, f"heartbeat from {message.instance_id}", peer=peer,
                       detail={"event": "renewed", "instance_id": message.instance_id, "renewals": lease.renewals})
            return {"ok": True, "renewals": lease.renewals}
        if isinstance(message, Cancel):
            self.table.cancel(message)
            self._emit(Kind.CONTROL, f"cancelled {message.service}/{message.instance_id}", peer=peer,
                       detail={"event": "cancelled", "instance_id": message.instance_id,
                               "version": self.table.version})
            return {"ok": True, "version": self.table.version}
        return self.table.snapshot(message.service, now)

    def describe(self) -> dict[str, Any]:
        now = self.clock()
        services = sorted({svc for svc, _ in self.table.leases})
        return {"address": list(self.address), "version": self.table.version,
                "lease_ms": self.table.lease_duration * 1000,
                "services": {svc: self.table.snapshot(svc, now)["instances"] for svc in services},
                "evictions": self.evictions[-10:]}
