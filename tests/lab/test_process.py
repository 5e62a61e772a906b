"""The lab in a child process (``netlearn.lab.process``), driven as the site drives it: calls by
pickle over a socketpair, events back in batches, the child's death noticed at once."""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import operator
import os
import signal
import socket
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


def test_events_published_from_other_threads_are_batched_on_the_lab_loop_and_all_arrive() -> None:
    """The child's end batches a walk's events on the lab's loop and swaps the batch for a fresh
    list every 10 ms. An event published from another thread must not be appended from that thread
    (an append racing the swap would land in a batch already sent): it is handed to the loop. Here
    4 threads publish 1,000 events each (50 walks apiece, under the live cap) while the loop is
    held: nothing is in the batch until the loop runs; then the frames read from the socket carry
    every event, each thread's in the order it published them."""
    from netlearn.lab.process import _LabEnd

    each = 1000

    async def scenario() -> list[LabEvent]:
        site, child = socket.socketpair()
        _, writer = await asyncio.open_connection(sock=child)
        end = _LabEnd(lab=None, writer=writer)  # type: ignore[arg-type]  # no call reaches the lab

        def publish(n: int) -> None:
            for i in range(each):
                end.on_event(LabEvent("client", 7, Kind.STEP, f"{n}:{i}", correlation_id=f"walk-{n}-{i % 50}"))

        threads = [threading.Thread(target=publish, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()  # the loop is held meanwhile
        assert end._events == [] and end._sent == {}, "published from a thread, appended there"
        await eventually(lambda: sum(end._sent.values()) == 4 * each, "every event queued on the lab's loop")
        end.flush()
        await writer.drain()
        writer.close()
        received: list[LabEvent] = []
        reader = FrameReader()
        site.setblocking(True)
        while data := await asyncio.to_thread(site.recv, 65536):
            for message in reader.feed(data):
                assert message[0] == "events"
                received.extend(message[1])
        site.close()
        return received

    received = asyncio.run(scenario())
    assert len(received) == 4 * each
    for n in range(4):
        mine = [int(e.summary.split(":")[1]) for e in received if e.correlation_id.startswith(f"walk-{n}-")]
        assert mine == list(range(each)), "a thread's events arrive in the order it published them"
