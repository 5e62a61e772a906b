"""The active/standby pair: two :class:`HANode` s sharing one virtual address.

``start()`` brings the active up as MASTER (it binds the virtual address) and the standby as
BACKUP, then introduces them to each other. ``kill_active()`` crashes the active; the standby
takes over after the master-down interval. ``restore_active()`` brings a fresh active back on
the same addresses as BACKUP: with preemption its higher priority wins the address back, without
it the standby keeps it.
"""
from __future__ import annotations

from typing import Any

from ..availability_config import AvailabilityConfig
from ..events import Endpoint
from ..stream import EventStream
from .advert import AdvertPolicy
from .node import HANode


class HAPair:
    def __init__(self, *, stream: EventStream, config: AvailabilityConfig, correlation_id: str | None = None,
                 preempt: bool | None = None) -> None:
        self.stream = stream
        self.config = config
        self.cid = correlation_id
        self.preempt = config.preempt if preempt is None else preempt
        self.virtual = config.virtual
        self.active: HANode | None = None
        self.standby: HANode | None = None
        self._active_own = config.active

    @property
    def address(self) -> Endpoint:
        return self.virtual

    def _policy(self) -> AdvertPolicy:
        c = self.config
        return AdvertPolicy(vrid=c.vrid, virtual_address=c.virtual.host,
                            peers={c.active.host: c.active_priority, c.standby.host: c.standby_priority})

    def _node(self, name: str, own: Endpoint, priority: int) -> HANode:
        c = self.config
        return HANode(stream=self.stream, name=name, own=own, virtual=self.virtual, vrid=c.vrid, priority=priority,
                      interval=c.advert_interval, missed=c.advert_missed, preempt=self.preempt,
                      policy=self._policy(), correlation_id=self.cid)

    async def start(self) -> None:
        self.active = self._node("lb-active", self._active_own, self.config.active_priority)
        await self.active.start(as_master=True)
        self._active_own = self.active.address  # a restored active comes back on the same port
        self.virtual = self.active.virtual
        self.standby = self._node("lb-standby", self.config.standby, self.config.standby_priority)
        try:
            await self.standby.start()
        except BaseException:
            await self.stop()
            raise
        self.active.peer, self.standby.peer = self.standby.address, self.active.address

    async def kill_active(self) -> None:
        assert self.active is not None
        await self.active.kill()

    async def restore_active(self) -> HANode:
        """A fresh active on the same addresses, starting as BACKUP as a rebooted router does."""
        assert self.standby is not None
        self.active = self._node("lb-active", self._active_own, self.config.active_priority)
        self.active.peer = self.standby.address
        await self.active.start()
        return self.active

    async def stop(self) -> None:
        # The standby first: stopping the active first would make it resign and the standby
        # take the address over for the last few milliseconds of its life.
        for node in (self.standby, self.active):
            if node is not None:
                await node.stop()

    def master(self) -> HANode | None:
        for node in (self.active, self.standby):
            if node is not None and node.state == "running" and node.role.value == "master":
                return node
        return None

    def describe(self) -> dict[str, Any]:
        return {"virtual": list(self.virtual), "preempt": self.preempt,
                "master_down_ms": round(self.config.master_down_interval * 1000, 1),
                "nodes": [n.describe() for n in (self.active, self.standby) if n is not None]}
