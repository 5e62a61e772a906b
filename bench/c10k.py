"""C10k on loopback: 10,000 idle connections to the event-loop server, then to thread-per-connection.

    .venv/bin/python bench/c10k.py [--connections 10000] [--oio-max-threads 2000] [--json]

Why a separate server process: the server's RSS and thread count must be its own, not mixed with
the 10,000 client sockets, and each process then needs only ~10,000 descriptors (RLIMIT_NOFILE is
raised to the hard limit in both). Clients connect non-blocking from ten source addresses
(127.0.6.10-19), so neither ephemeral ports nor a blocking ``connect()`` limit the run; the kernel
retries any SYN an overflowing accept queue drops. "Time to accept" runs from the first
``connect()`` until the server reports every connection accepted. The thread-per-connection
server goes "as far as it goes": its threads are capped (``--oio-max-threads``), after which
further clients wait in the backlog, which is what such servers do.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SERVER_HOST = "127.0.6.2"
CLIENT_HOSTS = [f"127.0.6.{n}" for n in range(10, 20)]


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# -- the server side (child process) ----------------------------------------------------------
async def serve(model: str, max_threads: int) -> None:
    from netlearn.lab.iomodels import NioServer, ThreadPerConnectionServer
    from netlearn.lab.stream import EventStream

    raise_nofile()
    stream = EventStream()
    server: NioServer | ThreadPerConnectionServer
    if model == "nio":
        server = NioServer(stream=stream, host=SERVER_HOST, workers=2, backlog=4096, max_connections=20000,
                           trace_budget=0)
    else:
        server = ThreadPerConnectionServer(stream=stream, host=SERVER_HOST, max_threads=max_threads, backlog=4096,
                                           trace_budget=0)
    await server.start()
    print(json.dumps({"port": server.address.port}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.strip() == "stats":
            print(json.dumps(server.describe()), flush=True)
        else:
            break
    await server.stop()


# -- the client side (parent) -------------------------------------------------------------------
class Child:
    def __init__(self, model: str, max_threads: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", model, "--oio-max-threads", str(max_threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = json.loads(self._line())["port"]

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def stats(self) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self._line())

    def proc_figures(self) -> tuple[int, int]:
        rss = 0
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
        return rss, len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def close(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run(model: str, connections: int, max_threads: int, stall: float) -> dict:
    child = Child(model, max_threads)
    sockets: list[socket.socket] = []
    try:
        base_rss, base_threads = child.proc_figures()
        started = time.perf_counter()
        for n in range(connections):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.bind((CLIENT_HOSTS[n % len(CLIENT_HOSTS)], 0))
            sock.connect_ex((SERVER_HOST, child.port))
            sockets.append(sock)
        connected_s = time.perf_counter() - started
        accepted, last_seen, last_progress, accepted_at = 0, -1, time.perf_counter(), None
        while True:
            accepted = child.stats()["accepted"]
            now = time.perf_counter()
            if accepted >= connections:
                accepted_at = now - started
                break
            if accepted > last_seen:
                last_seen, last_progress = accepted, now
            elif now - last_progress > stall:
                break
            time.sleep(0.02)
        time.sleep(0.3)  # let the server settle before measuring it
        rss, threads = child.proc_figures()
        return {"model": model, "connections": connections, "accepted": accepted,
                "connect_calls_s": round(connected_s, 3),
                "time_to_accept_all_s": round(accepted_at, 3) if accepted_at else None,
                "server_rss_mb": round(rss / 2**20, 1), "server_rss_before_mb": round(base_rss / 2**20, 1),
                "rss_per_connection_kb": round((rss - base_rss) / max(accepted, 1) / 1024, 1),
                "server_threads": threads, "server_threads_before": base_threads,
                "oio_thread_cap": max_threads if model == "oio" else None}
    finally:
        for sock in sockets:
            sock.close()
        child.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--oio-max-threads", type=int, default=2000)
    parser.add_argument("--stall", type=float, default=3.0, help="give up after this long without progress")
    parser.add_argument("--models", default="nio,oio")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", choices=["nio", "oio"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.oio_max_threads))
        return
    limit = raise_nofile()
    if limit < args.connections + 100:
        sys.exit(f"RLIMIT_NOFILE hard limit {limit} is too low for {args.connections} connections")
    results = [run(model, args.connections, args.oio_max_threads, args.stall) for model in args.models.split(",")]
    if args.json:  # one line, as every bench prints it (compared from run to run)
        print(json.dumps({"bench": "c10k", "load_avg_1m": os.getloadavg()[0], "models": results}))
        return
    print(f"{'model':<6}{'accepted':>10}{'accept all (s)':>16}{'RSS (MB)':>10}{'KB/conn':>9}{'threads':>9}")
    for r in results:
        took = f"{r['time_to_accept_all_s']:.2f}" if r["time_to_accept_all_s"] is not None else "stalled"
        print(f"{r['model']:<6}{r['accepted']:>10}{took:>16}{r['server_rss_mb']:>10}{r['rss_per_connection_kb']:>9}"
              f"{r['server_threads']:>9}")
    nio = next((r for r in results if r["model"] == "nio"), None)
    if nio:
        verdict = "meets" if nio["server_rss_mb"] <= 200 and nio["accepted"] == args.connections else "misses"
        print(f"event-loop server {verdict} the goal: {args.connections} idle connections within 200 MB RSS")


if __name__ == "__main__":
    main()
