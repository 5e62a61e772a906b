#!/usr/bin/env python
"""bench/make_run: a lesson step page under ``make run``, what an instructor starts for a class.

Not a test: a measurement. It starts ``make run PORT=<a free port>`` from this checkout as a user
would (its own ``var/`` database, DEBUG off, the lab in its child process), takes a returning
learner's cookie (one first visit), and runs ``wrk -t2 -c<connections>`` on the same machine
against the same step page as ``bench/pages.py``: one untimed warm-up, then ``--rounds`` runs.
Reported: req/s, p50 and p99, errors, and the server's CPU per page (the uvicorn process and
every process under it, from ``/proc``), medians with their spread, and the load average.

    .venv/bin/python bench/make_run.py [--rounds 3] [--duration 10] [--connections 32] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import pages  # noqa: E402 - bench/pages.py: wrk, the cookie, the page and the summary are shared

from netlearn.devtools.servers import free_port, wait_for_healthy  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print only one JSON line with the figures")
    args = parser.parse_args()
    say = (lambda *a: None) if args.json else print

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NETLEARN_", "DATABASE_URL",
                                                                     "REDIS_URL"))}
    log = ROOT / "artifacts" / "bench-make-run.log"
    log.parent.mkdir(exist_ok=True)
    say(f"make run PORT={port} (log: {log}) …")
    server = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=ROOT, env=env, stdout=log.open("wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_healthy(f"http://127.0.0.1:{port}/healthz", server, log, timeout=300)
        cookie = pages._session_cookie(port)
        pages._wrk_once(port, cookie, 2, args.connections, None)  # warm-up, not counted
        runs = []
        for n in range(args.rounds):
            # CPU of make's whole process tree per request served (pages._tree_cpu).
            figures, _ = pages._wrk_once(port, cookie, args.duration, args.connections, server.pid)
            figures["balanced"] = True  # one worker: nothing to spread
            runs.append(figures)
            say(f"round {n + 1}: {figures['rps']:.0f} req/s, p50 {figures['p50']:.1f} ms, p99 {figures['p99']:.1f} ms, "
                f"{figures['cpu_ms']:.2f} ms of server CPU per page, load {figures['load']:.1f}")
            time.sleep(1)
        summary = pages._summary(runs)
        loads = [r["load"] for r in runs]
        doc = {"bench": "make_run", "path": pages.PATH, "connections": args.connections, "duration_s": args.duration,
               "rounds": args.rounds, "cores": os.cpu_count(),
               "load_avg_1m": {"min": min(loads), "max": max(loads)}, **summary, "rounds_raw": runs}
        if args.json:
            print(json.dumps(doc))
            return
        say(f"median {summary['rps']['median']:.0f} req/s ({summary['rps']['min']:.0f}–{summary['rps']['max']:.0f}), "
            f"p99 {summary['p99']['median']:.1f} ms, {summary['cpu_ms']['median']:.2f} ms of server CPU per page, "
            f"{summary['errors']} errors")
    finally:
        pages._stop({"make run": server})


if __name__ == "__main__":
    main()
