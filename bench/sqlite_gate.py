"""bench/sqlite_gate: SQLite's write lock under a busy worker, with the write gate and without.

Not a test: a measurement of ``netlearn.core.backends.sqlite3`` (its docstring says why it
exists). Each round starts a fresh process on a throw-away SQLite file (WAL, the production
``OPTIONS``) that does what a worker's page threads and journal flushers do under a class:
``--writers`` threads each run ``--transactions`` short write transactions (``atomic()`` around
one session row's INSERT, as a session save is) with ``--pause`` ms between them, while another
thread keeps the GIL busy in 2 ms bursts as the worker's event loop does. It prints how long a
transaction took from asking to commit (its wait for the lock included) and the transactions per
second, with the gate (``NETLEARN_SQLITE_WRITE_GATE=1``, the default) and without (``=0``: SQLite's
busy handler alone), alternating round by round; medians over the rounds, spread as min–max,
and the ratios gate / no gate.

    .venv/bin/python bench/sqlite_gate.py [--writers 4] [--transactions 150] [--pause 2]
                                          [--rounds 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_round(writers: int, transactions: int, pause_ms: float) -> dict[str, float]:
    """In this process (started by :func:`main` with the gate's variable set): one round's figures."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netlearn.settings.dev")
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.db import connections, transaction
    from django.utils import timezone

    call_command("migrate", "sessions", verbosity=0)
    stop = threading.Event()

    def busy_loop() -> None:  # the worker's event loop: Python that wants the GIL most of the time
        while not stop.is_set():
            started = time.perf_counter()
            while time.perf_counter() - started < 0.002:
                pass
            time.sleep(0.0005)

    took: list[float] = []

    def writer(n: int) -> None:
        expires = timezone.now() + timedelta(days=1)
        for k in range(transactions):
            asked = time.perf_counter()
            with transaction.atomic():
                Session.objects.create(session_key=f"w{n}-{k}", session_data="x" * 200, expire_date=expires)
            took.append(time.perf_counter() - asked)
            time.sleep(pause_ms / 1000)
        connections.close_all()

    spinner = threading.Thread(target=busy_loop)
    spinner.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    stop.set()
    spinner.join()
    took.sort()
    return {"tx_per_s": len(took) / wall, "p50_ms": took[len(took) // 2] * 1000,
            "p99_ms": took[int(len(took) * 0.99)] * 1000, "max_ms": took[-1] * 1000}


def run_child(gate: bool, args: argparse.Namespace) -> dict[str, float]:
    data = tempfile.mkdtemp(prefix="netlearn-gate-")
    try:
        env = {**os.environ, "NETLEARN_DATA_DIR": data, "NETLEARN_SQLITE_WRITE_GATE": "1" if gate else "0",
               "DJANGO_SETTINGS_MODULE": "netlearn.settings.dev"}
        out = subprocess.run([sys.executable, __file__, "--child", "--writers", str(args.writers),
                              "--transactions", str(args.transactions), "--pause", str(args.pause)],
                             env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--transactions", type=int, default=150)
    parser.add_argument("--pause", type=float, default=2.0, help="ms between one writer's transactions")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_round(args.writers, args.transactions, args.pause)))
        return
    runs: dict[str, list[dict[str, float]]] = {"gate": [], "no_gate": []}
    for _ in range(args.rounds):
        for name, gate in (("gate", True), ("no_gate", False)):
            runs[name].append(run_child(gate, args))
    figures: dict[str, dict[str, object]] = {}
    for name, rounds in runs.items():
        figures[name] = {key: {"median": round(statistics.median(r[key] for r in rounds), 1),
                               "min": round(min(r[key] for r in rounds), 1),
                               "max": round(max(r[key] for r in rounds), 1)} for key in rounds[0]}
    ratios = {key: round(figures["gate"][key]["median"] / figures["no_gate"][key]["median"], 2)  # type: ignore[index]
              for key in runs["gate"][0]}
    result = {"bench": "sqlite_gate", "writers": args.writers, "transactions": args.transactions,
              "pause_ms": args.pause, "rounds": args.rounds, "load_avg_1m": round(os.getloadavg()[0], 2),
              **figures, "ratio_gate_to_no_gate": ratios}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.writers} writers × {args.transactions} transactions, a busy loop beside them, "
          f"{args.rounds} alternating rounds (median, min–max)")
    for key in runs["gate"][0]:
        g, n = figures["gate"][key], figures["no_gate"][key]
        print(f"  {key:9s} gate {g['median']:8.1f} ({g['min']}–{g['max']})   "  # type: ignore[index]
              f"no gate {n['median']:8.1f} ({n['min']}–{n['max']})   ratio {ratios[key]:.2f}")  # type: ignore[index]


if __name__ == "__main__":
    main()
