"""bench/walk: how fast is a real walk, and how much of it is the lab's own network exchanges?

For 1, 10 and 100 walks started at once, prints walks/s, p50 and p95 from submit to last step,
and the share of that time the walker spent waiting on the network (DNS query → answer, TCP
connect, request → response); the rest is our overhead (event publishing, HTML parsing,
bookkeeping). Two levels are measured:

* ``lab``: ``Lab.walk`` on the lab's own loop (what the lab costs);
* ``site``: ``walks.services.walk_start`` through the bridge until the ``Walk`` row is stored
  (what a learner waits for, minus the browser). The site allows 24 walks at once, so 100 at
  once is measured at the lab level only.

Capture's cost (issue 13): ``--walks N`` single walks (default 100) with the lab capturing on lo
and as many with capture paused (frames rebuilt instead), alternating walk by walk on one lab so
that load from other jobs falls on both alike, each timed from submit until the walk is stored
(its last step); p50 and p95 of each, and what capture adds. From the capture timestamps it also
splits a walk's time into what the kernel alone spent (a SYN-ACK after its SYN, a bare ACK after
the segment it acknowledges: no user space involved) and everything between frames, which is the
lab's own Python (servers parsing, balancers choosing, the walker) and which the "network share"
above counts as network.

The lab's own CPU (issue 18, ``--lab-cpu``): the embedded lab is one thread of the site's
process, so every millisecond of its Python is taken from the site. ``--walks N`` single walks
(http://shop.netlearn.test/ and http://www.netlearn.test/, warm and cold resolver caches in turn,
capture on when possible, the site's live hand-off attached as in a worker) and, for each, the
lab thread's CPU from ``/proc/self/task/<tid>/schedstat`` (CPU time, not wall time: other jobs on
the cores do not count) and the CPU of turning the record into stored events (``event_dicts``:
anchoring events to frames); also the lab thread's CPU per second while idle (health checks).
Prints one JSON line.

A walk's worker CPU (issue 18): ``--cpu`` stores and renders ``--walks N`` real walks (HTTP,
HTTPS and a failed one in turn, on one embedded lab) in this process and prints, per walk, the
CPU time (``time.thread_time``: other jobs on the cores do not count) of storing it
(``services.walk_finish``), its final page (``rendering.final_html``, in English and in Korean,
each from the record in memory as a finishing walk's sockets get it) and its live steps
(``rendering.live_steps_html``, 8 events a message, as the bridge batches them); medians.

Run: ``make bench-walk`` (or ``.venv/bin/python bench/walk.py [--json] [--walks N] [--capture-only | --cpu |
--lab-cpu]``). ``--json`` prints one JSON line with every figure. Not a test: it prints figures.
"""
from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NETLEARN_DATA_DIR", tempfile.mkdtemp(prefix="netlearn-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netlearn.settings.dev")
os.environ["NETLEARN_LAB_MODE"] = "off"

URL = "http://shop.netlearn.test/"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def network_ms(events) -> float:
    """Time the client spent waiting on the wire, from its own events."""
    client = [e for e in events if e.component == "client"]
    total = 0.0
    pending: dict[str, float] = {}
    for e in client:
        kind = e.kind.value
        if kind == "query":
            pending["dns"] = e.ts
        elif kind == "answer" and "dns" in pending:
            total += (e.ts - pending.pop("dns")) * 1000
        elif kind == "connect":
            total += float(e.detail.get("connect_ms", 0))
        elif kind == "request":
            pending["http"] = e.ts
        elif kind == "response" and "http" in pending:
            total += (e.ts - pending.pop("http")) * 1000
    return total


async def lab_level(lab, n: int) -> tuple[list[float], list[float], float]:
    started = time.perf_counter()
    records = await asyncio.gather(*(lab.walk(URL, correlation_id=uuid.uuid4().hex) for _ in range(n)))
    wall = time.perf_counter() - started
    durations = [(r.outcome.finished - r.outcome.started) * 1000 for r in records]
    shares = [network_ms(r.events) / d for r, d in zip(records, durations) if d]
    assert all(r.outcome.status == "done" for r in records), [r.outcome.code for r in records]
    return durations, shares, wall


async def site_level(n: int) -> tuple[list[float], float]:
    from netlearn.walks.models import Walk
    from netlearn.walks.services import walk_start

    async def one(i: int) -> float:
        t0 = time.perf_counter()
        walk = await walk_start(url=URL, session_key=f"bench-{i}-{uuid.uuid4().hex[:6]}")
        while True:
            row = await Walk.objects.only("status").aget(id=walk.id)
            if row.status != Walk.Status.RUNNING:
                return (time.perf_counter() - t0) * 1000
            await asyncio.sleep(0.002)

    started = time.perf_counter()
    durations = await asyncio.gather(*(one(i) for i in range(n)))
    return list(durations), time.perf_counter() - started


def kernel_ms(frames: list[dict]) -> float:
    """Time the kernel alone moved the walk on: each SYN-ACK after its SYN, each bare ACK after
    the segment it acknowledges (loopback answers those without waking any program)."""
    from netlearn.lab.capture.anchor import _flags, _payload

    total = 0.0
    last_from: dict[tuple, dict] = {}
    for frame in frames:
        if frame.get("transport") != "tcp":
            continue
        flags, src, dst = _flags(frame), tuple(frame["src"]), tuple(frame["dst"])
        answered = last_from.get((dst, src))
        kernel_made = flags == 0x12 or (flags == 0x10 and not _payload(frame))
        if kernel_made and answered is not None:
            total += (frame["ts"] - answered["ts"]) * 1000
        last_from[(src, dst)] = frame
    return total


async def capture_cost(walks: int) -> dict:
    """Single walks on one site lab, capture on and off walk by walk (``LabCapture.paused``), so
    load from other jobs falls on both alike; each timed from submit until the walk is stored."""
    from netlearn.lab.topology import LabConfig
    from netlearn.walks import bridge
    from netlearn.walks.models import Walk

    timings: dict[bool, list[float]] = {True: [], False: []}
    wire: list[tuple[float, float]] = []  # (first → last frame ms, kernel-only ms)
    thread = await bridge.start_embedded_lab(LabConfig.ephemeral())
    capture = thread.lab.capture
    try:
        mode = capture.mode
        await site_level(2)  # warm
        for i in range(2 * walks):
            on = i % 2 == 0
            capture.paused = not on
            durations, _wall = await site_level(1)
            timings[on] += durations
            if on:
                row = await Walk.objects.order_by("-created_at").afirst()
                frames = row.frames or []
                if frames and frames[0].get("captured"):
                    wire.append(((frames[-1]["ts"] - frames[0]["ts"]) * 1000, kernel_ms(frames)))
    finally:
        capture.paused = False
        await bridge.stop_embedded_lab()
    on, off = timings[True], timings[False]
    result = {"walks_per_mode": len(on), "capture_mode": mode,
              "p50_on_ms": round(pct(on, 50), 2), "p95_on_ms": round(pct(on, 95), 2),
              "p50_off_ms": round(pct(off, 50), 2), "p95_off_ms": round(pct(off, 95), 2)}
    result["p95_added_pct"] = round((result["p95_on_ms"] / result["p95_off_ms"] - 1) * 100, 1)
    result["p50_added_pct"] = round((result["p50_on_ms"] / result["p50_off_ms"] - 1) * 100, 1)
    if wire:
        result["frames_span_ms_median"] = round(statistics.median(w[0] for w in wire), 3)
        result["kernel_ms_median"] = round(statistics.median(w[1] for w in wire), 3)
        result["kernel_share_pct"] = round(statistics.median(k / s * 100 for s, k in wire if s), 2)
    return result


LAB_CPU_URLS = ("http://shop.netlearn.test/", "http://www.netlearn.test/")


def _thread_cpu_ns(native_id: int) -> int:
    """A thread's CPU time so far (the kernel's own count, in ns)."""
    with open(f"/proc/self/task/{native_id}/schedstat", encoding="ascii") as stat:
        return int(stat.read().split()[0])


async def lab_cpu(walks: int) -> dict:
    """CPU of the lab's thread per walk, and of anchoring the walk's events for storage."""
    import threading
    import uuid

    from netlearn.lab.topology import LabConfig
    from netlearn.walks import bridge

    thread = await bridge.start_embedded_lab(LabConfig.ephemeral())
    lab_thread = next(t for t in threading.enumerate() if t.name == "netlearn-lab")
    tid = lab_thread.native_id
    assert tid is not None
    per_walk: list[float] = []
    anchoring: list[float] = []
    frames: list[int] = []
    events: list[int] = []
    try:
        mode = thread.lab.capture.mode
        await asyncio.sleep(1.0)
        before, t0 = _thread_cpu_ns(tid), time.perf_counter()
        await asyncio.sleep(3.0)
        idle = (_thread_cpu_ns(tid) - before) / 1e6 / (time.perf_counter() - t0)
        for i in range(walks + 4):  # the first four warm the lab (imports, pools, caches)
            cid = uuid.uuid4().hex
            url, cold = LAB_CPU_URLS[i % 2], i % 4 >= 2
            bridge.register_live(cid)  # as a worker does: the live hand-off runs on the lab's thread
            before = _thread_cpu_ns(tid)
            record = await asyncio.wrap_future(thread.submit(
                lambda lab, url=url, cid=cid, cold=cold: lab.walk(url, correlation_id=cid, cold=cold)))
            spent = _thread_cpu_ns(tid) - before
            bridge.unregister_live(cid)
            assert record.outcome.status == "done", record.outcome.code
            started = time.thread_time_ns()
            stored = record.event_dicts()
            anchored = time.thread_time_ns() - started
            if i >= 4:
                per_walk.append(spent / 1e6)
                anchoring.append(anchored / 1e6)
                frames.append(len(record.frames))
                events.append(len(stored))
            await asyncio.sleep(0.02)  # let the site's loop take the live events, as between walks
    finally:
        await bridge.stop_embedded_lab()
    return {"walks": walks, "capture_mode": mode, "load_average": os.getloadavg()[0],
            "lab_thread_cpu_ms_per_walk_median": round(statistics.median(per_walk), 3),
            "lab_thread_cpu_ms_per_walk_p95": round(pct(per_walk, 95), 3),
            "lab_thread_cpu_ms_per_walk_mean": round(statistics.mean(per_walk), 3),
            "event_dicts_cpu_ms_median": round(statistics.median(anchoring), 3),
            "lab_thread_idle_cpu_ms_per_s": round(idle, 2),
            "frames_per_walk_median": statistics.median(frames), "events_per_walk_median": statistics.median(events)}


CPU_URLS = ("http://shop.netlearn.test/", "https://shop.netlearn.test/", "http://nosuch.netlearn.test/")


async def walk_cpu(walks: int) -> dict:
    """Per-walk CPU (ms, medians) of storing a real walk, rendering its final page and its live steps."""
    from django.utils import translation

    from netlearn.lab.topology import LabConfig
    from netlearn.walks import bridge, rendering, services
    from netlearn.walks.models import Walk

    spent: dict[str, list[float]] = {"walk_finish": [], "final_html_en": [], "final_html_ko": [],
                                     "live_steps_html": []}
    statuses: list[str] = []

    def store_and_render(record, topology: dict[str, str], url: str, keep: bool) -> None:
        cid = Walk.objects.create(url=url, session_key="bench-cpu", worker=services.worker_identity()).id.hex
        started = time.thread_time()
        walk = services.walk_finish(cid, record=record, topology=topology)
        costs = {"walk_finish": time.thread_time() - started}
        assert walk is not None
        for lang in ("en", "ko"):
            started = time.thread_time()
            html = rendering.final_html_cached(walk.id, lang, rendering.state_of(walk))
            costs[f"final_html_{lang}"] = time.thread_time() - started
            assert html
        events = [event.as_dict() for event in record.events]
        for seq, event in enumerate(events):
            event["seq"] = seq
        with translation.override("en"):
            started = time.thread_time()
            for start in range(0, len(events), 8):
                rendering.live_steps_html(events[start:start + 8], topology)
            costs["live_steps_html"] = time.thread_time() - started
        if keep:
            statuses.append(walk.status)
            for name, seconds in costs.items():
                spent[name].append(seconds * 1000)

    thread = await bridge.start_embedded_lab(LabConfig.ephemeral())
    try:
        for i in range(walks + len(CPU_URLS)):  # the first of each kind warms imports and caches
            url = CPU_URLS[i % len(CPU_URLS)]

            async def one(lab, url=url):
                return await lab.walk(url, correlation_id=uuid.uuid4().hex), services.topology_map(lab)

            record, topology = await asyncio.wrap_future(thread.submit(one))
            await asyncio.to_thread(store_and_render, record, topology, url, i >= len(CPU_URLS))
    finally:
        await bridge.stop_embedded_lab()
    result = {name: round(statistics.median(values), 3) for name, values in spent.items()}
    result["total"] = round(sum(result.values()) - result["final_html_ko"], 3)  # one language a walk
    result.update(walks=len(statuses), failed=statuses.count(Walk.Status.FAILED))
    return result


async def main() -> None:
    import argparse
    import json

    import django

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line with every figure")
    parser.add_argument("--walks", type=int, default=100, help="walks per capture mode (default 100)")
    parser.add_argument("--capture-only", action="store_true", help="only the capture on/off comparison")
    parser.add_argument("--lab-cpu", action="store_true",
                        help="only the lab thread's CPU per walk (--walks N walks), as one JSON line")
    parser.add_argument("--cpu", action="store_true",
                        help="only a walk's worker CPU: storing it, its final page, its live steps (--walks of them)")
    args = parser.parse_args()
    django.setup()
    if args.lab_cpu:
        print(json.dumps({"bench": "walk --lab-cpu", "cores": os.cpu_count(), **await lab_cpu(args.walks)}))
        return
    from django.core.management import call_command

    await asyncio.to_thread(call_command, "migrate", verbosity=0)
    from netlearn.lab.topology import LabConfig
    from netlearn.walks import bridge

    say = (lambda *a, **k: None) if args.json else print
    if args.cpu:
        cpu = await walk_cpu(args.walks)
        if args.json:
            print(json.dumps({"cores": os.cpu_count(), "python": sys.version.split()[0], "cpu_ms": cpu}))
        else:
            print(f"a walk's worker CPU, median of {cpu['walks']} walks ({cpu['failed']} failed), ms: "
                  f"store {cpu['walk_finish']:.2f}, final page {cpu['final_html_en']:.2f} (ko "
                  f"{cpu['final_html_ko']:.2f}), live steps {cpu['live_steps_html']:.2f}; total {cpu['total']:.2f}")
        return
    figures: dict = {"cores": os.cpu_count(), "python": sys.version.split()[0], "url": URL, "levels": []}
    if not args.capture_only:
        thread = await bridge.start_embedded_lab(LabConfig.ephemeral())
        try:
            say(f"bench/walk on {os.cpu_count()} cores, Python {sys.version.split()[0]}, URL {URL}")
            say("level  walks  walks/s    p50 ms    p95 ms   network share (median)")
            for n in (1, 10, 100):
                await asyncio.wrap_future(thread.submit(lambda lab: lab_level(lab, 3)))  # warm caches
                durations, shares, wall = await asyncio.wrap_future(thread.submit(lambda lab, n=n: lab_level(lab, n)))
                say(f"lab    {n:5d} {n / wall:8.1f} {pct(durations, 50):9.2f} {pct(durations, 95):9.2f}   "
                    f"{statistics.median(shares) * 100:5.1f} %")
                figures["levels"].append({"level": "lab", "walks": n, "walks_per_s": round(n / wall, 1),
                                          "p50_ms": round(pct(durations, 50), 2),
                                          "p95_ms": round(pct(durations, 95), 2),
                                          "network_share_pct": round(statistics.median(shares) * 100, 1)})
            for n in (1, 10):
                await site_level(1)
                durations, wall = await site_level(n)
                say(f"site   {n:5d} {n / wall:8.1f} {pct(durations, 50):9.2f} {pct(durations, 95):9.2f}   "
                    "(includes DB)")
                figures["levels"].append({"level": "site", "walks": n, "walks_per_s": round(n / wall, 1),
                                          "p50_ms": round(pct(durations, 50), 2),
                                          "p95_ms": round(pct(durations, 95), 2)})
        finally:
            await bridge.stop_embedded_lab()
    cost = await capture_cost(args.walks)
    figures["capture"] = cost
    say(f"\ncapture ({cost['capture_mode']}) vs off, {cost['walks_per_mode']} single walks each, submit → stored:")
    say(f"  on  p50 {cost['p50_on_ms']:.2f} ms  p95 {cost['p95_on_ms']:.2f} ms")
    say(f"  off p50 {cost['p50_off_ms']:.2f} ms  p95 {cost['p95_off_ms']:.2f} ms   "
        f"capture adds {cost['p50_added_pct']:.1f} % "
        f"at p50, {cost['p95_added_pct']:.1f} % at p95 (goal: p95 ≤ 150 ms and ≤ 20 % added)")
    if "kernel_ms_median" in cost:
        say(f"  from first to last frame {cost['frames_span_ms_median']:.2f} ms (median): the kernel alone "
            f"{cost['kernel_ms_median']:.3f} ms ({cost['kernel_share_pct']:.2f} %), the rest is the lab's Python")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
