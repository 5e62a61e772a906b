"""The lab in a process of its own, started and owned by a site worker.

Theory of operation
-------------------
Embedded in a thread (:class:`~netlearn.lab.runner.LabThread`), the lab's Python shares the
worker's one GIL with the site: measured under a class (issue 18), the lab's ~11 ms of Python per
walk ran in slices between the site's pages, and every hand-off of the GIL between the two loops
could hold a step page for milliseconds, while the machine's second core sat mostly idle.
:class:`LabProcess` runs the same :class:`~netlearn.lab.runner.Lab` in a child process instead
(``python -m netlearn.lab.process``), with the same surface as ``LabThread``: ``start``,
``submit``, ``call``, ``stream``, ``is_alive``, ``describe``, ``crash_for_test``, ``stop``. The
site's bridge, supervisor and pages do not know which one they hold.

The two talk over one ``socketpair`` in frames (:mod:`netlearn.lab.wire`):

* site → lab: ``("start", config)`` once, then ``("call", id, fn)`` (``fn(lab)`` is awaited on
  the lab's loop; ``fn`` crosses by pickle, so it must be importable: :mod:`netlearn.lab.calls`),
  ``("cancel", id)``, ``("stop",)`` and, for fault tests, ``("crash",)``;
* lab → site: ``("ready", endpoints)`` or ``("failed", why)``, then ``("result", id, value)``,
  ``("error", id, exception)``, ``("cancelled", id)`` and ``("events", [LabEvent, ...])``: the
  events that carry a walk's correlation id (the only ones the site's bridge takes), at most
  :data:`~netlearn.lab.stream.LIVE_EVENT_CAP` per walk, batched every ``EVENT_BATCH_SECONDS``. A
  call's events are sent before its result.

On the site's side the socket is an asyncio protocol on the site's own loop, so no extra thread
competes for the GIL: a walk's record (~45 KB) is unpickled there in ~0.7 ms. ``submit`` may be
called from any thread (it returns a ``concurrent.futures.Future``, as ``LabThread``'s does).

Failure: when the child dies (a crash, a kill, an out-of-memory), its end of the socket closes;
every call still waiting is cancelled at once (the walk is stored as failed with ``lab_error``)
and :meth:`LabProcess.is_alive` turns false, so the site's supervisor starts a new one. When the
site's worker dies, the child reads end-of-file and stops: no orphan keeps the lab's ports. The
child ignores SIGINT (a Ctrl-C in the terminal reaches the whole process group; the worker stops
it in order) and stops in order on SIGTERM.

Event timestamps are ``time.perf_counter()``, which on Linux is the system-wide monotonic clock,
so the child's timings compare with each other exactly as they did in a thread.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import logging
import operator
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from .events import LabEvent
from .runner import Lab
from .stream import LIVE_EVENT_CAP, EventStream
from .topology import LabConfig
from .wire import FrameReader, frame

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The child sends a walk's events to the site at most this often: one frame (one wake-up of the
#: site's loop) per batch instead of one per event. The site's live stream batches every 50 ms.
EVENT_BATCH_SECONDS = 0.01
#: Exit code of a child told to crash (fault tests), so the log says it was on purpose.
CRASH_EXIT_CODE = 70
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


async def _plain(fn: Callable[[Lab], T], lab: Lab) -> T:
    """:meth:`LabProcess.call`'s plain function, run on the lab's loop."""
    return fn(lab)


class LabProcess:
    """Runs a :class:`~netlearn.lab.runner.Lab` in a child process (see the module's docstring)."""

    def __init__(self, config: LabConfig | None = None, *, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config or LabConfig()
        #: Events of walks, as the child sends them, published on the site's loop.
        self.stream = EventStream()
        #: The lab's endpoints as the child reported them when it was ready.
        self.endpoints: dict[str, Any] = {}
        self.error: BaseException | None = None
        self._loop = loop
        self._loop_thread: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._open = False
        self._stopping = False
        self._ids = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future[Any]] = {}
        self._pending_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # -- start -----------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> LabProcess:
        """Start the child and wait until its lab runs. Blocks: call it off the site's loop
        (``asyncio.to_thread``), as the bridge does, because the last step runs on that loop."""
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(_PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "netlearn.lab.process", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env, cwd=_PROJECT_ROOT)
        finally:
            theirs.close()
        try:
            reader, early = self._handshake(ours, timeout)
            ours.setblocking(False)
            asyncio.run_coroutine_threadsafe(self._connect(ours, reader, early), self._loop).result(timeout)
        except BaseException:
            ours.close()
            self._kill()
            raise
        return self

    def _handshake(self, sock: socket.socket, timeout: float) -> tuple[FrameReader, list[Any]]:
        sock.settimeout(timeout)
        sock.sendall(frame(("start", self.config)))
        reader = FrameReader()
        messages: list[Any] = []
        try:
            while not messages:
                data = sock.recv(1 << 16)
                if not data:
                    code = self._process.wait(5) if self._process is not None else None
                    raise RuntimeError(f"the lab's process ended while starting (exit code {code})")
                messages = reader.feed(data)
        except TimeoutError:
            raise RuntimeError("the lab did not start in time") from None
        first, *early = messages
        if first[0] != "ready":
            raise RuntimeError(f"the lab failed to start: {first[1]}")
        self.endpoints = first[1]
        return reader, early

    async def _connect(self, sock: socket.socket, reader: FrameReader, early: list[Any]) -> None:
        self._loop_thread = threading.get_ident()
        transport, _ = await self._loop.connect_accepted_socket(
            lambda: FrameProtocol("the lab's process", reader, self._on_message, self._on_lost), sock)
        self._transport = transport
        self._open = True
        for message in early:
            self._on_message(message)

    # -- calls -----------------------------------------------------------------------------
    def submit(self, factory: Callable[[Lab], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Run ``factory(lab)`` on the lab's loop; thread-safe. ``factory`` must pickle."""
        if not self.is_alive():
            raise RuntimeError("the lab is not running")
        call_id = next(self._ids)
        data = frame(("call", call_id, factory))  # an unpicklable factory fails here, in the caller
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._pending_lock:
            self._pending[call_id] = future
        future.add_done_callback(functools.partial(self._settled, call_id))
        self._send(data)
        return future

    def call(self, fn: Callable[[Lab], T], timeout: float = 10.0) -> T:
        """Run a plain function on the lab's loop and wait for its result. Never on the site's
        loop: the answer arrives there, so waiting for it there would wait forever."""
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("LabProcess.call would block the site's loop: await submit() instead")
        return self.submit(functools.partial(_plain, fn)).result(timeout)

    def _settled(self, call_id: int, future: concurrent.futures.Future[Any]) -> None:
        with self._pending_lock:
            self._pending.pop(call_id, None)
        if future.cancelled() and self._open:  # the caller gave up (a deadline): stop the work too
            self._send(frame(("cancel", call_id)))

    def _send(self, data: bytes) -> None:
        if threading.get_ident() == self._loop_thread:
            self._write(data)
            return
        try:
            self._loop.call_soon_threadsafe(self._write, data)
        except RuntimeError:  # the site's loop is closed: the child reads end-of-file and stops
            pass

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    # -- what the child says ---------------------------------------------------------------
    def _on_message(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "events":
            publish = self.stream.publish
            for event in message[1]:
                publish(event)
            return
        with self._pending_lock:
            future = self._pending.get(message[1])
        if future is None or future.done():
            return
        if kind == "result":
            future.set_result(message[2])
        elif kind == "error":
            future.set_exception(message[2])
        elif kind == "cancelled":
            future.cancel()

    def _on_lost(self, exc: Exception | None) -> None:
        """The child's end closed: it exited (or was told to stop). Cancel every waiting call."""
        self._open = False
        if not self._stopping and self.error is None:
            self.error = exc or RuntimeError(f"the lab's process {self.pid} ended")
            log.error("the lab's process %s ended: %r", self.pid, self.error)
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.cancel()

    # -- state -----------------------------------------------------------------------------
    def is_alive(self) -> bool:
        """No system call: every page asks (``labstate.is_down``); the socket's end-of-file is
        how a death is noticed."""
        return self._open

    def describe(self) -> dict[str, Any]:
        if not self.is_alive():
            return {"state": "stopped" if self.error is None else "failed"}
        try:
            return {**self.call(operator.methodcaller("describe"), timeout=2.0), "process": self.pid}
        except Exception as exc:  # noqa: BLE001 - health must always answer
            return {"state": "unresponsive", "error": repr(exc)}

    def crash_for_test(self, error: BaseException | None = None) -> None:
        """Make the child exit at once, as a crash would: nothing of its orderly stop runs."""
        if not self.is_alive():
            raise RuntimeError("the lab is not running")
        self.error = error or RuntimeError("lab crashed on purpose (crash_for_test)")
        self._send(frame(("crash",)))

    def stop(self, timeout: float = 6.0) -> None:
        """Ask the child to stop in order and wait at most ``timeout``; then kill it."""
        self._stopping = True
        if self._open:
            self._send(frame(("stop",)))
        process = self._process
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("the lab's process %s did not stop within %.0f s: killed", process.pid, timeout)
                self._kill()
        transport = self._transport
        if transport is not None:
            try:
                self._loop.call_soon_threadsafe(transport.close)
            except RuntimeError:  # the site's loop is closed, and the socket with it
                pass

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(5)


class FrameProtocol(asyncio.Protocol):
    """The parent's end of a child's ``socketpair``, on the parent's loop (no thread): each message
    read goes to ``on_message``; a stream that breaks is closed (the child is treated as gone);
    ``on_lost`` when it ends. The lab's process and the walk finisher's both use it."""

    def __init__(self, name: str, reader: FrameReader, on_message: Callable[[tuple[Any, ...]], None],
                 on_lost: Callable[[Exception | None], None]) -> None:
        self.name = name
        self.reader = reader
        self.on_message = on_message
        self.on_lost = on_lost
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.reader.feed(data)
        except Exception:  # a broken stream: treat the child as gone
            log.exception("%s sent an unreadable frame", self.name)
            if self.transport is not None:
                self.transport.close()
            return
        for message in messages:
            self.on_message(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_lost(exc)


# -- the child ---------------------------------------------------------------------------------
class _LabEnd:
    """The child's end: runs calls on the lab, forwards walks' events, answers in frames."""

    def __init__(self, lab: Lab, writer: asyncio.StreamWriter) -> None:
        self.lab = lab
        self.writer = writer
        self.calls: dict[int, asyncio.Task[None]] = {}
        self._events: list[LabEvent] = []
        self._sent: dict[str, int] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.done = asyncio.Event()

    def on_event(self, event: LabEvent) -> None:  # every event of the lab, on its loop: be quick
        """Queue a walk's event for the next batch. Only ever on the lab's loop: an event published
        from another thread (as the bridge allows) is handed to the loop whole, so the batch is
        never swapped for a fresh list under an append (which would lose that event)."""
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self.on_event, event)
            return
        cid = event.correlation_id
        if cid is None:
            return
        sent = self._sent.get(cid, 0)
        if sent >= LIVE_EVENT_CAP:
            return
        if len(self._sent) > 4096:  # walks long finished; a live one only loses its count
            self._sent.clear()
        self._sent[cid] = sent + 1
        self._events.append(event)
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_later(EVENT_BATCH_SECONDS, self.flush)

    def flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._events:
            events, self._events = self._events, []
            self.writer.write(frame(("events", events)))

    def handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "call":
            call_id = message[1]
            self.calls[call_id] = asyncio.get_running_loop().create_task(self._answer(call_id, message[2]))
        elif kind == "cancel":
            task = self.calls.get(message[1])
            if task is not None:
                task.cancel()
        elif kind == "stop":
            self.done.set()
        elif kind == "crash":
            os._exit(CRASH_EXIT_CODE)

    async def _answer(self, call_id: int, fn: Callable[[Lab], Awaitable[Any]]) -> None:
        try:
            reply: tuple[Any, ...] = ("result", call_id, await fn(self.lab))
        except asyncio.CancelledError:
            reply = ("cancelled", call_id)
        except Exception as exc:  # noqa: BLE001 - the caller gets it, as from a thread's future
            reply = ("error", call_id, exc)
        finally:
            self.calls.pop(call_id, None)
        self.flush()  # the call's events before its result
        try:
            data = frame(reply)
        except Exception as exc:  # noqa: BLE001 - an answer that does not pickle is an error, not a hang
            data = frame(("error", call_id, RuntimeError(f"the lab's answer could not be sent: {exc!r}")))
        self.writer.write(data)


async def _serve(sock: socket.socket) -> int:
    reader, writer = await asyncio.open_connection(sock=sock)
    frames = FrameReader()
    pending: list[Any] = []
    while not pending:
        data = await reader.read(1 << 16)
        if not data:
            return 0
        pending = frames.feed(data)
    start, *pending = pending
    lab = Lab(start[1])
    try:
        await lab.start()
    except BaseException as exc:  # noqa: BLE001 - told to the site, which retries
        writer.write(frame(("failed", repr(exc))))
        await writer.drain()
        return 1
    end = _LabEnd(lab, writer)
    lab.stream.subscribe(end.on_event)
    writer.write(frame(("ready", lab.endpoints())))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, end.done.set)

    async def read() -> None:
        for message in pending:
            end.handle(message)
        while not end.done.is_set():
            data = await reader.read(1 << 16)
            if not data:  # the site's worker is gone
                break
            for message in frames.feed(data):
                end.handle(message)
        end.done.set()

    reading = loop.create_task(read())
    await end.done.wait()
    reading.cancel()
    for task in list(end.calls.values()):
        task.cancel()
    await lab.stop()
    await asyncio.gather(reading, *end.calls.values(), return_exceptions=True)
    end.flush()
    writer.close()
    return 0


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="lab[%(process)d] %(levelname)s %(name)s: %(message)s")
    sock = socket.socket(fileno=int(argv[1]))
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is pinned
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_serve(sock))
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
