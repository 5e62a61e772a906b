#!/usr/bin/env python
"""Our L4 balancer against HAProxy (nbthread 1, mode tcp), in front of the same backends.

    python bench/lb_vs_haproxy.py [--duration 5] [--rounds 3] [--connections 50] [--pin] [--json]

What runs, each in its own process so that /proc/<pid>/stat gives each one's own CPU time:
  * backends: four listening sockets served by one minimal uvloop Protocol (a fixed 200 answer
    per request head, keep-alive) — deliberately *not* the lab's h11 backends, which would be the
    bottleneck and hide the balancers' cost; identical for every target;
  * HAProxy: ``nbthread 1``, ``mode tcp``, ``balance roundrobin``, health checks every second,
    ``source`` its own address: our L4 binds its dialled sockets to the balancer's address (the
    backend sees the balancer as its client, as on a real network), so HAProxy is told to do the
    same (a ``bind`` and two ``setsockopt`` a connection, as ours);
  * our L4: ``netlearn.lab.balance.L4Balancer`` on uvloop, round robin, health checks every
    second, events ON (a subscriber receives every event);
  * a direct-to-one-backend baseline, so the balancers' own cost is visible.
Two scenarios, because keep-alive alone exercises the per-connection path (accept, choose, dial,
events) only ``--connections`` times a run:
  * ``keep-alive``: wrk keeps its connections open, every request rides one of them;
  * ``new connection``: wrk sends ``Connection: close``, the backend answers with
    ``Connection: close`` and closes, so every request is a new TCP connection through the proxy
    (accept, choose, dial, four events, close): what an L4 balancer does all day.
Both proxies are warmed alike (one untimed run each, per scenario) before the rounds; in every
round the targets run in turn (direct, haproxy, ours; the order alternates from round to round),
and the figures are the medians over ``--rounds``. ``--pin`` pins the two proxies to CPU 1 and
the backends and wrk to CPU 0 (``taskset``), which steadies the figures on a 2-core machine.
Installs Debian's haproxy and wrk with apt-get if they are missing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netlearn.devtools.servers import wait_for_port  # noqa: E402 - after the path is set

RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
            b"Connection: keep-alive\r\n\r\nhello, world\n")
RESPONSE_CLOSE = RESPONSE.replace(b"Connection: keep-alive", b"Connection: close")
SCENARIOS = {"keep-alive": [], "new connection": ["-H", "Connection: close"]}
GOALS = {"keep-alive": (0.95, 0.80), "new connection": (0.80, 0.60)}  # (req/s, req per CPU-second) vs HAProxy
BACKEND_HOST, HAPROXY_HOST, OURS_HOST = "127.0.5.1", "127.0.5.2", "127.0.5.3"


# -- child processes -----------------------------------------------------------------------
def serve_backends(ports: list[int]) -> None:
    import uvloop

    class Fast(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.tail = b""

        def data_received(self, data: bytes) -> None:
            buf = self.tail + data if self.tail else data
            n = buf.count(b"\r\n\r\n")
            self.tail = buf[buf.rfind(b"\r\n\r\n") + 4:] if n else buf
            if n and b"Connection: close" in buf:
                self.transport.write(RESPONSE_CLOSE)  # type: ignore[attr-defined]
                self.transport.close()  # type: ignore[attr-defined]
            elif n:
                self.transport.write(RESPONSE * n)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for port in ports:
            await loop.create_server(Fast, BACKEND_HOST, port, backlog=4096, reuse_address=True)
        await asyncio.Event().wait()

    uvloop.run(main())


def serve_ours(port: int, ports: list[int]) -> None:
    import uvloop

    from netlearn.lab.balance import HealthConfig, L4Balancer
    from netlearn.lab.events import Endpoint
    from netlearn.lab.stream import EventStream

    async def main() -> None:
        stream = EventStream()
        seen = [0]

        def subscriber(event: object) -> None:  # events ON: every event reaches a listener
            seen[0] += 1

        stream.subscribe(subscriber)
        lb = L4Balancer(Endpoint(OURS_HOST, port), stream, "l4",
                        backends=[(f"backend-{i}", Endpoint(BACKEND_HOST, p)) for i, p in enumerate(ports, 1)],
                        health=HealthConfig(interval=1.0, threshold=2, timeout=0.5), max_connections=4096,
                        idle_timeout=60)
        await lb.start()
        await asyncio.Event().wait()

    uvloop.run(main())


# -- the driver ----------------------------------------------------------------------------
def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ensure_tools() -> None:
    missing = [tool for tool in ("haproxy", "wrk") if shutil.which(tool) is None]
    if missing:
        print(f"installing {' '.join(missing)} with apt-get ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env, stdout=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` so far: the split says whether a gap is our Python
    (user) or the kernel's socket work, which both proxies pay (system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick  # utime, stime


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate them all, then wait for each (killed after 5 s)."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_wrk(url: str, *, duration: int, connections: int, extra: list[str] | None = None,
            pin: list[str] | None = None) -> dict[str, float]:
    out = subprocess.run([*(pin or []), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", *(extra or []),
                          url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99_ms = float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock_errors.groups())) if sock_errors else 0)
    return {"rps": rps, "requests": total, "p99_ms": p99_ms, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print only one JSON line with the figures")
    parser.add_argument("--pin", action="store_true", help="proxies on CPU 1, backends and wrk on CPU 0 (taskset)")
    parser.add_argument("--serve-backends", nargs="+", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-ours", nargs="+", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_backends:
        return serve_backends(args.serve_backends)
    if args.serve_ours:
        return serve_ours(args.serve_ours[0], args.serve_ours[1:])

    ensure_tools()
    say = (lambda *a, **k: None) if args.json else print
    pin_proxy = ["taskset", "-c", "1"] if args.pin else []
    pin_load = ["taskset", "-c", "0"] if args.pin else []
    ports = [free_port(BACKEND_HOST) for _ in range(4)]
    hap_port, our_port = free_port(HAPROXY_HOST), free_port(OURS_HOST)
    procs: list[subprocess.Popen[bytes]] = []
    tmp = tempfile.TemporaryDirectory()
    try:
        procs.append(subprocess.Popen([*pin_load, sys.executable, __file__, "--serve-backends", *map(str, ports)]))
        for p in ports:
            wait_for_port(p, BACKEND_HOST, timeout=10.0)
        cfg = Path(tmp.name) / "haproxy.cfg"
        servers = "\n".join(f"    server b{i} {BACKEND_HOST}:{p} check inter 1s" for i, p in enumerate(ports, 1))
        cfg.write_text(f"""global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
frontend fe
    bind {HAPROXY_HOST}:{hap_port}
    default_backend be
backend be
    balance roundrobin
    source {HAPROXY_HOST}
{servers}
""")
        haproxy = subprocess.Popen([*pin_proxy, "haproxy", "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL)
        procs.append(haproxy)
        ours = subprocess.Popen([*pin_proxy, sys.executable, __file__, "--serve-ours", str(our_port), *map(str, ports)])
        procs.append(ours)
        wait_for_port(hap_port, HAPROXY_HOST, timeout=10.0)
        wait_for_port(our_port, OURS_HOST, timeout=10.0)
        time.sleep(1.5)  # both balancers see their backends healthy
        targets = {"direct": (f"http://{BACKEND_HOST}:{ports[0]}/", procs[0].pid),
                   "haproxy": (f"http://{HAPROXY_HOST}:{hap_port}/", haproxy.pid),
                   "ours": (f"http://{OURS_HOST}:{our_port}/", ours.pid)}
        report: dict[str, object] = {"bench": "lb_vs_haproxy", "duration_s": args.duration, "rounds": args.rounds,
                                     "connections": args.connections, "pinned": args.pin, "cores": os.cpu_count(),
                                     "scenarios": {}}
        loads = []
        for scenario, extra in SCENARIOS.items():
            for name in ("haproxy", "ours"):  # warm both proxies alike
                run_wrk(targets[name][0], duration=2, connections=args.connections, extra=extra, pin=pin_load)
            results: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for rnd in range(1, args.rounds + 1):
                order = list(targets) if rnd % 2 else list(reversed(targets))
                for name in order:
                    url, pid = targets[name]
                    user0, sys0 = cpu_seconds(pid)
                    figures = run_wrk(url, duration=args.duration, connections=args.connections, extra=extra,
                                      pin=pin_load)
                    user1, sys1 = cpu_seconds(pid)
                    figures["cpu_s"] = (user1 - user0) + (sys1 - sys0)
                    figures["user_us_per_req"] = (user1 - user0) * 1e6 / max(figures["requests"], 1)
                    figures["sys_us_per_req"] = (sys1 - sys0) * 1e6 / max(figures["requests"], 1)
                    figures["req_per_cpu_s"] = (figures["requests"] / figures["cpu_s"] if figures["cpu_s"]
                                                else float("nan"))
                    loads.append(os.getloadavg()[0])
                    results[name].append(figures)
                    say(f"{scenario:15s} round {rnd} {name:8s} {figures['rps']:10.0f} req/s  "
                        f"p99 {figures['p99_ms']:7.2f} ms  "
                        f"{figures['req_per_cpu_s']:9.0f} req/CPU-s  errors {figures['errors']:.0f}", flush=True)
            med = {name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p99_ms", "req_per_cpu_s",
                                                                    "user_us_per_req", "sys_us_per_req")}
                   | {"rps_min": min(r["rps"] for r in runs), "rps_max": max(r["rps"] for r in runs),
                      "errors": sum(r["errors"] for r in runs)} for name, runs in results.items()}
            rps_ratio = med["ours"]["rps"] / med["haproxy"]["rps"]
            cpu_ratio = med["ours"]["req_per_cpu_s"] / med["haproxy"]["req_per_cpu_s"]
            goal_rps, goal_cpu = GOALS[scenario]
            report["scenarios"][scenario] = {  # type: ignore[index]
                "medians": med, "rps_ratio": round(rps_ratio, 3), "cpu_ratio": round(cpu_ratio, 3),
                "goal": {"rps_ratio": goal_rps, "cpu_ratio": goal_cpu},
                "met": rps_ratio >= goal_rps and cpu_ratio >= goal_cpu}
            say(f"\n{scenario}: medians over {args.rounds} rounds, wrk -t1 -c{args.connections} -d{args.duration}s "
                f"{' '.join(extra)}; CPU = the proxy process (for 'direct': the backends process)")
            say(f"{'target':10s}{'req/s':>12s}{'p99 ms':>10s}{'req/CPU-s':>12s}{'user µs/req':>13s}{'sys µs/req':>12s}")
            for name, m in med.items():
                say(f"{name:10s}{m['rps']:12.0f}{m['p99_ms']:10.2f}{m['req_per_cpu_s']:12.0f}"
                    f"{m['user_us_per_req']:13.1f}{m['sys_us_per_req']:12.1f}")
            say(f"ours / haproxy: {rps_ratio:.2f}x req/s (goal {goal_rps}x), {cpu_ratio:.2f}x req per CPU-second "
                f"(goal {goal_cpu}x)\n")
        report["load_avg_1m"] = {"min": min(loads), "max": max(loads)}
        if args.json:
            print(json.dumps(report))
    finally:
        stop_processes(procs)
        tmp.cleanup()


if __name__ == "__main__":
    main()
