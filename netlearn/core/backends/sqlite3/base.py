"""Django's SQLite backend, with the process's writers queued at a gate instead of SQLite's sleeps.

Why: with ``transaction_mode=IMMEDIATE`` every ``atomic()`` takes the database's write lock at
``BEGIN``. A thread that finds it taken waits in SQLite's busy handler, which does not wait for
the lock to be released: it sleeps 1, 2, 5, 10, 15, 20, 25 … up to 100 ms between tries, and any
thread that comes along between two tries takes the lock first. Under a class (two page threads
saving sessions, two journal flushers, a walk's start), py-spy found the page threads spending a
sixth of their time asleep in ``BEGIN IMMEDIATE`` while the lock was often free, and a page thread
held that long is what makes the worker turn learners away (``NETLEARN_MAX_QUEUE_DELAY``).

So the threads of one process first queue at a :class:`threading.Lock` per database file, taken
just before ``BEGIN`` and given back when the transaction ends (commit, rollback or a closed
connection): the next writer is woken the moment the last one is done, and SQLite's own busy
handler is left with the other processes' writers only (a walk finisher, ``manage.py``
beside the server). Nothing else changes: the same statements reach SQLite, in the same
transactions, and a writer that waits at the gate for longer than the database's ``timeout``
goes on to ``BEGIN`` without it, so SQLite's own timeout and "database is locked" error still
apply exactly as before. ``NETLEARN_SQLITE_WRITE_GATE=0`` turns the gate off (to compare).
"""
from __future__ import annotations

import os
import threading

from django.db.backends.sqlite3 import base

_gates: dict[str, threading.Lock] = {}
_gates_lock = threading.Lock()


def gate_for(name: str) -> threading.Lock:
    """The one gate of this process for the database file ``name``."""
    with _gates_lock:
        return _gates.setdefault(name, threading.Lock())


def gate_enabled() -> bool:
    return os.environ.get("NETLEARN_SQLITE_WRITE_GATE", "1") != "0"


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_gate: threading.Lock | None = None

    def _start_transaction_under_autocommit(self) -> None:
        if self._holds_gate is None and gate_enabled() and not self.is_in_memory_db():
            gate = gate_for(str(self.settings_dict["NAME"]))
            timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
            if gate.acquire(timeout=timeout):
                self._holds_gate = gate
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # private: not in the stubs
        except BaseException:
            self._leave_gate()
            raise

    def _set_autocommit(self, autocommit: bool) -> None:
        try:
            super()._set_autocommit(autocommit)  # type: ignore[misc]
        finally:
            if autocommit:  # the outermost atomic() has ended, committed or rolled back
                self._leave_gate()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]
        finally:
            self._leave_gate()

    def _leave_gate(self) -> None:
        gate, self._holds_gate = self._holds_gate, None
        if gate is not None:
            gate.release()
