"""One member of the HA pair: the VRRP machine's asyncio shell, and the virtual address's listener.

Advertisements travel as UDP datagrams between the members' own addresses (keepalived's
``unicast_peer``: loopback has no multicast to speak of). The node that is MASTER holds the
*listening socket* of the virtual address — the lab's stand-in for owning the IP — and answers
there. Takeover is real: the new master binds ``virtual:port`` (SO_REUSEADDR) the moment its
Master_Down timer fires, retrying briefly while a preempted master lets go. A crash (``kill``)
really closes the socket, and sends nothing: the peer only notices the silence.

One driver task owns the machine: it waits for an advertisement or the machine's next deadline,
feeds the input, performs the actions. Nothing else touches the state, so there are no races.
"""
from __future__ import annotations

import asyncio
import errno
import time
from typing import Any

from ..events import Endpoint, Kind
from ..registry.httpio import JsonHttpServer
from ..stream import EventStream
from ..timeouts import wait_for
from .advert import AdvertError, Advertisement, AdvertPolicy, parse
from .machine import Action, State, VrrpMachine

MAX_DATAGRAM = 64
_STOP = -1  # the driver's stop sentinel (priorities are 0-255)


class _AdvertProtocol(asyncio.DatagramProtocol):
    def __init__(self, node: HANode) -> None:
        self.node = node

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.node._on_datagram(data, Endpoint.of(addr))


class HANode:
    def __init__(self, *, stream: EventStream, name: str, own: Endpoint, virtual: Endpoint, vrid: int, priority: int,
                 interval: float, missed: int, preempt: bool, policy: AdvertPolicy,
                 correlation_id: str | None = None, takeover_retry: float = 1.0) -> None:
        self.stream = stream
        self.name = name
        self.own = own
        self.virtual = virtual
        self.vrid = vrid
        self.policy = policy
        self.cid = correlation_id
        self.takeover_retry = takeover_retry
        self.machine = VrrpMachine(priority=priority, interval=interval, missed=missed, preempt=preempt)
        self.peer: Endpoint | None = None
        self.transitions: list[dict[str, Any]] = []
        self.rejected = 0
        self.adverts_received = 0
        self.served = 0
        self.state = "stopped"
        self._transport: asyncio.DatagramTransport | None = None
        self._service: JsonHttpServer | None = None
        self._inbox: asyncio.Queue[int] = asyncio.Queue(maxsize=256)
        self._driver: asyncio.Task[None] | None = None
        self._running = False
        self._bound: Endpoint | None = None

    @property
    def address(self) -> Endpoint:
        return self._bound or self.own

    @property
    def role(self) -> State:
        return self.machine.state

    async def start(self, *, as_master: bool = False) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _AdvertProtocol(self),
                                                           local_addr=(self.own.host, self.own.port))
        self._transport = transport
        self._bound = Endpoint.of(transport.get_extra_info("sockname"))
        self.state = "running"
        actions = self.machine.start(time.monotonic(), as_master=as_master)
        self._record("start", "master" if as_master else "backup")
        await self._perform(actions)
        self._running = True
        self._driver = asyncio.create_task(self._drive())

    async def _drive(self) -> None:
        # Stopped by a flag and a sentinel, not by cancellation alone: on 3.11 ``asyncio.wait_for``
        # swallowed a cancel that raced its inner future, and the driver then ran forever. Our
        # ``wait_for`` keeps the cancel (netlearn.lab.timeouts); the flag still says why it ends.
        while self._running:
            deadline = self.machine.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                priority: int | None = await wait_for(self._inbox.get(), timeout)
            except TimeoutError:
                priority = None
            if not self._running or priority == _STOP:
                return
            now = time.monotonic()
            before = self.machine.state
            actions = self.machine.on_timer(now) if priority is None else self.machine.on_advert(priority, now)
            if self.machine.state != before:
                reason = ("no advertisement for the master-down interval" if priority is None
                          else f"heard priority {priority} > ours")
                self._record(reason, self.machine.state.value,
                             cause="master_down" if priority is None else "preempted", heard=priority)
            try:
                await self._perform(actions)
            except Exception as exc:  # noqa: BLE001 - the driver must outlive one bad action
                self._emit(Kind.ERROR, f"{self.name}: {actions} failed: {exc!r}")

    def _on_datagram(self, data: bytes, sender: Endpoint) -> None:
        try:
            if len(data) > MAX_DATAGRAM:
                raise AdvertError("too_large", f"{len(data)} bytes is no advertisement")
            advert = parse(data)
            self.policy.check(advert, sender.host)
        except AdvertError as exc:
            self.rejected += 1
            self._emit(Kind.ERROR, f"{self.name} rejected an advertisement from {sender}: {exc}", src=sender,
                       data=data[:MAX_DATAGRAM], detail={"error": exc.code}, layer=3)
            return
        self.adverts_received += 1
        self._emit(Kind.HEALTH_CHECK, f"{self.name} heard {advert.address} advertised at priority {advert.priority}",
                   src=sender, dst=self.address, data=data, detail={"priority": advert.priority, "vrid": advert.vrid},
                   layer=3)
        try:
            self._inbox.put_nowait(advert.priority)
        except asyncio.QueueFull:  # bounded: a flood cannot grow memory, and the next advert will do
            pass

    async def _perform(self, actions: list[Action]) -> None:
        # Advertise before binding: a preempted master releases when it hears us.
        for action in sorted(actions, key=lambda a: a != Action.SEND and a != Action.SEND_RESIGN):
            if action in (Action.SEND, Action.SEND_RESIGN):
                self._send(0 if action == Action.SEND_RESIGN else self.machine.priority)
            elif action == Action.TAKEOVER:
                await self._take_over()
            elif action == Action.RELEASE:
                await self._release()

    def _send(self, priority: int) -> None:
        if self._transport is None or self.peer is None:
            return
        packet = Advertisement(self.vrid, priority, self.machine.interval, self.virtual.host).serialize()
        self._transport.sendto(packet, tuple(self.peer))

    async def _take_over(self) -> None:
        deadline = time.monotonic() + self.takeover_retry
        attempts = 0
        while True:
            attempts += 1
            service = JsonHttpServer(self._serve, host=self.virtual.host, port=self.virtual.port)
            try:
                await service.start(reuse_address=True)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                    self._emit(Kind.ERROR, f"{self.name} could not take {self.virtual}: {exc.strerror}")
                    return
                await asyncio.sleep(0.01)
        self._service = service
        if self.virtual.port == 0:  # ephemeral: the first master picks the port the pair then shares
            self.virtual = service.address
        self._emit(Kind.CONTROL, f"{self.name} took over the virtual address {service.address}",
                   dst=service.address, detail={"event": "takeover", "attempts": attempts,
                                                "priority": self.machine.priority})

    async def _release(self) -> None:
        if self._service is not None:
            service, self._service = self._service, None
            await service.stop()
            self._emit(Kind.CONTROL, f"{self.name} released the virtual address", detail={"event": "release"})

    async def _serve(self, method: str, path: str, body: bytes, peer: Endpoint) -> tuple[int, dict[str, Any]]:
        self.served += 1
        return 200, {"node": self.name, "role": self.machine.state.value}

    async def kill(self) -> None:
        """A crash: the driver, advertisements and the virtual address's socket all go, silently."""
        await self._halt()
        self.state = "killed"
        self._record("killed", "dead")
        self._emit(Kind.CONTROL, f"{self.name} killed: advertisements stop", detail={"event": "killed"})

    async def stop(self) -> None:
        """A clean stop: resign with priority 0 so the peer takes over without waiting."""
        if self.state == "running":
            await self._cancel_driver()
            await self._perform(self.machine.shutdown())
        await self._halt()
        self.state = "stopped"

    async def _cancel_driver(self) -> None:
        self._running = False
        if self._driver is not None:
            driver, self._driver = self._driver, None
            while not self._inbox.empty():
                self._inbox.get_nowait()
            self._inbox.put_nowait(_STOP)
            done, _ = await asyncio.wait({driver}, timeout=1.0)
            if not done:  # stuck in an action (a takeover retry): cancel it
                driver.cancel()
                await asyncio.gather(driver, return_exceptions=True)

    async def _halt(self) -> None:
        await self._cancel_driver()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            await asyncio.sleep(0)  # the transport closes its socket on the next loop iteration
        await self._release()

    def _record(self, reason: str, to: str, *, cause: str = "start", heard: int | None = None) -> None:
        self.transitions.append({"at": time.monotonic(), "ts": time.perf_counter(), "to": to, "reason": reason,
                                 "heard_at": self.machine.heard_at})
        if to in ("master", "backup"):
            self._emit(Kind.CONTROL, f"{self.name} is now {to.upper()} ({reason})",
                       detail={"event": "state", "state": to, "reason": reason, "cause": cause, "heard": heard})

    def _emit(self, kind: Kind, summary: str, *, src: Endpoint | None = None, dst: Endpoint | None = None,
              data: bytes = b"", detail: dict[str, Any] | None = None, layer: int = 4) -> None:
        self.stream.emit(component=self.name, layer=layer, kind=kind, summary=summary, src=src or self.address,
                         dst=dst, data=data, detail=detail, correlation_id=self.cid,
                         transport="udp" if layer == 3 else "tcp")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "role": self.machine.state.value,
                "priority": self.machine.priority, "address": list(self.address), "virtual": list(self.virtual),
                "holds_virtual": self._service is not None, "adverts_received": self.adverts_received,
                "rejected": self.rejected, "served": self.served}
