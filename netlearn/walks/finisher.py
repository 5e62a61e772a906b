"""Storing a finished walk and rendering its final page in a child process of the worker
(``NETLEARN_FINISHER = "process"``, the default outside tests).

Why: with the lab in a child process of its own, the worker's one GIL was still spending about a
sixth of its time under a class on two things every walk does once it ends: storing the lab's
record on the walk's row (``services.walk_finish``, ~7 %) and rendering the page its sockets get
(``rendering.final_html``, ~10 %; py-spy, README “Where a class's time goes now”). Neither needs
the worker: the row is in the database, the render needs only the row. Here a second Django
process (the same settings, a database connection of its own) does both on the machine's other
core, and the worker only hands it the record and keeps the render it sends back, so the walk's
sockets get their page from memory (``rendering.prime_final``). The page is made in the language
of the learner who started the walk (the one watching it); a socket in another language gets its
render made in the worker when it asks, as before.

Both ends are the worker and its own child, started from the same code: frames are the lab's
(``netlearn.lab.wire``: a length, then a pickle) over a ``socketpair``. The child handles one
walk at a time, in order; it exits when the worker's end closes (worker stopped or killed).

Failure: a child that is gone, or answers with an error, costs nothing but time: the worker
stores and renders the walk itself, as without a finisher (``services._finish``), and the next
walk starts a new child. The record is never lost: it is in the worker until the child answers.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netlearn.lab.process import FrameProtocol
from netlearn.lab.wire import FrameReader, frame

log = logging.getLogger(__name__)
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: A child that has not answered for a walk within this long is taken for stuck and ended.
FINISH_TIMEOUT_SECONDS = 20.0
#: The worker's database names, by alias, handed to the child (JSON).
DATABASES_ENV = "NETLEARN_FINISHER_DATABASES"

#: (status, code, finished at) of the stored row (``rendering.state_of``) and its final page per
#: language; (None, {}) when the record was not stored (the walk had already ended).
Finished = tuple[tuple[str, str, str] | None, dict[str, str]]


class FinisherGone(Exception):
    """The child is not there (not started, ended, or its answer could not be read)."""


class Finisher:
    """The worker's end: starts the child, sends it finished walks, awaits its answers."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._process: subprocess.Popen[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Finished]] = {}

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_alive(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def start(self, timeout: float = 60.0) -> Finisher:
        """Start the child and wait until Django is set up in it. Blocks: call it off the site's
        loop (``asyncio.to_thread``); the last step runs on that loop."""
        from django.db import connections

        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(_PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p),
            # The very databases this worker uses (a test run's own, say), whatever the settings name.
            DATABASES_ENV: json.dumps({alias: str(connections[alias].settings_dict["NAME"]) for alias in connections})}
        try:
            self._process = subprocess.Popen([sys.executable, "-m", "netlearn.walks.finisher", str(theirs.fileno())],
                                             pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
                                             cwd=_PROJECT_ROOT)
        finally:
            theirs.close()
        try:
            ours.settimeout(timeout)
            reader = FrameReader()
            messages: list[Any] = []
            while not messages:
                data = ours.recv(1 << 16)
                if not data:
                    raise RuntimeError(f"the finisher ended while starting (exit code {self._process.wait(5)})")
                messages = reader.feed(data)
            if messages[0] != ("ready",):
                raise RuntimeError(f"the finisher did not start: {messages[0]!r}")
            ours.setblocking(False)
            asyncio.run_coroutine_threadsafe(self._connect(ours, reader), self._loop).result(timeout)
        except BaseException:
            ours.close()
            self._kill()
            raise
        return self

    async def _connect(self, sock: socket.socket, reader: FrameReader) -> None:
        transport, _ = await self._loop.connect_accepted_socket(
            lambda: FrameProtocol("the walk finisher", reader, self._on_message, self._on_lost), sock)
        self._transport = transport

    async def finish(self, finish: Callable[..., Any], cid: str, record: Any, topology: dict[str, str],
                     languages: list[str]) -> Finished:
        """Store ``record`` with ``finish`` (``services.walk_finish`` or ``action_finish``) and
        render the final page in each of ``languages``, in the child. On the site's loop."""
        if not self.is_alive():
            raise FinisherGone()
        call_id = next(self._ids)
        data = frame(("finish", call_id, finish, cid, record, topology, languages))
        future: asyncio.Future[Finished] = self._loop.create_future()
        self._pending[call_id] = future
        assert self._transport is not None
        self._transport.write(data)
        try:
            async with asyncio.timeout(FINISH_TIMEOUT_SECONDS):
                return await future
        except TimeoutError:
            # Stuck (a lock it never gets, say): every later walk would wait behind it. Ended here;
            # this walk is stored by the worker, and a new child starts for the next ones.
            log.error("the walk finisher did not answer within %s s: ended", FINISH_TIMEOUT_SECONDS)
            self.end()
            raise FinisherGone() from None
        finally:
            self._pending.pop(call_id, None)

    def end(self) -> None:
        """Kill the child now (without waiting: its end-of-file tells the worker it is gone)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()

    def _on_message(self, message: tuple[Any, ...]) -> None:
        future = self._pending.get(message[1])
        if future is None or future.done():
            return
        if message[0] == "done":
            future.set_result((message[2], message[3]))
        else:
            future.set_exception(RuntimeError(f"the finisher failed: {message[2]}"))

    def _on_lost(self, exc: Exception | None = None) -> None:
        self._transport = None
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(FinisherGone())

    def stop(self, timeout: float = 5.0) -> None:
        """Close the worker's end (the child reads end-of-file and exits) and reap the child."""
        transport = self._transport
        if transport is not None:
            self._loop.call_soon_threadsafe(transport.close)
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()

    def _kill(self) -> None:
        self.end()
        if self._process is not None:
            self._process.wait(5)


# -- the worker's one finisher -----------------------------------------------------------------
_current: Finisher | None = None
_starting = False
_wanted = False  # this worker runs a finisher (the lifespan started one and has not stopped it)


def current() -> Finisher | None:
    """This worker's finisher while its child runs; None: store and render here. A child found
    gone (killed, crashed, ended as stuck) is started again in the background meanwhile."""
    if _current is None:
        return None
    if _current.is_alive():
        return _current
    restart_soon(_current._loop)
    return None


async def start() -> None:
    """Start this worker's finisher (the lifespan calls it; :func:`current` calls
    :func:`restart_soon` when it finds the child gone). A child that fails to start leaves walks
    stored here, and the next walk tries again."""
    global _current, _starting, _wanted
    if _starting:
        return
    _starting = _wanted = True
    try:
        started = await asyncio.to_thread(Finisher(asyncio.get_running_loop()).start)
        _current = started
    except Exception:
        log.exception("the walk finisher did not start: walks are stored and rendered in the worker")
    finally:
        _starting = False


def restart_soon(loop: asyncio.AbstractEventLoop) -> None:
    """Start a new finisher on ``loop`` (the site's) in the background, from any thread; one
    start at a time."""
    def begin() -> None:
        if not _starting:
            task = loop.create_task(start())
            _background.add(task)
            task.add_done_callback(_background.discard)

    try:
        loop.call_soon_threadsafe(begin)
    except RuntimeError:  # the site's loop is closed: nothing to restart for
        pass


_background: set[asyncio.Task[None]] = set()


def describe() -> dict[str, Any]:
    """Where this worker's finished walks are stored, for /healthz: ``{"mode": "inline"}``, or
    ``{"mode": "process", "state": "running", "pid": N}``. While the child is gone, ``"state":
    "down"``, and ``"starting"`` once the next walk has asked for a new one: meanwhile the worker
    stores walks itself, none is lost. Reads only: a health check must not start a child."""
    finisher = _current
    if not _wanted:
        return {"mode": "inline"}
    if finisher is not None and finisher.is_alive():
        return {"mode": "process", "state": "running", "pid": finisher.pid}
    return {"mode": "process", "state": "starting" if _starting else "down"}


async def stop() -> None:
    global _current, _wanted
    _wanted = False
    finisher, _current = _current, None
    if finisher is not None:
        await asyncio.to_thread(finisher.stop)


# -- the child ---------------------------------------------------------------------------------
def _finish_one(finish: Callable[..., Any], cid: str, record: Any, topology: dict[str, str],
                languages: list[str]) -> Finished:
    from django.db import close_old_connections
    from django.utils import translation

    from . import rendering

    try:
        stored = finish(cid, record=record, topology=topology)
        if stored is None:
            return None, {}
        renders = {}
        for lang in languages:
            with translation.override(lang):
                renders[lang] = rendering.final_html(stored)
        return rendering.state_of(stored), renders
    finally:
        close_old_connections()


def main(argv: list[str]) -> int:
    import signal

    import django

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker's Ctrl-C is the worker's to handle
    django.setup()
    from django.db import connections

    for alias, name in json.loads(os.environ.get(DATABASES_ENV, "{}")).items():
        connections[alias].settings_dict["NAME"] = name
    sock = socket.socket(fileno=int(argv[0]))
    sock.sendall(frame(("ready",)))
    reader = FrameReader()
    try:
        while data := sock.recv(1 << 20):
            for message in reader.feed(data):
                sock.sendall(frame(_answer(message)))
    except OSError:  # the worker is gone or stopping: what was stored is stored
        pass
    return 0


def _answer(message: tuple[Any, ...]) -> tuple[Any, ...]:
    _, call_id, finish, cid, record, topology, languages = message
    try:
        return ("done", call_id, *_finish_one(finish, cid, record, topology, languages))
    except Exception as exc:  # the worker stores it itself then
        log.exception("finisher: walk %s", cid)
        return ("error", call_id, repr(exc))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
