"""bench/walk: how fast is a real walk, and how much of it is the lab's own network exchanges?

For 1, 10 and 100 walks started at once, prints walks/s, p50 and p95 from submit to last step,
and the share of that time the walker spent waiting on the network (DNS query → answer, TCP
connect, request → response); the rest is our overhead (event publishing, HTML parsing,
bookkeeping). Two levels are measured:

* ``lab``: ``Lab.walk`` on the lab's own loop (what the lab costs);
* ``site``: ``walks.services.walk_start`` through the bridge until the ``Walk`` row is stored
  (what a learner waits for, minus the browser). The site allows 24 walks at once, so 100 at
  once is measured at the lab level only.

Run: ``make bench-walk`` (or ``.venv/bin/python bench/walk.py``). Not a test: it prints figures.
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


async def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    await asyncio.to_thread(call_command, "migrate", verbosity=0)
    from netlearn.lab.topology import LabConfig
    from netlearn.walks import bridge

    thread = await bridge.start_embedded_lab(LabConfig.ephemeral())
    try:
        print(f"bench/walk on {os.cpu_count()} cores, Python {sys.version.split()[0]}, URL {URL}")
        print("level  walks  walks/s    p50 ms    p95 ms   network share (median)")
        for n in (1, 10, 100):
            await asyncio.wrap_future(thread.submit(lambda lab: lab_level(lab, 3)))  # warm caches
            durations, shares, wall = await asyncio.wrap_future(thread.submit(lambda lab, n=n: lab_level(lab, n)))
            print(f"lab    {n:5d} {n / wall:8.1f} {pct(durations, 50):9.2f} {pct(durations, 95):9.2f}   "
                  f"{statistics.median(shares) * 100:5.1f} %")
        for n in (1, 10):
            await site_level(1)
            durations, wall = await site_level(n)
            print(f"site   {n:5d} {n / wall:8.1f} {pct(durations, 50):9.2f} {pct(durations, 95):9.2f}   (includes DB)")
    finally:
        await bridge.stop_embedded_lab()


if __name__ == "__main__":
    asyncio.run(main())
