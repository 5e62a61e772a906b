"""ASGI lifespan: start the site's background services with the server, stop them with it.

The base app knows only the interface (:class:`BackgroundService`); what runs (the embedded lab
and its supervisor) is chosen by the composition root, ``netlearn/background.py``, beside
``netlearn/asgi.py``. So ``core`` never imports the apps built on it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Protocol

log = logging.getLogger("netlearn.lifespan")

#: A background service that takes longer than this to stop is named in the log (``shutdown``).
SLOW_STOP_SECONDS = 1.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class BackgroundService(Protocol):
    """Something that runs as long as the server does."""

    async def start(self) -> None:
        """Start; raising fails the server's start-up with the error's message."""

    async def stop(self) -> None:
        """Stop and release everything; called once at shutdown, in reverse order of start."""


class LifespanApp:
    """The ASGI ``lifespan`` protocol over a list of :class:`BackgroundService`."""

    def __init__(self, services: Sequence[BackgroundService] = ()) -> None:
        self.services = list(services)
        self.started: list[BackgroundService] = []

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("a background service failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        for service in self.services:
            await service.start()
            self.started.append(service)

    async def shutdown(self) -> None:
        """Stop the started services, last first. One that takes more than
        :data:`SLOW_STOP_SECONDS` is named in the log with its time: a process manager kills a
        worker that overruns its stop timeout, and the log is then all that says which part hung."""
        while self.started:
            service = self.started.pop()
            began = time.monotonic()
            try:
                await service.stop()
            except Exception:
                log.exception("a background service failed to stop")
            elapsed = time.monotonic() - began
            if elapsed > SLOW_STOP_SECONDS:
                log.warning("%s took %.1f s to stop", type(service).__name__, elapsed)
