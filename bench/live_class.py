"""A live class at scale: N participants over real WebSockets follow one instructor.

    .venv/bin/python bench/live_class.py [--participants 1000] [--config both|embedded|stack] [--json]

Every participant joins through the real join form (its own session cookie), opens the room's
WebSocket and waits in the lobby. The instructor (logged in, on its own socket) pushes a lesson
step, starts a real walk, opens a single-choice question; every participant answers at once.
Printed per configuration: push → last screen (p50/p99, over every participant) for the step, the
walk and the question; answers recorded per second (first answer sent → last acknowledgement,
every answer being written to the database before it is acknowledged); answers lost (sent −
rows in the report CSV); worker RSS per connected participant; errors. Embedded defaults (one
uvicorn worker, SQLite, in-memory layer) and the stack (nginx → 2 workers, PostgreSQL, Redis).
The load generator runs on the same cores as the servers.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.classroom import embedded_site, stack_site, tree_rss_kb
from tests.scale.classroom_client import (
    CHOICE_RE,
    LESSON_RE,
    RUN_RE,
    SINGLE_RE,
    command,
    join,
    open_session,
    stage_of,
    ws_url,
)

PASSWORD = "Kq7-lantern-ridge-42"
PHASE_TIMEOUT = 120.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Room:
    """Shared clock and counters of one run."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.t0: dict[str, float] = {}
        self.seen: dict[str, list[float]] = {"step": [], "walk": [], "question": [], "answer": []}
        self.done = {k: asyncio.Event() for k in self.seen}
        self.go_answer = asyncio.Event()
        self.errors: list[str] = []
        self.run_and_choice: tuple[str, str] | None = None
        self.answer_sent: list[float] = []

    def mark(self, phase: str) -> None:
        self.seen[phase].append(time.monotonic() - self.t0.get(phase, time.monotonic()))
        if len(self.seen[phase]) >= self.n - len(self.errors):
            self.done[phase].set()


async def participant(room: Room, url: str, base: str, cookie: str, ready: asyncio.Queue) -> None:
    import websockets

    try:
        async with websockets.connect(url, origin=base, additional_headers={"Cookie": cookie}, compression=None,
                                      open_timeout=60, ping_interval=None) as ws:
            while (stage_of(await ws.recv()) or ("",))[0] != "lobby":
                pass
            await ready.put(1)
            for phase in ("step", "walk", "question"):
                while True:
                    message = await ws.recv()
                    stage = stage_of(message)
                    if stage and stage[0] == phase:
                        room.mark(phase)
                        if phase == "question" and room.run_and_choice is None:
                            room.run_and_choice = (RUN_RE.search(message).group(1), CHOICE_RE.search(message).group(1))
                        break
            await room.go_answer.wait()
            run, choice = room.run_and_choice
            room.answer_sent.append(time.monotonic())
            await ws.send(command("answer", run=run, choice=choice))
            while "live-mine-answer" not in await ws.recv():
                pass
            room.seen["answer"].append(time.monotonic())
            if len(room.seen["answer"]) >= room.n - len(room.errors):
                room.done["answer"].set()
            await room.done["answer"].wait()
    except Exception as exc:  # noqa: BLE001 - counted and reported
        room.errors.append(repr(exc)[:200])
        await ready.put(0)
        for event in room.done.values():
            if sum(1 for _ in room.errors) and len(room.errors) >= room.n:
                event.set()


async def run(base: str, pids: list[int], n: int) -> dict:
    import websockets

    teacher, code, console_html = await asyncio.to_thread(open_session, base, "bench-teacher", PASSWORD)
    limit = asyncio.Semaphore(16)

    async def joined(i: int) -> str:
        async with limit:
            return (await asyncio.to_thread(join, base, code, f"P{i}")).cookie_header()

    t = time.monotonic()
    cookies = await asyncio.gather(*(joined(i) for i in range(n)))
    join_s = time.monotonic() - t
    console = await websockets.connect(ws_url(base, code, teach=True), origin=base, compression=None,
                                       additional_headers={"Cookie": teacher.cookie_header()}, ping_interval=None)
    drain = asyncio.ensure_future(_drain(console))
    rss_before = tree_rss_kb(pids)
    room, ready = Room(n), asyncio.Queue()
    tasks = []
    for cookie in cookies:
        tasks.append(asyncio.ensure_future(participant(room, ws_url(base, code), base, cookie, ready)))
        await asyncio.sleep(0.002)
    connected = 0
    for _ in range(n):
        connected += await asyncio.wait_for(ready.get(), PHASE_TIMEOUT)
    await asyncio.sleep(1.0)
    rss_after = tree_rss_kb(pids)
    lesson, question = LESSON_RE.search(console_html).group(1), SINGLE_RE.search(console_html).group(1)
    for phase, message in (("step", command("push_step", lesson=lesson, number="1")),
                           ("walk", command("start_walk", url="http://shop.netlearn.test/")),
                           ("question", command("open_question", question=question))):
        room.t0[phase] = time.monotonic()
        await console.send(message)
        try:
            await asyncio.wait_for(room.done[phase].wait(), PHASE_TIMEOUT)
        except TimeoutError:
            room.errors.append(f"{phase}: {len(room.seen[phase])}/{n} screens within {PHASE_TIMEOUT:.0f} s")
    room.go_answer.set()
    try:
        await asyncio.wait_for(room.done["answer"].wait(), PHASE_TIMEOUT)
    except TimeoutError:
        room.errors.append(f"answers: {len(room.seen['answer'])}/{n} acknowledged")
    await asyncio.gather(*tasks, return_exceptions=True)
    drain.cancel()
    await console.close()
    csv_rows = len((await asyncio.to_thread(teacher.get, f"/teach/{code}/report.csv")).body.strip().splitlines()) - 1
    first_sent = min(room.answer_sent) if room.answer_sent else 0.0
    acks = [t - first_sent for t in room.seen["answer"]]
    window = max(acks) if acks else float("nan")
    return {
        "participants": n, "connected": connected, "join_s": round(join_s, 1),
        **{f"{phase}_p50_ms": round(pct(room.seen[phase], 50) * 1000, 1) for phase in ("step", "walk", "question")},
        **{f"{phase}_p99_ms": round(pct(room.seen[phase], 99) * 1000, 1) for phase in ("step", "walk", "question")},
        **{f"{phase}_last_ms": round(max(room.seen[phase], default=float("nan")) * 1000, 1)
           for phase in ("step", "walk", "question")},
        "answers_sent": len(room.answer_sent), "answers_acked": len(acks), "answers_stored": csv_rows,
        "answers_window_s": round(window, 2), "answers_per_s": round(len(acks) / window, 1) if acks else 0.0,
        "answer_ack_p99_ms": round(pct(acks, 99) * 1000, 1),
        "lost": len(room.answer_sent) - csv_rows,
        "kb_per_participant": round((rss_after - rss_before) / connected, 1) if connected else float("nan"),
        "errors": len(room.errors), "error_samples": room.errors[:3],
    }


async def _drain(ws) -> None:
    try:
        while True:
            await ws.recv()
    except Exception:  # noqa: BLE001
        return


def bench(name: str, n: int) -> dict:
    base, pids, _others, stop = (embedded_site if name == "embedded" else stack_site)()
    try:
        env = _env_of(pids)
        import subprocess

        from netlearn.devtools.stack import PYTHON, ROOT

        done = subprocess.run([PYTHON, "manage.py", "createinstructor", "bench-teacher", "--password", PASSWORD,
                               "--no-input"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        result = asyncio.run(run(base, pids, n))
        if result["errors"]:
            _print_worker_logs()
    except BaseException:
        _print_worker_logs()
        raise
    finally:
        stop()
    return {"config": name, **result}


def _print_worker_logs() -> None:
    """The newest workers' logs, to stderr: what the server said about the errors."""
    import glob

    for log in sorted(glob.glob("/tmp/netlearn-*/worker*.log"), key=os.path.getmtime)[-2:]:
        lines = [line for line in Path(log).read_text(errors="replace").splitlines()
                 if "connection open" not in line and "[accepted]" not in line]
        print(f"--- {log}", *lines[-40:], sep="\n", file=sys.stderr)


def _env_of(pids: list[int]) -> dict[str, str]:
    """The environment our own worker was started with (to run createinstructor against its database)."""
    import psutil

    return dict(psutil.Process(pids[0]).environ())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--config", choices=("both", "embedded", "stack"), default="both")
    parser.add_argument("--json", action="store_true", help="one JSON line per configuration")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for name in (("embedded", "stack") if args.config == "both" else (args.config,)):
        result = bench(name, args.participants)
        if args.json:
            print(json.dumps(result), flush=True)
            continue
        print(f"\n{name}: {result['connected']}/{result['participants']} participants connected "
              f"(joined through the form in {result['join_s']} s), {os.cpu_count()} cores shared with the client")
        for phase in ("step", "walk", "question"):
            print(f"  push {phase:8} → last screen: p50 {result[f'{phase}_p50_ms']} ms, "
                  f"p99 {result[f'{phase}_p99_ms']} ms, last {result[f'{phase}_last_ms']} ms")
        print(f"  answers: {result['answers_acked']}/{result['answers_sent']} acknowledged in "
              f"{result['answers_window_s']} s ({result['answers_per_s']}/s, ack p99 {result['answer_ack_p99_ms']} ms),"
              f" {result['answers_stored']} stored, {result['lost']} lost")
        print(f"  worker memory: {result['kb_per_participant']} KB per connected participant")
        print(f"  errors: {result['errors']} {result['error_samples']}")


if __name__ == "__main__":
    main()
