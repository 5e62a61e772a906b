"""Build the lab from a :class:`LabConfig`, run it on its own event loop thread, stop it cleanly.

Theory of operation
-------------------
:class:`Lab` is the whole lab on *one* asyncio loop: DNS hierarchy, backends, balancers, and
the walker that plays the learner's browser. It knows nothing about Django.

:class:`LabThread` gives that loop a thread of its own (uvloop when available), so the site's
work does not distort the lab's timings and an exception in the lab cannot take the site down.
Other threads talk to it only through :meth:`LabThread.submit`, which schedules a coroutine on
the lab's loop and returns a ``concurrent.futures.Future`` (``asyncio.wrap_future`` makes it
awaitable from the site's loop). Events published on the lab loop reach subscribers
synchronously; the Django bridge re-schedules them onto its own loop.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .events import Kind, LabEvent
from .stream import EventStream, Recorder
from .timeouts import wait_for
from .topology import LabConfig
from .walker.directory import LabDirectory
from .walker.url import LabTarget
from .walker.walk import WalkOutcome, run_walk

if TYPE_CHECKING:  # the parts are imported when the lab starts (they pull in TLS, QUIC, ...)
    from .availability import StandingAvailabilityLab
    from .availability_config import AvailabilityConfig
    from .dns import DnsLab
    from .modern import ModernLab
    from .walker.secure import SecureServices
    from .web import WebLab

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How long after a lab *action* finishes we keep listening for the servers' last events. Walks
#: do not sleep: they wait for their expected closes (``LabCapture.settle``), with a deadline.
WALK_SETTLE_SECONDS = 0.03
#: Longest wait for one part of the lab (DNS, web, modern, availability) to stop.
PART_STOP_TIMEOUT = 2.0


class WalkRecord:
    """A finished walk: the outcome, every event that carried its correlation id (in the order
    they were reported), its frames (captured or rebuilt, in kernel-timestamp order) and the
    capture's summary (mode, frames lost, cut short, TLS key log)."""

    def __init__(self, correlation_id: str, outcome: WalkOutcome, events: list[LabEvent], dropped: int, *,
                 frames: list[dict[str, Any]] | None = None, capture: dict[str, Any] | None = None) -> None:
        self.correlation_id = correlation_id
        self.outcome = outcome
        self.events = list(events)
        self.dropped = dropped
        self.frames = frames or []
        self.capture = capture or {}

    def event_dicts(self) -> list[dict[str, Any]]:
        """The events as stored: placed on the capture's clock and tied to the frames they caused."""
        from .capture.anchor import anchor_events

        return anchor_events([e.as_dict() for e in self.events], self.frames)


class ActionRecord:
    """A finished lab action: its measured result (or error) and every event it caused."""

    def __init__(self, correlation_id: str, result: dict[str, Any], events: list[LabEvent], dropped: int,
                 error: str = "") -> None:
        self.correlation_id = correlation_id
        self.result = result
        self.events = sorted(events, key=lambda e: e.ts)
        self.dropped = dropped
        self.error = error


class Lab:
    """Every lab component on one event loop."""

    def __init__(self, config: LabConfig | None = None, *, stream: EventStream | None = None,
                 max_concurrent_walks: int = 32, availability: AvailabilityConfig | None = None,
                 capture: str | None = None) -> None:
        #: To also run the standing registry, HA pair and NIO server.
        self.availability_config = availability
        self.availability: StandingAvailabilityLab | None = None
        self.config = config or LabConfig()
        self.stream = stream or EventStream()
        # The parts, while the lab runs (None before start() and after stop()).
        self.dns: DnsLab | None = None
        self.web: WebLab | None = None
        self.modern: ModernLab | None = None  # port 443: TLS, HTTP/2, HTTP/3 (netlearn/lab/modern)
        self.state = "stopped"
        self.started_at: float | None = None
        from .capture.session import LabCapture

        self.capture = LabCapture(capture)
        self._walk_slots = asyncio.Semaphore(max_concurrent_walks)

    async def start(self) -> None:
        from .dns import start_dns
        from .web import start_web

        self.state = "starting"
        try:
            self.dns = await start_dns(self.config, self.stream)
            self.web = await start_web(self.config, self.stream)
            from .modern import start_modern

            self.modern = await start_modern(self.config, self.stream, self.web)
            if self.availability_config is not None:
                from .availability import StandingAvailabilityLab

                self.availability = StandingAvailabilityLab(self.stream, self.availability_config)
                await self.availability.start()
        except BaseException:
            await self.stop()
            self.state = "failed"
            raise
        self.capture.start(self)
        self.state = "running"
        self.started_at = time.time()
        self.stream.emit(component="lab", layer=7, kind=Kind.CONTROL, summary="The lab is running",
                         detail={"endpoints": self.endpoints()})

    async def stop(self, *, part_timeout: float = PART_STOP_TIMEOUT) -> None:
        """Stop every part, each within ``part_timeout``: SIGTERM must end the process in
        seconds even if one server is stuck draining a connection under load."""
        self.state = "stopping"
        self.capture.close(self)
        for part in (self.availability, self.modern, self.web, self.dns):
            if part is not None:
                try:
                    await wait_for(part.stop(), part_timeout)
                except TimeoutError:
                    log.warning("lab part %s did not stop within %.0f s; abandoned", type(part).__name__,
                                part_timeout)
                except Exception:
                    log.exception("lab part failed to stop")
        self.availability = self.modern = self.web = self.dns = None
        self.state = "stopped"

    # -- what is where ---------------------------------------------------------------------
    def endpoints(self) -> dict[str, Any]:
        """One key per role, each ``{"host", "port"}`` (a list for the backends): runlab prints it."""
        if self.dns is None or self.web is None:
            return {}

        def ep(component: Any) -> dict[str, Any]:
            address = component.address
            return {"host": address.host, "port": address.port}

        return {
            "root": ep(self.dns.root), "tld": ep(self.dns.tld), "authoritative": ep(self.dns.authoritative),
            "resolver": ep(self.dns.resolver), "l4": ep(self.web.l4), "l7": ep(self.web.l7),
            "backends": [ep(b) for b in self.web.backends],
            **(self.modern.endpoints() if self.modern is not None else {}),
            **({"registry": ep(self.availability.registry), "ha_virtual": {
                "host": self.availability.config.virtual.host, "port": self.availability.config.virtual.port}}
               if self.availability is not None and self.availability.registry is not None else {}),
        }

    def directory(self) -> LabDirectory:
        """The walker's allow-list: lab addresses with URL ports mapped to real listening ports."""
        services: dict[tuple[str, int], LabTarget] = {}
        web, dns = self.web, self.dns
        if web is None or dns is None:
            raise RuntimeError("the lab is not running")
        for role, address in (("l4", web.l4.address), ("l7", web.l7.address)):
            services[(address.host, 80)] = LabTarget(address.host, address.port, role)
        for backend in web.backends:
            address = backend.address
            services[(address.host, 80)] = LabTarget(address.host, address.port, backend.name)
        if self.modern is not None:  # URL port 443 → the TLS listeners
            for role, address in (("l4", self.modern.l4.address), ("tls-front", self.modern.front.address)):
                services[(address.host, 443)] = LabTarget(address.host, address.port, role)
            for server in self.modern.backends:
                services[(server.address.host, 443)] = LabTarget(server.address.host, server.address.port,
                                                                 server.name)
        return LabDirectory(resolver=dns.resolver.address, client_host=self.config.client_host,
                            services=services)

    def describe(self) -> dict[str, Any]:
        components: dict[str, Any] = {}
        if self.dns is not None:
            components.update(self.dns.describe())
        if self.web is not None:
            components.update(self.web.describe())
        if self.modern is not None:
            components.update(self.modern.describe())
        if self.availability is not None:
            components["availability"] = self.availability.describe()
        return {"state": self.state, "started_at": self.started_at, "capture": self.capture.describe(),
                "components": components}

    # -- walks -----------------------------------------------------------------------------
    async def walk(self, url: str, *, correlation_id: str | None = None, cold: bool = False,
                   **options: Any) -> WalkRecord:
        """Walk ``url``. ``cold``: the resolver answers this walk from an empty cache of its own,
        so the root → TLD → authoritative referrals are on the wire whatever other walks did."""
        cid = correlation_id or uuid.uuid4().hex
        async with self._walk_slots:
            capture = self.capture.begin(cid)
            if cold and self.dns is not None:
                self.dns.resolver.private_cache(cid)
            recorder = Recorder(self.stream, correlation_id=cid)
            self.stream.correlator.hold(cid)
            finished = False
            try:
                if self.modern is not None:
                    options.setdefault("secure", self.secure_services())
                outcome = await run_walk(url, stream=self.stream, directory=self.directory(), correlation_id=cid,
                                         **options)
                cut_short = await self.capture.settle(self.stream, cid, recorder.events, capture)
                finished = True
            finally:
                recorder.close()
                self.stream.correlator.release(cid)
                if self.dns is not None:
                    self.dns.resolver.drop_private_cache(cid)
                if not finished:  # cancelled or crashed: free the walk's capture buffer all the same
                    self.capture.collect(cid, capture, [], cut_short=True)
            frames, summary = self.capture.collect(cid, capture, recorder.events, cut_short=cut_short)
        summary["cache"] = "cold" if cold else "warm"
        return WalkRecord(cid, outcome, recorder.events, recorder.dropped, frames=frames, capture=summary)

    async def run_action(self, spec: dict[str, Any], *, correlation_id: str | None = None) -> ActionRecord:
        """Run one of the lessons' fixed "try it" actions (see :mod:`.actions`)."""
        from .actions import ActionError, run_action

        cid = correlation_id or uuid.uuid4().hex
        error = ""
        result: dict[str, Any] = {}
        async with self._walk_slots:
            with Recorder(self.stream, correlation_id=cid, limit=3000) as recorder:
                try:
                    result = await run_action(self, spec, cid)
                except ActionError as exc:
                    error = str(exc)
                await asyncio.sleep(WALK_SETTLE_SECONDS)
        return ActionRecord(cid, result, recorder.events, recorder.dropped, error)

    def secure_services(self) -> SecureServices:
        """The lab CA and the QUIC listeners (UDP 443), for https walks."""
        from .walker.secure import SecureServices

        modern = self.modern
        if modern is None:
            raise RuntimeError("the lab's TLS, HTTP/2 and HTTP/3 part is not running")
        quic = {(q.address.host, 443): LabTarget(q.address.host, q.address.port, q.name) for q in modern.quic}
        return SecureServices(pki=modern.pki, quic=quic)


def _abandon(task: asyncio.Task[Any]) -> None:
    """End a task its dead loop will never resume, here and now: its coroutine is closed (its
    ``finally`` blocks run on this thread, while the loop still exists), and the task is told not
    to complain when it is collected. Left to the garbage collector, each suspended coroutine ran
    its clean-up at some random later moment, against a closed loop, and printed "Exception
    ignored in …" into the site's log."""
    task._log_destroy_pending = False  # type: ignore[attr-defined]  # asyncio's own switch for this
    with warnings.catch_warnings():  # a clean-up that made a coroutine the dead loop cannot run
        warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
        try:
            task.get_coro().close()
        except BaseException as exc:  # noqa: BLE001 - a clean-up that needs the dead loop: nothing to do
            log.debug("abandoned %r: %r", task, exc)


class LabThread:
    """Runs a :class:`Lab` on its own loop in a daemon thread."""

    def __init__(self, config: LabConfig | None = None, *, stream: EventStream | None = None,
                 availability: AvailabilityConfig | None = None, capture: str | None = None) -> None:
        self.lab = Lab(config, stream=stream, availability=availability, capture=capture)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._crash: BaseException | None = None
        self.error: BaseException | None = None
        #: Calls submitted and not finished: a crash cancels them (see :meth:`_die`).
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._pending_lock = threading.Lock()

    @property
    def stream(self) -> EventStream:
        return self.lab.stream

    def start(self, timeout: float = 20.0) -> LabThread:
        self._thread = threading.Thread(target=self._run, name="netlearn-lab", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the lab did not start in time")
        if self.error is not None:
            raise RuntimeError(f"the lab failed to start: {self.error!r}") from self.error
        return self

    def _run(self) -> None:
        loop: asyncio.AbstractEventLoop
        try:
            import uvloop

            loop = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - uvloop is pinned, but the lab works without it
            loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - a crashed lab is reported, never re-raised into the site
            self._die(loop, self._crash or exc)
            return
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def _die(self, loop: asyncio.AbstractEventLoop, error: BaseException) -> None:
        """The lab's loop blew up: nothing of the lab may run again. Close the loop (which closes
        every socket it owns, so a new lab can bind the same ports) and cancel every call still
        waiting on it, so its caller (a walk, a control call) ends at once instead of hanging."""
        self.error = error
        log.error("the lab crashed", exc_info=error)
        try:
            for task in asyncio.all_tasks(loop):
                _abandon(task)
            loop.close()
        finally:
            with self._pending_lock:
                pending, self._pending = self._pending, set()
            for future in pending:
                future.cancel()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.lab.start()
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self.error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            if self.error is None:  # after a crash the loop is closed: nothing may run (see _die)
                await self._orderly_stop()

    async def _orderly_stop(self) -> None:
        """Release the ports and end the walks and control calls in flight (their callers see
        them cancelled, not hanging)."""
        await self.lab.stop()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=PART_STOP_TIMEOUT)

    def submit(self, factory: Callable[[Lab], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Run ``factory(lab)`` on the lab's loop; thread-safe."""
        if self.loop is None or not self.is_alive():
            raise RuntimeError("the lab is not running")

        async def call() -> T:
            return await factory(self.lab)

        future = asyncio.run_coroutine_threadsafe(call(), self.loop)
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def call(self, fn: Callable[[Lab], T], timeout: float = 10.0) -> T:
        """Run a plain function on the lab's loop (control calls) and wait for its result."""

        async def wrapper(lab: Lab) -> T:
            return fn(lab)

        return self.submit(wrapper).result(timeout)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def describe(self) -> dict[str, Any]:
        if not self.is_alive():
            return {"state": "stopped" if self.error is None else "failed"}
        try:
            return self.call(lambda lab: lab.describe(), timeout=2.0)
        except Exception as exc:  # noqa: BLE001 - health must always answer
            return {"state": "unresponsive", "error": repr(exc)}

    def crash_for_test(self, error: BaseException | None = None) -> None:
        """Kill the lab's loop mid-flight, as a bug in the loop machinery would: the loop stops
        with every task suspended where it was, none of the lab's orderly stop runs, and the
        thread dies with :attr:`error` set (:meth:`_die`). The site's supervisor then has a dead
        lab to replace (fault tests)."""
        if self.loop is None or self._stopped is None or not self.is_alive():
            raise RuntimeError("the lab is not running")
        loop = self.loop

        def crash() -> None:
            self._crash = error or RuntimeError("lab crashed on purpose (crash_for_test)")
            loop.stop()  # run_until_complete(self._main()) raises: _main never resumes

        loop.call_soon_threadsafe(crash)

    def stop(self, timeout: float = 6.0) -> None:
        """Ask the lab to stop and wait at most ``timeout``; a lab that overruns is a daemon thread
        and ends with the process (its sockets close with it)."""
        if self.loop is not None and self._stopped is not None and self.is_alive():
            self.loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout)
