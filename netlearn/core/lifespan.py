"""ASGI lifespan: start the embedded lab with the server and stop it cleanly with it.

The lab runs on its own event loop in its own thread, so the site's work does not distort the
lab's timings and a crash in the lab cannot take the site down: a supervisor task on the site's
loop starts a new lab when the old one dies or stops answering (``netlearn.walks.supervisor``).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings

from netlearn.core import labstate

log = logging.getLogger("netlearn.lifespan")


class LifespanApp:
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # noqa: BLE001 - report, never hang the server
                    log.exception("lab failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        await asyncio.to_thread(_progress_recover)
        if settings.NETLEARN_LAB_MODE != "embedded":
            return
        from netlearn.lab.topology import LabConfig
        from netlearn.walks.bridge import start_embedded_lab
        from netlearn.walks.supervisor import LabSupervisor

        def make_config() -> LabConfig:
            return LabConfig.ephemeral() if settings.NETLEARN_LAB_EPHEMERAL else LabConfig()

        await start_embedded_lab(make_config())
        self.supervisor = LabSupervisor(make_config).start()

    async def shutdown(self) -> None:
        await asyncio.to_thread(_progress_flush)
        supervisor = getattr(self, "supervisor", None)
        if supervisor is not None:  # first, so it does not restart the lab we are stopping
            await supervisor.stop()
            self.supervisor = None
        lab = labstate.get_lab()
        if lab is not None:
            from netlearn.walks.bridge import stop_embedded_lab

            await stop_embedded_lab()


def _progress_recover() -> None:
    """Write the progress a killed worker journalled but never wrote (netlearn.lessons.progress)."""
    from django.db import close_old_connections

    from netlearn.lessons import progress

    if not progress.write_behind():
        return
    try:
        progress.journal().recover()
    except Exception:  # noqa: BLE001 - the journal stays on disk; the flusher retries
        log.exception("progress journal: recovery failed at start-up")
    finally:
        close_old_connections()


def _progress_flush() -> None:
    from django.db import connection

    from netlearn.lessons import progress

    try:
        if progress.write_behind():
            progress.journal().close()
    finally:
        connection.close()
