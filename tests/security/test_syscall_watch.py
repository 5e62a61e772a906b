"""The SSRF watch can fail: it sees a deliberate outside dial from every kind of socket the lab uses.

The dials run in a child process in an empty network namespace of its own (``unshare -n``), where
the kernel refuses every one of them with ENETUNREACH: nothing can leave the machine, yet each
system call is made, and the same watch the SSRF tests use (``strace`` attached by process id,
following threads started later) must report its destination.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security.outside_dialler import TARGETS
from tests.syscall_watch import SyscallWatch

DIALLER = Path(__file__).with_name("outside_dialler.py")


@pytest.fixture
def dialler():
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to run the deliberate outside dials in an empty namespace")
    child = subprocess.Popen(["unshare", "-n", sys.executable, str(DIALLER)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)

    def ask(command: str) -> str:
        child.stdin.write(command + "\n")
        child.stdin.flush()
        answer = child.stdout.readline()
        if not answer.startswith("ok"):
            raise RuntimeError(f"the dialler answered {answer!r}: {child.stderr.read()}")
        return answer

    try:
        yield child, ask
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def test_the_watch_sees_an_outside_dial_from_every_kind_of_socket(dialler) -> None:
    child, ask = dialler
    watch = SyscallWatch(child.pid, make_mark=lambda port: ask(f"mark {port}")).start()
    try:
        assert watch.outside() == set()  # only the watch's own loopback markers so far
        results = json.loads(ask("dial").removeprefix("ok "))
        # The kernel refused every dial before sending anything ...
        assert results == {name: "OSError: [Errno 101] Network is unreachable" for name in TARGETS}
        # ... and the watch saw each one's destination all the same.
        assert {host: port for host, port in watch.destinations} == {
            TARGETS["uvloop_open_connection"]: 80, TARGETS["uvloop_datagram_remote_addr"]: 53,
            TARGETS["uvloop_sendto"]: 53, TARGETS["plain_socket_connect"]: 80}
        assert watch.outside() == set(TARGETS.values())
        watch.stop()
    finally:
        watch.close()
