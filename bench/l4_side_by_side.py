#!/usr/bin/env python
"""Two builds of our L4 balancer side by side: is a change to its per-connection path a gain?

    python bench/l4_side_by_side.py BASE_CHECKOUT [--rounds 10] [--duration 4] [--keep-alive] [--json]

``BASE_CHECKOUT`` is another checkout of this repository (``git worktree add /tmp/base HEAD~1``).
Why not two runs of ``bench/lb_vs_haproxy.py``: on this shared 2-core host its figures drift more
from one minute to the next (±15 % in a proxy's CPU per request) than a change of the hot path
moves them, so two runs one after the other compare the host's moods. Here both balancers run at
once (the same four backends of ``lb_vs_haproxy``, the same round robin, health checks and
events ON; both pinned to CPU 1, the backends and ``wrk`` to CPU 0) and ``wrk`` drives them in
turn, a few seconds each, the order alternating, so a drift touches both alike. Scenario: a new
TCP connection per request (``Connection: close`` both ways), the path that ``make bench-lb``
found furthest from HAProxy; ``--keep-alive``: wrk's 50 connections kept open (the byte path).
Prints medians of req/s and of each process's CPU per request (user and system, from /proc), and
in how many rounds this checkout used less CPU per request.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import lb_vs_haproxy as lb  # noqa: E402 - after the path is set

HOSTS = {"base": "127.0.5.4", "this": "127.0.5.3"}
CLOSE = ["-H", "Connection: close"]
PIN_PROXY, PIN_LOAD = ["taskset", "-c", "1"], ["taskset", "-c", "0"]


def start_balancer(checkout: Path, host: str, port: int, backend_ports: list[int]) -> subprocess.Popen[bytes]:
    """``lb_vs_haproxy.serve_ours`` of ``checkout``, imported from there (its own netlearn)."""
    code = (f"import sys; sys.path[:0] = [{str(checkout)!r}, {str(checkout / 'bench')!r}]; "
            f"import lb_vs_haproxy as b; b.OURS_HOST = {host!r}; b.serve_ours({port}, {backend_ports!r})")
    return subprocess.Popen([*PIN_PROXY, sys.executable, "-c", code], cwd=checkout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path, help="another checkout of this repository")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--keep-alive", action="store_true", help="keep wrk's connections open (the byte path)")
    parser.add_argument("--json", action="store_true", help="print only one JSON line with the figures")
    args = parser.parse_args()
    extra = [] if args.keep_alive else CLOSE
    lb.ensure_tools()
    checkouts = {"base": args.base.resolve(), "this": ROOT}
    backend_ports = [lb.free_port(lb.BACKEND_HOST) for _ in range(4)]
    procs = [subprocess.Popen([*PIN_LOAD, sys.executable, str(ROOT / "bench" / "lb_vs_haproxy.py"),
                               "--serve-backends", *map(str, backend_ports)])]
    try:
        for p in backend_ports:
            lb.wait_for_port(p, lb.BACKEND_HOST, timeout=10.0)
        targets: dict[str, tuple[str, int]] = {}
        for name, checkout in checkouts.items():
            port = lb.free_port(HOSTS[name])
            proc = start_balancer(checkout, HOSTS[name], port, backend_ports)
            procs.append(proc)
            lb.wait_for_port(port, HOSTS[name], timeout=10.0)
            targets[name] = (f"http://{HOSTS[name]}:{port}/", proc.pid)
        time.sleep(1.5)  # both see their backends healthy
        for url, _ in targets.values():  # warmed alike
            lb.run_wrk(url, duration=2, connections=50, extra=extra, pin=PIN_LOAD)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for i in range(args.rounds):
            for name in (list(targets) if i % 2 == 0 else list(reversed(targets))):
                url, pid = targets[name]
                user0, sys0 = lb.cpu_seconds(pid)
                figures = lb.run_wrk(url, duration=args.duration, connections=50, extra=extra, pin=PIN_LOAD)
                user1, sys1 = lb.cpu_seconds(pid)
                n = max(figures["requests"], 1)
                rounds[name].append({"rps": figures["rps"], "errors": figures["errors"],
                                     "user_us_per_req": (user1 - user0) * 1e6 / n,
                                     "sys_us_per_req": (sys1 - sys0) * 1e6 / n})
        report: dict[str, object] = {"bench": "l4_side_by_side",
                                     "scenario": "keep-alive" if args.keep_alive else "new connection",
                                     "rounds": args.rounds, "duration_s": args.duration,
                                     "base_checkout": str(args.base)}
        for name, runs in rounds.items():
            report[name] = {"rps": statistics.median(r["rps"] for r in runs),
                            "rps_min": min(r["rps"] for r in runs), "rps_max": max(r["rps"] for r in runs),
                            "user_us_per_req": round(statistics.median(r["user_us_per_req"] for r in runs), 1),
                            "sys_us_per_req": round(statistics.median(r["sys_us_per_req"] for r in runs), 1),
                            "cpu_us_per_req": round(statistics.median(r["user_us_per_req"] + r["sys_us_per_req"]
                                                                      for r in runs), 1),
                            "errors": sum(r["errors"] for r in runs)}
        report["rounds_this_cheaper"] = sum(
            1 for a, b in zip(rounds["base"], rounds["this"])
            if b["user_us_per_req"] + b["sys_us_per_req"] < a["user_us_per_req"] + a["sys_us_per_req"])
        if args.json:
            print(json.dumps(report))
            return
        for name in ("base", "this"):
            m = report[name]
            assert isinstance(m, dict)
            print(f"{name:5s} {m['rps']:7.0f} req/s ({m['rps_min']:.0f}-{m['rps_max']:.0f})  CPU per request "
                  f"{m['cpu_us_per_req']:6.1f} µs (user {m['user_us_per_req']}, system {m['sys_us_per_req']})  "
                  f"errors {m['errors']}")
        print(f"this checkout used less CPU per request in {report['rounds_this_cheaper']} of {args.rounds} rounds")
    finally:
        lb.stop_processes(procs)


if __name__ == "__main__":
    main()
