"""The lab in a child process (``netlearn.lab.process``), driven as the site drives it: calls by
pickle over a socketpair, events back in batches, the child's death noticed at once."""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import operator
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import MappingProxyType

import pytest

from netlearn.lab import calls, control
from netlearn.lab.events import Endpoint, Kind, LabEvent
from netlearn.lab.process import LabProcess
from netlearn.lab.stream import LIVE_EVENT_CAP
from netlearn.lab.topology import LabConfig
from netlearn.lab.wire import FrameReader, frame
from tests.waiting import eventually, eventually_sync

ROOT = Path(__file__).resolve().parents[2]
URL = "http://shop.netlearn.test/"


async def _started() -> LabProcess:
    lab = LabProcess(LabConfig.ephemeral(), loop=asyncio.get_running_loop())
    await asyncio.to_thread(lab.start)
    return lab


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0) until its parent reaps it: read its state.
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return state == "Z"


def test_frames_survive_any_split_and_carry_read_only_details() -> None:
    event = LabEvent("dns", 7, Kind.QUERY, "A shop?", detail=MappingProxyType({"qname": "shop."}),
                     correlation_id="c1")
    data = frame(("events", [event])) + frame(("result", 3, {"ok": True}))
    reader = FrameReader()
    got = [message for byte in range(len(data)) for message in reader.feed(data[byte:byte + 1])]
    assert got[1] == ("result", 3, {"ok": True})
    (kind, [back]) = got[0]
    assert kind == "events" and back == event
    with pytest.raises(TypeError):  # still read-only, as the lab made it
        back.detail["qname"] = "other."  # type: ignore[index]


def test_a_walk_runs_in_the_child_and_its_events_reach_the_site_live() -> None:
    async def scenario() -> None:
        lab = await _started()
        try:
            assert lab.pid != os.getpid() and lab.endpoints["resolver"]["host"].startswith("127.")
            seen: list[LabEvent] = []
            lab.stream.subscribe(seen.append)
            work = functools.partial(calls.walk_and_topology, url=URL, correlation_id="w1", cold=True)
            record, topology = await asyncio.wrap_future(lab.submit(work))
            assert record.outcome.status == "done", record.outcome
            assert "client" in topology.values() and "backend-1" in topology.values()
            # Live events carried the walk's id, arrived before its result, and are the record's first.
            assert seen and {e.correlation_id for e in seen} == {"w1"}
            assert [e.summary for e in seen] == [e.summary for e in sorted(record.events, key=lambda e: e.ts)][
                :len(seen)]
            assert {e.kind for e in record.events} >= {Kind.QUERY, Kind.CONNECT}
            # From another thread, a plain call waits for its answer; on the site's loop it refuses.
            described = await asyncio.to_thread(lab.call, operator.methodcaller("describe"))
            assert described["state"] == "running"
            with pytest.raises(RuntimeError, match="block the site's loop"):
                lab.call(operator.methodcaller("describe"))
            # An error inside the lab comes back as the caller's exception.
            bad = functools.partial(control.apply, command={"op": "no-such-op"})
            with pytest.raises(control.ControlError, match="no-such-op"):
                await asyncio.wrap_future(lab.submit(bad))
            assert lab.is_alive()
        finally:
            await asyncio.to_thread(lab.stop)
        assert not lab.is_alive() and lab.error is None
        assert lab._process is not None and lab._process.returncode == 0

    asyncio.run(scenario())


def test_a_crash_cancels_the_calls_in_flight_and_the_child_is_gone() -> None:
    async def scenario() -> None:
        lab = await _started()
        for backend in (1, 2, 3, 4):  # every backend answers late: the walk is surely in flight
            command = {"op": "latency", "backend": backend, "seconds": 10}
            await asyncio.wrap_future(lab.submit(functools.partial(control.apply, command=command)))
        walk = lab.submit(functools.partial(calls.walk_and_topology, url=URL, correlation_id="w2"))

        def waiting_at_a_backend() -> bool:
            components = lab.call(operator.methodcaller("describe"))["components"]
            return sum(b["active_connections"] for b in components["backends"]) > 0

        deadline = asyncio.get_running_loop().time() + 20
        while not await asyncio.to_thread(waiting_at_a_backend):
            assert asyncio.get_running_loop().time() < deadline, "the walk never reached a backend"
            await asyncio.sleep(0.05)
        pid = lab.pid
        lab.crash_for_test()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wrap_future(walk)
        assert not lab.is_alive() and "crash_for_test" in str(lab.error)
        assert lab.describe() == {"state": "failed"}
        with pytest.raises(RuntimeError, match="not running"):
            lab.submit(calls.noop)
        await eventually(lambda: lab._process is not None and lab._process.poll() is not None, "the child exited")
        assert lab._process is not None and lab._process.returncode == 70 and _pid_gone(pid or 0)
        await asyncio.to_thread(lab.stop)

    asyncio.run(scenario())


def test_the_child_stops_when_the_site_worker_is_killed(tmp_path: Path) -> None:
    """SIGKILL the worker (no clean-up runs): its lab reads end-of-file and exits; no orphan keeps
    the lab's ports."""
    script = textwrap.dedent("""
        import asyncio, sys
        from netlearn.lab.process import LabProcess
        from netlearn.lab.topology import LabConfig

        async def main():
            lab = LabProcess(LabConfig.ephemeral(), loop=asyncio.get_running_loop())
            await asyncio.to_thread(lab.start)
            print(lab.pid, flush=True)
            await asyncio.sleep(3600)

        asyncio.run(main())
    """)
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert worker.stdout is not None
        child = int(worker.stdout.readline())
        assert not _pid_gone(child)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        eventually_sync(lambda: _pid_gone(child), "the orphaned lab process exited")
    finally:
        worker.kill()
        worker.wait(10)


def test_a_failed_start_is_reported_to_the_starter() -> None:
    """A port already taken: the child says why it failed, and the starter raises it."""
    async def scenario() -> None:
        first = await _started()
        try:
            taken = first.endpoints["l4"]
            config = dataclasses.replace(LabConfig.ephemeral(), l4=Endpoint(taken["host"], taken["port"]))
            lab = LabProcess(config, loop=asyncio.get_running_loop())
            with pytest.raises(RuntimeError, match="failed to start"):
                await asyncio.to_thread(lab.start)
            assert not lab.is_alive()
            assert lab._process is not None and lab._process.poll() is not None  # no child left behind
        finally:
            await asyncio.to_thread(first.stop)

    asyncio.run(scenario())


def test_threads_may_submit_while_the_loop_reads() -> None:
    """``submit`` from many threads at once: every answer reaches its own caller."""
    async def scenario() -> None:
        lab = await _started()
        try:
            answers: list[dict] = []
            lock = threading.Lock()

            def ask() -> None:
                got = lab.call(calls.topology_map)
                with lock:
                    answers.append(got)

            await asyncio.gather(*(asyncio.to_thread(ask) for _ in range(16)))
            assert len(answers) == 16 and all(a == answers[0] for a in answers) and "client" in answers[0].values()
        finally:
            await asyncio.to_thread(lab.stop)

    asyncio.run(scenario())


def test_a_comparison_and_a_try_it_action_cross_as_the_site_sends_them() -> None:
    """The compare page's four walks and a lesson's "try it" action, each sent as the site sends
    it (a ``functools.partial`` of an importable function) and answered with picklable records."""
    from netlearn.lab.compare import compare_protocols

    async def scenario() -> None:
        lab = await _started()
        try:
            rows = await asyncio.wrap_future(lab.submit(functools.partial(compare_protocols, url=URL)))
            assert len(rows) == 4 and len({row.key for row in rows}) == 4
            assert all(row.status == "done" and row.round_trips > 0 for row in rows), rows
            spec = {"kind": "dns_query", "name": "shop.netlearn.test", "type": "A"}
            work = functools.partial(calls.action_and_topology, spec=spec, correlation_id="a1")
            record, topology = await asyncio.wrap_future(lab.submit(work))
            assert record.error == "" and record.events and "resolver" in topology.values()
            assert {e.correlation_id for e in record.events} == {"a1"}
            # A busy demo: its record keeps every event, the live stream stops at the cap.
            live: list[LabEvent] = []
            lab.stream.subscribe(live.append, correlation_id="a2")
            spec = {"kind": "lb_distribution", "balancer": "l4", "algorithm": "round_robin", "requests": 40}
            work = functools.partial(calls.action_and_topology, spec=spec, correlation_id="a2")
            record, _ = await asyncio.wrap_future(lab.submit(work))
            assert record.error == "" and len(record.events) > LIVE_EVENT_CAP
            assert len(live) == LIVE_EVENT_CAP
        finally:
            await asyncio.to_thread(lab.stop)

    asyncio.run(scenario())
