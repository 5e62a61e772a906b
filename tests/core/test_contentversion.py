"""The content version in the embedded configuration (netlearn.core.contentversion): kept in
memory, so a cached page costs no syscall for it, yet a bump in this process is seen by the very
next call and a bump written by another process within ``REREAD_INTERVAL``."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from netlearn.core import contentversion

ROOT = Path(__file__).resolve().parents[2]


class _StoppedClock:
    """Stands in for ``time.monotonic``: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def embedded() -> Iterator[None]:
    """The file configuration (no shared cache), starting and ending with nothing in memory."""
    if contentversion._shared_cache():
        pytest.skip("the content version lives in the shared cache (REDIS_URL) here")
    contentversion._known = None
    yield
    contentversion._known = None


@pytest.fixture
def clock(embedded, monkeypatch) -> _StoppedClock:
    stopped = _StoppedClock()
    monkeypatch.setattr(contentversion, "_clock", stopped)
    return stopped


def _file_version() -> str:
    return (Path(settings.DATA_DIR) / "content-version").read_text(encoding="ascii")


def _write_as_another_process_would(version: str) -> None:
    """What ``_write_file`` does in another process: a new file put in place atomically."""
    path = Path(settings.DATA_DIR) / "content-version"
    tmp = path.with_name(f"{path.name}.test-{os.getpid()}")
    tmp.write_text(version, encoding="ascii")
    os.replace(tmp, path)


def test_a_bump_in_this_process_is_seen_by_the_very_next_call(clock) -> None:
    before = contentversion.current()
    contentversion.bump()  # the clock has not moved: only the bump itself can make this call see it
    after = contentversion.current()
    assert after != before
    assert after == _file_version()


def test_calls_within_the_bound_answer_from_memory_and_the_next_one_reads_the_file(clock) -> None:
    remembered = contentversion.current()
    _write_as_another_process_would("written-elsewhere")
    clock.now += contentversion.REREAD_INTERVAL / 2
    assert contentversion.current() == remembered  # no file read: the outside write is not seen yet
    clock.now += contentversion.REREAD_INTERVAL / 2
    assert contentversion.current() == "written-elsewhere"


def test_a_reader_that_started_before_a_bump_in_this_process_does_not_hide_it(clock, monkeypatch) -> None:
    """Page threads call it too: a read of the old file that finishes after this process's bump
    must not replace the bump's version in memory."""
    contentversion.current()
    clock.now += contentversion.REREAD_INTERVAL  # the next call reads the file
    real_open = open

    def open_then_bump(*args, **kwargs):  # type: ignore[no-untyped-def]
        f = real_open(*args, **kwargs)
        monkeypatch.setattr(contentversion, "open", real_open, raising=False)
        contentversion.bump()  # another thread's bump, between this reader's open and its store
        return f

    monkeypatch.setattr(contentversion, "open", open_then_bump, raising=False)
    contentversion.current()
    assert contentversion.current() == _file_version()


def _bump_in_another_process() -> str:
    code = ("import django; django.setup()\n"
            "from netlearn.core import contentversion\n"
            "contentversion.bump()\n"
            "print(contentversion.current())\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(DJANGO_SETTINGS_MODULE="netlearn.settings.test", NETLEARN_DATA_DIR=str(settings.DATA_DIR))
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.strip()


def test_a_bump_written_by_another_process_is_seen_within_the_bound(embedded) -> None:
    before = contentversion.current()
    written = _bump_in_another_process()
    finished = time.monotonic()
    assert written and written != before
    # Waiting for the clock is what is tested here: from REREAD_INTERVAL after the other process
    # wrote, every call must answer its version (whatever this process read in between).
    while (left := finished + contentversion.REREAD_INTERVAL - time.monotonic()) > 0:
        time.sleep(left)
    assert contentversion.current() == written
