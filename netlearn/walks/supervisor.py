"""Keep the embedded lab running: notice when it dies or stops answering, and start a new one.

Theory of operation
-------------------
One task on the site's loop (started by the ASGI lifespan with the lab) looks at the lab every
``interval`` seconds. A dead thread (``LabThread.is_alive()`` false: the lab's loop raised) is
replaced at once; a live thread whose loop does not run a no-op within ``ping_timeout`` counts a
miss, and ``misses_allowed`` misses in a row count as dead too (the old thread is asked to stop but
not waited for: a stuck thread cannot be killed, and ephemeral ports do not collide).

While it replaces the lab, ``labstate`` says "restarting": /healthz reports it and every page shows
the banner (``netlearn.core.context_processors``). The new lab is attached to the bridge exactly as
at start-up, so walks started afterwards stream as usual. A start that fails is retried with a
growing pause; the site keeps serving lessons and quizzes all along.

Lost walks
----------
A second task sweeps the walks of *other* processes: every ``sweep_interval`` seconds (2 s) it
fails, with the code ``worker_lost``, each running walk whose worker process is gone from this
machine (exact: the row names host, boot, PID namespace, pid and the process's start time) or
that is older than ``services.LOST_AFTER_SECONDS`` (45 s: the site's 30 s hard limit on a walk
plus a 15 s margin for its final write; this also covers workers on other machines). So with a
surviving worker on the same machine, a walk whose worker was killed ends within about one sweep
(≤ 2 s plus the database write); otherwise within 45 s + 2 s of its start. The sweep tells the
walk's pages (``walk.finished``), which then render the stored failure and its explanation. The
rules and the "late record wins" choice are documented in ``netlearn.walks.services``.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from netlearn.core import labstate
from netlearn.lab import calls
from netlearn.lab.process import LabProcess
from netlearn.lab.runner import LabThread
from netlearn.lab.timeouts import wait_for
from netlearn.lab.topology import LabConfig

from . import bridge, services

log = logging.getLogger("netlearn.walks.supervisor")

_current: LabSupervisor | None = None


def current() -> LabSupervisor | None:
    """The supervisor of this process's lab, if one runs (tests reach it through here)."""
    return _current


class LabSupervisor:
    def __init__(self, make_config: Callable[[], LabConfig], *, interval: float = 0.5, ping_timeout: float = 2.0,
                 misses_allowed: int = 2, max_pause: float = 5.0, sweep_interval: float = 2.0) -> None:
        self.make_config = make_config
        self.interval = interval
        self.sweep_interval = sweep_interval
        self.walks_lost = 0
        self.ping_timeout = ping_timeout
        self.misses_allowed = misses_allowed
        self.max_pause = max_pause
        self.restarts = 0
        self._held = False
        self._tasks: list[asyncio.Task] = []

    def start(self) -> LabSupervisor:
        global _current
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._watch(), name="lab-supervisor"),
                       loop.create_task(self._sweep(), name="lost-walk-sweep")]
        _current = self
        return self

    async def stop(self) -> None:
        global _current
        if _current is self:
            _current = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        labstate.set_restarting(False)

    async def _sweep(self) -> None:
        """Fail the walks whose worker died (see "Lost walks"); a database that is away is retried."""
        failing = False
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                self.walks_lost += len(await services.sweep_lost_walks())
                failing = False
            except Exception:
                if not failing:
                    log.warning("the lost-walk sweep failed; retrying every %.0f s", self.sweep_interval,
                                exc_info=True)
                failing = True

    def hold_restarts(self, held: bool = True) -> None:
        """Tests: keep a dead lab dead (the site shows its banner) until called with False."""
        self._held = held

    async def _watch(self) -> None:
        misses = 0
        while True:
            await asyncio.sleep(self.interval)
            lab = labstate.get_lab()
            if lab is None:
                continue
            if not lab.is_alive():
                log.error("the lab died (%r): restarting it", lab.error)
            elif await self._answers(lab):
                misses = 0
                continue
            else:
                misses += 1
                if misses < self.misses_allowed:
                    continue
                log.error("the lab stopped answering: restarting it")
            misses = 0
            await self._restart(lab)

    async def _answers(self, lab: LabThread | LabProcess) -> bool:
        try:
            await wait_for(asyncio.wrap_future(lab.submit(calls.noop)), self.ping_timeout)
            return True
        except Exception:  # noqa: BLE001 - time-out, closed loop: either way no answer
            return False

    async def _restart(self, old: LabThread | LabProcess) -> None:
        labstate.set_restarting(True)
        try:
            # Ask a stuck lab to stop; do not wait long for it (its thread is a daemon).
            await asyncio.to_thread(old.stop, 1.0)
            pause = self.interval
            while True:
                while self._held:
                    await asyncio.sleep(0.05)
                try:
                    await bridge.start_embedded_lab(self.make_config())
                    break
                except Exception:
                    log.exception("the lab did not restart; trying again in %.1f s", pause)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, self.max_pause)
            self.restarts += 1
            log.warning("the lab is running again (restart %d)", self.restarts)
        finally:
            labstate.set_restarting(False)
