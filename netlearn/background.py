"""The composition root's background services: what runs beside the site in each worker.

``netlearn/asgi.py`` hands these to the lifespan (``netlearn.core.lifespan``), which knows only
their interface: the learners' progress journal (``ProgressJournal``), the embedded lab with the
supervisor that restarts it (``EmbeddedLab``) and the pages rendered ahead (``WarmPages``),
started in that order and stopped in reverse.
"""
from __future__ import annotations

import asyncio
import logging
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
    """Render the course's step and question pages into this worker's page caches at start-up
    (``netlearn.lessons.pagecache``), before the worker takes its first request.

    Why: a page's first request in a worker renders it on a pooled thread (4-5 ms of CPU for a
    step page on the bench's host, plus the wait for a thread), and a class that starts together
    asks for dozens of first renders per worker in its first minute, while every other page is
    served on the loop in ~0.1 ms; those renders were the classroom bench's slowest step pages.
    The cost is paid once, before the worker answers (on this host ~2 s for 174 steps and 226
    questions in 2 languages), and the pages are in the start-up heap that ``SettledHeap``
    freezes next. A course saved later (a new content version) is rendered page by page again on
    first request, as before. A failure is logged and leaves the pages to their first request:
    a worker must start even if the warm-up cannot. ``NETLEARN_WARM_PAGES=0`` turns it off."""

    async def start(self) -> None:
        if settings.NETLEARN_WARM_PAGES:
            await asyncio.to_thread(warm_pages)

    async def stop(self) -> None:
        """Nothing to release."""


def warm_pages() -> tuple[int, int]:
    """Render the pages (:class:`WarmPages`); returns (step pages, question pages) rendered."""
    import time

    from django.db import close_old_connections

    from netlearn.core import contentversion
    from netlearn.core.i18n import LANGS
    from netlearn.lessons.views import warm_step_pages
    from netlearn.quizzes.views import warm_question_pages

    began = time.monotonic()
    steps = questions = 0
    try:
        version = contentversion.current()
        steps = warm_step_pages(version, LANGS)
        questions = warm_question_pages(version, LANGS)
    except Exception:
        log.exception("page warm-up failed after %d step and %d question pages; the rest render on first request",
                      steps, questions)
    else:
        log.info("page warm-up: %d step and %d question pages rendered in %.1f s", steps, questions,
                 time.monotonic() - began)
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
