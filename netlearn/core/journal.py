"""A write-ahead journal: records are appended to a local file on the hot path and applied to the
database in batches by a background thread, so a page view never waits for a database write.

Why a file and not only memory: a record must survive the worker being killed (SIGKILL, OOM,
a power cut of the process) between the page and the batch. ``os.write`` to an ``O_APPEND`` file
hands the bytes to the kernel (~5 µs, no fsync: the kernel keeps them if the *process* dies; a
machine crash may lose the last few seconds, like SQLite's ``synchronous=NORMAL``).

Segments and ownership: each process appends to its own segment file and holds an exclusive
``flock`` on it. A flush swaps in a new segment, applies the old one's records, then deletes it.
``recover()`` applies and deletes every segment nobody holds a lock on: those of a dead process
(the kernel drops a dead process's locks) and those whose batch failed. Applying must therefore
be idempotent (an upsert that ignores rows already there): a segment may be applied twice when a
process dies between the database write and the delete, and that must change nothing.
"""
from __future__ import annotations

import atexit
import errno
import fcntl
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger("netlearn.journal")

Record = tuple[str, ...]
Apply = Callable[[Sequence[Record]], None]
SUFFIX = ".journal"


class WriteAheadJournal:
    """Append records (tuples of tab-free strings); ``apply`` gets them in batches, at least once."""

    def __init__(self, directory: Path, apply: Apply, *, interval: float = 0.25, recover_every: float = 10.0,
                 autostart: bool = True) -> None:
        self.directory = Path(directory)
        self.autostart = autostart  # False: only explicit flush()/recover() (tests drive it by hand)
        self.apply = apply
        self.interval = interval
        self.recover_every = recover_every
        self._lock = threading.Lock()  # guards the segment and the pending list
        self._flush_lock = threading.Lock()  # one batch at a time
        self._fd: int | None = None
        self._path: Path | None = None
        self._pending: list[Record] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    # -- the hot path ------------------------------------------------------------------------
    def append(self, record: Record) -> None:
        line = ("\t".join(record) + "\n").encode()
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's segment and thread are not ours
                self._fd, self._path, self._pending, self._thread, self._pid = None, None, [], None, os.getpid()
            if self._fd is None:
                self._open_segment()
            assert self._fd is not None
            written = os.write(self._fd, line)
            if written != len(line):  # the disk filled up mid-line: take the piece back, report it
                os.ftruncate(self._fd, os.lseek(self._fd, 0, os.SEEK_END) - written)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self._pending.append(record)
            if self._thread is None and self.autostart:
                self._start_flusher()

    def pending(self) -> list[Record]:
        with self._lock:
            return list(self._pending)

    # -- batches -------------------------------------------------------------------------------
    def flush(self) -> int:
        """Apply this process's pending records now; returns how many. On failure they stay pending
        (and on disk) and the next flush tries again."""
        with self._flush_lock:
            with self._lock:
                if not self._pending:
                    return 0
                records, fd, path = self._pending, self._fd, self._path
                self._pending, self._fd, self._path = [], None, None
            try:
                self.apply(records)
            except Exception:
                log.exception("journal: %d records not applied yet; kept in %s", len(records), path)
                with self._lock:
                    self._pending[:0] = records
                    if fd is not None:
                        os.close(fd)  # unlocked: recover() (here or in another process) may apply it too
                return 0
            if path is not None:
                _unlink(path)
            if fd is not None:
                os.close(fd)
            return len(records)

    def recover(self) -> int:
        """Apply and delete every segment no live process holds (a killed worker's, a failed batch's)."""
        applied = 0
        if not self.directory.exists():
            return 0
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process's segment
                with os.fdopen(os.dup(fd), "rb") as f:
                    records = _parse(f.read())
                if records:
                    self.apply(records)
                    applied += len(records)
                _unlink(path)
            except Exception:
                log.exception("journal: could not recover %s", path)
            finally:
                os.close(fd)
        if applied:
            log.info("journal: recovered %d records", applied)
        return applied

    def close(self) -> None:
        """Stop the flusher and apply what is pending (server shutdown)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self._thread = None  # a later append starts a new flusher
        self.flush()

    # -- internals -----------------------------------------------------------------------------
    def _open_segment(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:12]}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd, self._path = fd, path

    def _start_flusher(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="journal-flusher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from django.db import close_old_connections

        since_recover = self.recover_every  # recover once at start: a previous run's leftovers
        while not self._stop.is_set():
            close_old_connections()
            if since_recover >= self.recover_every:
                since_recover = 0.0
                try:
                    self.recover()
                except Exception:
                    log.exception("journal: recovery failed")
            self._wake.wait(self.interval)  # gather a batch
            since_recover += self.interval
            self.flush()


def _parse(data: bytes) -> list[Record]:
    """Whole lines only: a line cut short by a crash mid-write is dropped, not misread."""
    records = []
    for line in data.split(b"\n"):
        if line:
            try:
                records.append(tuple(line.decode().split("\t")))
            except UnicodeDecodeError:
                continue
    if data and not data.endswith(b"\n") and records:
        records.pop()
    return records


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def process_journal(directory: Path, apply: Apply, *, interval: float) -> WriteAheadJournal:
    """A journal for this process's writes behind, closed (flushed) at its exit too: servers
    without a lifespan (gunicorn, ``manage.py``) flush it that way."""
    journal = WriteAheadJournal(directory, apply, interval=interval)
    atexit.register(journal.close)
    return journal
