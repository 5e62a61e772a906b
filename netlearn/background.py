"""The composition root's background services: what runs beside the site in each worker.

``netlearn/asgi.py`` hands these to the lifespan (``netlearn.core.lifespan``), which knows only
their interface: the learners' progress journal (``ProgressJournal``) and the embedded lab with
the supervisor that restarts it (``EmbeddedLab``), started in that order and stopped in reverse.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from django.conf import settings

from netlearn.core import labstate
from netlearn.lab.topology import LabConfig

if TYPE_CHECKING:
    from netlearn.walks.supervisor import LabSupervisor


log = logging.getLogger("netlearn.lifespan")


class ProgressJournal:
    """Lesson progress and practice answers are written behind (``netlearn.lessons.progress``,
    ``netlearn.quizzes.answerlog``): at start-up, write what a killed worker journalled but never
    wrote; at shutdown, flush the journals."""

    async def start(self) -> None:
        await asyncio.to_thread(_progress_recover)

    async def stop(self) -> None:
        await asyncio.to_thread(_progress_flush)


def _progress_recover() -> None:
    from django.db import close_old_connections

    from netlearn.lessons import progress
    from netlearn.quizzes import answerlog

    try:
        for name, module in (("progress", progress), ("answer", answerlog)):
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

    from netlearn.lessons import progress
    from netlearn.quizzes import answerlog

    try:
        for name, module in (("answer", answerlog), ("progress", progress)):
            try:
                if module.write_behind():
                    module.journal().close()
            except Exception:
                log.exception("%s journal: not flushed at shutdown; kept on disk for the next start", name)
    finally:
        connection.close()


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
