"""The SQLite write gate (``netlearn.core.backends.sqlite3``): a process's writers queue at a lock
that the last one hands over when its transaction ends, instead of sleeping in SQLite's busy
handler; and it changes nothing else (rollbacks, closed connections and a gate held too long all
end as before). Real threads, each with its own connection to the real test database file."""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import FrameType

import pytest
from django.contrib.sessions.models import Session
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from netlearn.core.backends.sqlite3 import base as gated

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the gate is SQLite's"),
]

GATE_FILE = Path(gated.__file__).resolve()


def _row(key: str) -> None:
    Session.objects.create(session_key=key, session_data="", expire_date=timezone.now() + timedelta(days=1))


def _keys() -> set[str]:
    return set(Session.objects.values_list("session_key", flat=True))


class Writer(threading.Thread):
    """A thread that runs ``work`` inside ``atomic()`` on its own connection, then keeps that
    connection open (as a worker's pooled thread does) until ``linger`` is set, then closes it."""

    def __init__(self, work: Callable[[], None], *, hold: threading.Event | None = None,
                 linger: threading.Event | None = None) -> None:
        super().__init__(daemon=True)
        self.work, self.hold, self.linger = work, hold, linger
        self.inside = threading.Event()
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self.gate_held_after = True

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.work()
                self.inside.set()
                if self.hold is not None:
                    self.hold.wait(30)
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            self.error = exc
        finally:
            # Given back when the transaction ended, not when the connection closes.
            self.gate_held_after = _gate().locked()
            self.ended.set()
            if self.linger is not None:
                self.linger.wait(30)
            connections.close_all()


def _gate() -> threading.Lock:
    return gated.gate_for(str(connections["default"].settings_dict["NAME"]))


def _innermost_frame_of_interest(thread: threading.Thread) -> FrameType | None:
    """Where ``thread`` is blocked: its innermost frame in our gate or in Django's SQLite cursor."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        name = frame.f_code.co_filename
        if Path(name).resolve() == GATE_FILE or name.endswith("django/db/backends/sqlite3/base.py"):
            return frame
        frame = frame.f_back
    return None


def _blocked_where(thread: threading.Thread) -> str:
    """"gate" or "sqlite": where the thread waits to begin its transaction (polled until it does)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        frame = _innermost_frame_of_interest(thread)
        if frame is not None and frame.f_code.co_name in {"_start_transaction_under_autocommit", "execute"}:
            return "gate" if Path(frame.f_code.co_filename).resolve() == GATE_FILE else "sqlite"
        time.sleep(0.01)
    raise AssertionError(f"{thread.name} never blocked on its BEGIN")


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # never leave a holder behind, whatever the test did


def test_the_engine_is_the_gated_one() -> None:
    assert isinstance(connections["default"], gated.DatabaseWrapper)


def test_a_second_writer_waits_at_the_gate_and_goes_in_when_the_first_commits(release: threading.Event) -> None:
    linger = threading.Event()
    first = Writer(lambda: _row("first"), hold=release, linger=linger)
    first.start()
    assert first.inside.wait(10)
    second = Writer(lambda: _row("second"))
    second.start()

    assert _blocked_where(second) == "gate"  # not asleep in SQLite's busy handler
    assert not second.inside.is_set()
    release.set()
    # The first keeps its connection open: its commit alone lets the second in.
    assert second.ended.wait(10)
    linger.set()
    first.join(10)
    second.join(10)

    assert first.error is None and second.error is None
    assert _keys() == {"first", "second"}
    assert not _gate().locked()


def test_without_the_gate_the_second_writer_waits_inside_sqlite(
        release: threading.Event, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can tell the two apart: switched off, the waiter is in SQLite's BEGIN."""
    monkeypatch.setenv("NETLEARN_SQLITE_WRITE_GATE", "0")
    first = Writer(lambda: _row("first"), hold=release)
    first.start()
    assert first.inside.wait(10)
    second = Writer(lambda: _row("second"))
    second.start()

    assert _blocked_where(second) == "sqlite"
    release.set()
    first.join(10)
    second.join(10)
    assert first.error is None and second.error is None
    assert _keys() == {"first", "second"}


def test_a_rolled_back_transaction_gives_the_gate_back() -> None:
    def fail() -> None:
        _row("rolled back")
        raise ValueError("the view failed")

    failing = Writer(fail)
    failing.start()
    failing.join(10)
    assert isinstance(failing.error, ValueError)
    assert failing.gate_held_after is False  # given back by the rollback, before the connection closed

    after = Writer(lambda: _row("after"))
    after.start()
    after.join(10)
    assert after.error is None
    assert _keys() == {"after"}
    assert not _gate().locked()


def test_a_connection_closed_inside_a_transaction_gives_the_gate_back() -> None:
    def close_midway() -> None:
        _row("lost")
        connection.close()  # e.g. a connection that failed mid-transaction

    closing = Writer(close_midway)
    closing.start()
    closing.join(10)

    after = Writer(lambda: _row("after"))
    after.start()
    after.join(10)
    assert after.error is None
    assert "after" in _keys() and "lost" not in _keys()
    assert not _gate().locked()


def test_a_gate_held_too_long_leaves_sqlite_to_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the database's timeout at the gate a writer begins anyway: with SQLite's lock free it
    writes; so the gate never fails what SQLite would have let through."""
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.3)
    gate = _gate()
    assert gate.acquire(timeout=10)  # held by hand, no transaction open
    try:
        writer = Writer(lambda: _row("through"))
        writer.start()
        writer.join(10)
        assert writer.error is None
        assert gate.locked()  # still ours: the writer did not take it, nor give back what it lacked
    finally:
        gate.release()
    assert _keys() == {"through"}


def test_with_sqlites_lock_held_elsewhere_the_error_is_sqlites_as_before(
        release: threading.Event, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process's writer (here: a raw connection of our own, outside the gate) holds the
    lock past the timeout: the waiter gets SQLite's "database is locked", as without the gate."""
    import sqlite3

    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.3)
    other = sqlite3.connect(str(connection.settings_dict["NAME"]), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        writer = Writer(lambda: _row("blocked"))
        writer.start()
        writer.join(20)
        assert isinstance(writer.error, OperationalError) and "locked" in str(writer.error)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not _gate().locked()
    assert _keys() == set()
