"""The composition root's background services: what runs beside the site in each worker.

``netlearn/asgi.py`` hands these to the lifespan (``netlearn.core.lifespan``), which knows only
their interface: the learners' progress journal (``ProgressJournal``), the embedded lab with the
supervisor that restarts it (``EmbeddedLab``) and the pages rendered ahead (``WarmPages``),
started in that order and stopped in reverse.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings

from netlearn.core import labstate
from netlearn.lab.topology import LabConfig

if TYPE_CHECKING:
    from netlearn.walks.supervisor import LabSupervisor


log = logging.getLogger("netlearn.lifespan")


class ProgressJournal:
    """Lesson progress, practice answers and new learners' sessions are written behind
    (``netlearn.lessons.progress``, ``netlearn.quizzes.answerlog``, ``netlearn.core.sessions``):
    at start-up, write what a killed worker journalled but never wrote; at shutdown, flush the
    journals."""

    async def start(self) -> None:
        await asyncio.to_thread(_progress_recover)

    async def stop(self) -> None:
        await asyncio.to_thread(_progress_flush)


def _journals() -> list[tuple[str, Any]]:
    """The write-behind journals by name: new sessions, lesson progress, practice answers."""
    from netlearn.core import sessions
    from netlearn.lessons import progress
    from netlearn.quizzes import answerlog

    return [("session", sessions), ("progress", progress), ("answer", answerlog)]


def _progress_recover() -> None:
    from django.db import close_old_connections

    try:
        for name, module in _journals():
            if not module.write_behind():
                continue
            try:
                module.journal().recover()
            except Exception:
                log.exception("%s journal: recovery failed at start-up", name)  # stays on disk; the flusher retries
    finally:
        close_old_connections()


def _progress_flush() -> None:
    from django.db import connection

    try:
        for name, module in reversed(_journals()):
            try:
                if module.write_behind():
                    module.journal().close()
            except Exception:
                log.exception("%s journal: not flushed at shutdown; kept on disk for the next start", name)
    finally:
        connection.close()


class WarmPages:
    """Render the course's step and question pages into this worker's page caches
    (``netlearn.lessons.pagecache``) on a thread of their own, from start-up on.

    Why: a page's first request in a worker renders it on a pooled thread (3-5 ms of CPU for a
    step page on the bench's host, plus the wait for a thread), where every later request for it
    is served on the loop in ~0.1 ms; a class that starts together asks for dozens of first
    renders per worker in its first minute. Rendered ahead, the first learner's page is served
    like the rest. Measured: the course (174 steps, 226 questions, 2 languages) in ~2.5 s of CPU
    and +34 MB of RSS per worker; the classroom bench's step p99 moved within its run-to-run
    spread (README, "Inside each worker"). Why not before the first request: that delayed
    ``make run``'s first page by the same 2.5 s (more on a slower laptop), and a worker restarted
    under load would answer nothing meanwhile; until the warm-up is done, a page not rendered yet
    is rendered on first request, as before. A course saved later (a new content version) is
    rendered page by page on first request. A failure is logged, and the pages left render on
    first request. ``NETLEARN_WARM_PAGES=0`` turns it off."""

    #: How long a stopping worker waits for the warm-up to notice (it checks between pages).
    STOP_WAIT_SECONDS = 5.0

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    async def start(self) -> None:
        if settings.NETLEARN_WARM_PAGES:
            self._stopped.clear()
            self._thread = threading.Thread(target=warm_pages, args=(self._stopped,), name="netlearn-warm-pages",
                                            daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        if self._thread is not None:
            self._stopped.set()
            await asyncio.to_thread(self._thread.join, self.STOP_WAIT_SECONDS)
            self._thread = None


def warm_pages(stopped: threading.Event | None = None) -> tuple[int, int]:
    """Render the pages (:class:`WarmPages`) until done, ``stopped`` or the course saved; returns
    (step pages, question pages) rendered, and logs them."""
    import time

    from django.db import close_old_connections

    from netlearn.core import contentversion
    from netlearn.core.i18n import LANGS
    from netlearn.lessons.views import warm_step_pages
    from netlearn.quizzes.views import warm_question_pages

    began = time.monotonic()
    steps = questions = 0
    version = ""

    def going() -> bool:
        """Not stopped, and the course not saved since: pages of an older version would only push
        the new version's out of the cache (it keeps one version) until the next request."""
        return not (stopped is not None and stopped.is_set()) and contentversion.current() == version

    try:
        version = contentversion.current()
        for _ in warm_step_pages(version, LANGS, going):
            steps += 1  # counted as they go: a failure's log says how far it got
        for _ in warm_question_pages(version, LANGS, going):
            questions += 1
    except Exception:
        log.exception("page warm-up failed after %d step and %d question pages; the rest render on first request",
                      steps, questions)
    else:
        log.info("page warm-up: %d step and %d question pages rendered in %.1f s%s", steps, questions,
                 time.monotonic() - began, "" if going() else " (stopped)")
    finally:
        close_old_connections()
    return steps, questions


def lab_config() -> LabConfig:
    """The lab's addresses and ports: kernel-chosen ports when several processes run labs."""
    return LabConfig.ephemeral() if settings.NETLEARN_LAB_EPHEMERAL else LabConfig()


class WalkFinisher:
    """The child process that stores finished walks and renders their final pages
    (``netlearn.walks.finisher``), when this worker runs a lab and ``NETLEARN_FINISHER = "process"``."""

    async def start(self) -> None:
        if settings.NETLEARN_FINISHER == "process" and settings.NETLEARN_LAB_MODE in ("embedded", "process"):
            from netlearn.walks import finisher

            await finisher.start()

    async def stop(self) -> None:
        from netlearn.walks import finisher

        await finisher.stop()


class EmbeddedLab:
    """The lab on its own thread and loop (``NETLEARN_LAB_MODE = "embedded"``) or in a child
    process (``"process"``), started with the server; a supervisor task on the site's loop starts a new lab when
    the old one dies or stops answering (``netlearn.walks.supervisor``)."""

    def __init__(self) -> None:
        self.supervisor: LabSupervisor | None = None

    async def start(self) -> None:
        if settings.NETLEARN_LAB_MODE not in ("embedded", "process"):
            return
        from netlearn.walks.bridge import start_embedded_lab
        from netlearn.walks.supervisor import LabSupervisor

        await start_embedded_lab(lab_config())
        self.supervisor = LabSupervisor(lab_config).start()

    async def stop(self) -> None:
        if self.supervisor is not None:  # first, so it does not restart the lab being stopped
            await self.supervisor.stop()
            self.supervisor = None
        if labstate.get_lab() is not None:
            from netlearn.walks.bridge import stop_embedded_lab

            await stop_embedded_lab()
