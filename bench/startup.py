#!/usr/bin/env python
"""bench/startup: what rendering the course ahead (``WarmPages``) costs a worker at start-up.

Not a test: a measurement. It starts one uvicorn worker as ``make run`` does (uvloop, httptools,
DEBUG off, this checkout's ``var/`` database), with the lab off so that only the site is measured,
``--rounds`` times with the warm-up on and ``--rounds`` times with it off (``NETLEARN_WARM_PAGES``),
alternating. For each start it reports:

* ``ready_s``: from the process's start to the first 200 from ``/healthz`` (the warm-up runs on
  its own thread, so this should not move);
* ``cpu_s``: the worker's user + system seconds once the warm-up has logged its end; with it off,
  read as long after ready as the last start with it on took to log that end, so that both sides
  count the same stretch of the worker's life (start, then idle or warm-up);
* ``rss_mb``: its resident memory then (the rendered pages stay in the page caches);
* the warm-up's own log line (how many pages, how long).

Medians with min and max; the difference of the medians is the warm-up's cost.

    .venv/bin/python bench/startup.py [--rounds 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netlearn.devtools.servers import free_port, wait_for_healthy  # noqa: E402 - after the path is set

WARM_LOG = re.compile(r"page warm-up: (\d+) step and (\d+) question pages rendered in ([\d.]+) s")
#: With the warm-up off and no start with it on yet, the figures are read this long after ready.
SETTLE_S = 1.0


def _cpu_and_rss(pid: int) -> tuple[float, float]:
    """User + system seconds and resident MB of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


def one_start(warm: bool, log: Path, settle_s: float, timeout: float = 120.0) -> dict[str, object]:
    """One worker started and stopped; with the warm-up off, its figures are read ``settle_s``
    after ready (the warm-up's own time in a start with it on)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NETLEARN_", "DATABASE_URL",
                                                                     "REDIS_URL"))}
    env.update(NETLEARN_WARM_PAGES="1" if warm else "0", NETLEARN_LAB_MODE="off", NETLEARN_DEBUG="0")
    began = time.monotonic()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/python"), "-m", "uvicorn", "netlearn.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--lifespan", "on", "--loop", "uvloop", "--http", "httptools", "--no-access-log"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_for_healthy(f"http://127.0.0.1:{port}/healthz", server, log, timeout=timeout, poll=0.02)
        ready = time.monotonic() - began
        found = None
        if warm:
            deadline = time.monotonic() + timeout
            while found is None and time.monotonic() < deadline:
                found = WARM_LOG.search(log.read_text(errors="replace"))
                time.sleep(0.05)
            if found is None:
                raise RuntimeError(f"no warm-up line in {log} after {timeout:.0f} s")
        else:
            time.sleep(settle_s)
        cpu, rss = _cpu_and_rss(server.pid)
        read_after = time.monotonic() - began - ready
    finally:
        server.terminate()
        server.wait(timeout=30)
    figures: dict[str, object] = {"warm": warm, "ready_s": round(ready, 3), "cpu_s": round(cpu, 2),
                                  "rss_mb": round(rss, 1), "read_after_ready_s": round(read_after, 2)}
    if found is not None:
        figures.update(step_pages=int(found[1]), question_pages=int(found[2]), warm_up_s=float(found[3]))
    return figures


def _summary(runs: list[dict[str, object]], key: str) -> dict[str, float]:
    values = [float(r[key]) for r in runs]  # type: ignore[arg-type]
    return {"median": round(statistics.median(values), 3), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print only one JSON line with the figures")
    args = parser.parse_args()
    say = (lambda *a: None) if args.json else print
    log = ROOT / "artifacts" / "bench-startup.log"
    log.parent.mkdir(exist_ok=True)

    runs: dict[bool, list[dict[str, object]]] = {True: [], False: []}
    settle_s = SETTLE_S
    for n in range(args.rounds):
        for warm in ((True, False) if n % 2 == 0 else (False, True)):  # alternating: drift hits both
            figures = one_start(warm, log, settle_s)
            if warm:
                settle_s = float(figures["read_after_ready_s"])  # type: ignore[arg-type]
            runs[warm].append(figures)
            say(f"round {n + 1}, warm-up {'on ' if warm else 'off'}: ready {figures['ready_s']:.2f} s, "
                f"{figures['cpu_s']:.2f} s CPU, {figures['rss_mb']:.0f} MB"
                + (f", {figures['step_pages']} step + {figures['question_pages']} question pages in "
                   f"{figures['warm_up_s']:.1f} s" if warm else ""))
    summary = {("on" if warm else "off"): {key: _summary(r, key) for key in ("ready_s", "cpu_s", "rss_mb")}
               for warm, r in runs.items()}
    cost = {key: round(summary["on"][key]["median"] - summary["off"][key]["median"], 3)
            for key in ("ready_s", "cpu_s", "rss_mb")}
    pages = {k: runs[True][0][k] for k in ("step_pages", "question_pages")}
    result = {"bench": "startup", "rounds": args.rounds, "load_avg_1m": round(os.getloadavg()[0], 2),
              **summary, "warm_up_cost": cost, **pages}
    if args.json:
        print(json.dumps(result))
        return
    say(f"warm-up cost (medians, on − off): {cost['cpu_s']:+.2f} s CPU, {cost['rss_mb']:+.0f} MB RSS, "
        f"ready {cost['ready_s']:+.2f} s; {pages['step_pages']} step and {pages['question_pages']} question pages")


if __name__ == "__main__":
    main()
