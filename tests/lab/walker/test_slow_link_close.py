"""Compare mode's slow link closes cleanly: no write fires on a closed transport.

The lab runs on uvloop (as in production): a delayed write that comes due after the connection
closed raised ``RuntimeError: unable to perform operation on <TCPTransport closed=True ...>``
inside a loop callback, and every POST /walk/compare/ logged that traceback. The loop's
exception handler is where such errors land, so the test records what reaches it.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from netlearn.lab.compare import compare_protocols
from netlearn.lab.runner import LabThread
from netlearn.lab.topology import LabConfig
from netlearn.lab.walker.slowlink import SlowLink


@pytest.fixture
def uvloop_lab():
    lab = LabThread(LabConfig.ephemeral()).start()
    try:
        yield lab
    finally:
        lab.stop()


def test_compare_with_added_latency_leaves_nothing_for_the_loops_exception_handler(uvloop_lab) -> None:
    reported: list[dict[str, Any]] = []
    installed = threading.Event()

    def install() -> None:
        uvloop_lab.loop.set_exception_handler(lambda loop, context: reported.append(context))
        installed.set()

    uvloop_lab.loop.call_soon_threadsafe(install)
    assert installed.wait(10)
    assert type(uvloop_lab.loop).__module__.startswith("uvloop")
    for _ in range(2):
        rows = uvloop_lab.submit(
            lambda lab: compare_protocols(lab, "https://shop.netlearn.test/", added_rtt_ms=20)
        ).result(60)
        assert [row.status for row in rows] == ["done"] * 4, [(r.key, r.code) for r in rows]
    # The first comparison's straggling timers (the old code's delayed writes) came due during the
    # second one, which lasts far longer than one added delay.
    assert [(c.get("message"), repr(c.get("exception"))) for c in reported] == []


async def test_a_send_due_after_the_transport_closed_is_dropped_not_raised() -> None:
    closed = False
    written: list[bytes] = []

    def write(data: bytes) -> None:
        if closed:
            raise RuntimeError("unable to perform operation on a closed transport")
        written.append(data)

    link = SlowLink(0.01, closing=lambda: closed)
    link.send(write, b"first")
    await link.drained()
    link.send(write, b"late")
    closed = True
    await link.drained()
    assert written == [b"first"] and link.in_flight == 0


async def test_drained_waits_for_every_delayed_send_in_order() -> None:
    written: list[bytes] = []
    link = SlowLink(0.02, closing=lambda: False)
    for part in (b"a", b"b", b"c"):
        link.send(written.append, part)
    assert written == [] and link.in_flight == 3
    await link.drained()
    assert written == [b"a", b"b", b"c"]
