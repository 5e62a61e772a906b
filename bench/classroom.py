"""bench/classroom: a class of simulated learners against a real NetLearn, embedded and scaled out.

    .venv/bin/python bench/classroom.py [--learners 1000] [--duration 60] [--ramp 30]
                                        [--config both|embedded|stack] [--think 1.0 3.0]
                                        [--json] [--costs-only] [--cost-requests 150]
                                        [--worker-env NAME=VALUE ...]

Each learner is a plain asyncio client with its own cookies (its own session, so its own rate-limit
budget) and its own keep-alive HTTP/1.1 connection, like a browser tab. Until the end of the run it
picks its next action at random, weighted by ``--mix`` (default ``steps=6,quiz=3,walk=1``): read a
lesson step page; GET a quiz question and POST an answer with the page's CSRF token and attempt
token; or POST a walk (``/walk/``) and open the walk's WebSocket (``/ws/walk/<id>/?lang=en``) until
its final message. The socket then stays open (the learner's walk page) until the learner's next
walk, so "connected" = learners holding a WebSocket. Between actions it thinks for a random time
(``--think``, default 2–8 s: reading a step takes a learner seconds, so 1,000 learners make about
200 requests a second, the rate the goal names). Learners start evenly over ``--ramp`` seconds up
to ``--learners``; the whole run is bounded by ``--duration`` (+ a few seconds to let actions
finish). The goal's rate is taken while the whole class is in, from the end of the ramp to the
deadline ("served with the whole class in"); the rate over the whole run is printed too, lower
because half of it is the ramp. The mix is a choice, written here so it can be argued with: in a class a learner reads
several steps per question and runs a walk now and then, not after every page.

A page turned away by an overloaded worker (503 with ``Retry-After``, the short busy page) is an
error counted once, as "turned away". Expected answers are counted apart from errors: the site
allows 2 running walks per learner and 24 per process (429 without Retry-After: "wait"), and
rate-limits walk creation and quiz answers (429 with Retry-After): the learner backs off
(Retry-After, or 1-3 s, never past the end of the run) and tries again a few times. "Served"
counts pages and redirects (2xx, 3xx) only: neither a 503 nor a 429 is a page served; every
status is in the JSON's "statuses".

The servers are started by this script, in temporary folders:

* ``embedded``: one uvicorn worker (its lab in a child process, as ``make run``'s; ``--worker-env
  NETLEARN_LAB_MODE=embedded`` for a thread), SQLite (WAL) in ``NETLEARN_DATA_DIR``, the in-memory
  channel layer and cache, seeded with ``migrate`` + ``seed_content``;
* ``stack``: the layout of docs/deploy.md via ``tests/scale/stack.py``: nginx → 2 uvicorn workers →
  PostgreSQL + Redis (channel layer and cache).

Memory, measured twice. First, before the load, "per connected learner": ``--learners`` idle
WebSockets (a learner's open walk page) are opened on a finished walk and the growth of the
workers' VmRSS (``/proc/<pid>/status``; their labs included: threads inside them, or child processes
with ``NETLEARN_LAB_MODE=process``, and their walk finishers' processes, counted with them as their
CPU is) is divided by
their number; they are closed again before the load. Second, under load: (RSS at the peak of
connected learners − RSS after warm-up) / connected learners at that peak, which also counts
everything else the load makes the heap grow by (request buffers, caches, fragmentation). PostgreSQL, Redis
and nginx are reported apart. The client runs on the same machine and competes for its cores: the
figures are a floor for what the server would do alone. Not a test: it prints figures.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netlearn.devtools.servers import free_port  # noqa: E402
from netlearn.devtools.stack import PYTHON, Worker, manage, start_stack  # noqa: E402
from tests.scale.http_client import Browser, HttpError, Response  # noqa: E402

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')
CHOICE_RE = re.compile(r'name="choice" value="(\d+)"')
WALK_RE = re.compile(r"/walk/([0-9a-f-]{36})/")
WALK_URLS = ["http://shop.netlearn.test/", "http://www.netlearn.test/", "http://shop.netlearn.test/"]


# -- the class ---------------------------------------------------------------------------------
@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    expected: Counter = field(default_factory=Counter)
    requests: int = 0
    # Requests answered (and the 503s among them) while every learner was in the class: from the end
    # of the ramp to the deadline. The whole run's rate is diluted by the ramp (half the run with
    # fewer learners, and the grace after it): the goal names the rate of a full class.
    full_class: tuple[float, float] = (0.0, 0.0)
    full_requests: int = 0
    full_served: int = 0
    connected: int = 0
    started: int = 0
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, connected, worker RSS kB)
    # Which pages were turned away, and when (the ramp, the full class, the grace after it): a
    # learner's first page makes their session, so turn-aways during the ramp and during the full
    # class have different causes.
    turned_away_by: Counter = field(default_factory=Counter)


@dataclass
class Site:
    name: str
    base: str
    worker_pids: list[int]
    other_pids: dict[str, list[int]]
    steps: list[str]
    questions: list[str]
    stop: callable


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def with_children(pids: list[int]) -> list[int]:
    """These processes and their descendants: a worker's lab in a process of its own
    (``NETLEARN_LAB_MODE=process``) is the worker's cost, in memory and in CPU alike."""
    import psutil

    found = list(pids)
    for pid in pids:
        try:
            found += [c.pid for c in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            pass
    return found


def tree_rss_kb(pids: list[int]) -> int:
    return sum(rss_kb(pid) for pid in with_children(pids))


class Learner:
    def __init__(self, n: int, site: Site, stats: Stats, args: argparse.Namespace, deadline: float) -> None:
        self.n, self.site, self.stats, self.args, self.deadline = n, site, stats, args, deadline
        self.browser = Browser(site.base)
        self.ws = None
        self.last_walk: str | None = None
        self.rng = random.Random(n)

    async def timed(self, action: str, method: str, path: str, form: dict[str, str] | None = None) -> Response | None:
        t0 = time.perf_counter()
        try:
            response = await self.browser.request(method, path, form)
        except HttpError as exc:
            self.stats.errors[f"{action}: {exc.kind}"] += 1
            return None
        self.stats.requests += 1
        self.stats.statuses[response.status] += 1
        start, end = self.stats.full_class
        now = time.monotonic()
        if start <= now <= end:
            self.stats.full_requests += 1
            self.stats.full_served += response.status < 400
        if response.status == 503:
            phase = "ramp" if now < start else "full class" if now <= end else "after"
            self.stats.turned_away_by[f"{action} ({phase})"] += 1
        # A page turned away by an overloaded worker (503, the polite busy page) is an error counted
        # once, here, as "turned away": callers skip it. Its (fast) answer time is kept apart so the
        # table shows what served pages took.
        bucket = "turned away (503)" if response.status == 503 else action
        self.stats.latencies[bucket].append((time.perf_counter() - t0) * 1000)
        return response

    async def think(self) -> None:
        lo, hi = self.args.think
        await asyncio.sleep(max(0.0, min(self.rng.uniform(lo, hi), self.deadline - time.monotonic())))

    async def back_off(self, response: Response) -> bool:
        """Wait as the answer asks (Retry-After, or 1-3 s); False when that would end past the
        deadline: the learner stops there rather than sleeping on after the run (which stretched
        the run's wall time by up to 30 s and diluted its rates)."""
        retry_after = response.headers.get("retry-after")
        delay = min(float(retry_after), 10.0) if retry_after else self.rng.uniform(1.0, 3.0)
        if time.monotonic() + delay > self.deadline:
            return False
        await asyncio.sleep(delay)
        return True

    async def run(self) -> None:
        self.stats.started += 1
        try:
            names, weights = zip(*self.args.mix.items())
            actions = {"steps": self.step_page, "quiz": self.quiz, "walk": self.walk}
            while time.monotonic() < self.deadline:
                await actions[self.rng.choices(names, weights)[0]]()
                await self.think()
        finally:
            await self.drop_ws()
            await self.browser.close()

    async def step_page(self) -> None:
        await self.page(self.rng.choice(self.site.steps))

    async def page(self, path: str) -> None:
        response = await self.timed("lesson step GET", "GET", path)
        if response is not None and response.status not in (200, 503):  # 503: counted as turned away
            self.stats.errors[f"lesson step GET: HTTP {response.status}"] += 1

    async def quiz(self) -> None:
        key = self.rng.choice(self.site.questions)
        page = await self.timed("question GET", "GET", f"/quizzes/q/{key}/")
        if page is None or page.status == 503:  # 503: counted as turned away (see ``timed``)
            return
        csrf, token, choices = CSRF_RE.search(page.body), TOKEN_RE.search(page.body), CHOICE_RE.findall(page.body)
        if page.status != 200 or not (csrf and token and choices):
            self.stats.errors[f"question GET: HTTP {page.status}{'' if csrf and token else ' no form'}"] += 1
            return
        form = {"csrfmiddlewaretoken": csrf.group(1), "token": token.group(1), "mode": "practice",
                "question": key, "choice": self.rng.choice(choices)}
        for _ in range(3):
            answer = await self.timed("answer POST", "POST", f"/quizzes/q/{key}/answer/", form)
            if answer is None or answer.status == 503:
                return
            if answer.status == 429:
                self.stats.expected["answer POST: 429 rate-limited"] += 1
                if not await self.back_off(answer):
                    return
                continue
            if answer.status != 200:
                self.stats.errors[f"answer POST: HTTP {answer.status}"] += 1
            return

    async def walk(self) -> None:
        csrf = self.browser.cookies.get("csrftoken")
        if not csrf:
            form_page = await self.timed("walk form GET", "GET", "/walk/")
            if form_page is None or form_page.status == 503:  # counted already: an error or turned away
                return
            match = CSRF_RE.search(form_page.body)
            if form_page.status != 200 or not match:
                self.stats.errors[f"walk form GET: HTTP {form_page.status}{'' if match else ' without a form'}"] += 1
                return
            csrf = match.group(1)
        form = {"csrfmiddlewaretoken": csrf, "url": self.rng.choice(WALK_URLS)}
        t0 = time.perf_counter()
        for _ in range(4):
            posted = await self.timed("walk POST", "POST", "/walk/", form)
            if posted is None or posted.status == 503:
                return
            if posted.status == 429:
                kind = "rate-limited" if "retry-after" in posted.headers else "wait (walks running)"
                self.stats.expected[f"walk POST: 429 {kind}"] += 1
                if not await self.back_off(posted):
                    return
                continue
            match = WALK_RE.search(posted.headers.get("location", ""))
            if posted.status != 302 or not match:
                self.stats.errors[f"walk POST: HTTP {posted.status}"] += 1
                return
            self.last_walk = match.group(1)
            await self.follow(match.group(1), t0)
            return
        self.stats.expected["walk: given up after 4 answers of 429"] += 1

    async def drop_ws(self) -> None:
        if self.ws is not None:
            ws, self.ws = self.ws, None
            self.stats.connected -= 1
            try:
                await asyncio.wait_for(ws.close(), 5)
            except Exception:  # noqa: BLE001 - a close that fails still frees the socket
                pass

    async def follow(self, walk_id: str, t0: float) -> None:
        import websockets

        await self.drop_ws()
        url = self.site.base.replace("http", "ws", 1) + f"/ws/walk/{walk_id}/?lang=en"
        t1 = time.perf_counter()
        try:
            ws = await asyncio.wait_for(websockets.connect(
                url, origin=self.site.base, additional_headers={"Cookie": self.browser.cookie_header()},
                open_timeout=30, ping_interval=None, max_size=2**22), 30)
        except Exception as exc:  # noqa: BLE001 - every failure is a figure
            # A refused handshake says with what status (websockets' InvalidStatus carries the answer).
            status = getattr(getattr(exc, "response", None), "status_code", None)
            self.stats.errors[f"ws connect: {type(exc).__name__}" + (f" {status}" if status else "")] += 1
            return
        self.stats.latencies["ws connect"].append((time.perf_counter() - t1) * 1000)
        self.ws = ws
        self.stats.connected += 1
        try:
            async with asyncio.timeout(45):
                while True:
                    message = await ws.recv()
                    if 'id="walk-result"' in message:
                        break
        except Exception as exc:  # noqa: BLE001
            self.stats.errors[f"ws until final: {type(exc).__name__}"] += 1
            await self.drop_ws()
            return
        self.stats.latencies["walk POST→final msg"].append((time.perf_counter() - t0) * 1000)


async def discover(base: str) -> tuple[list[str], list[str]]:
    """Lesson step pages and choice questions, from the site's own pages."""
    browser = Browser(base)
    try:
        listing = (await browser.request("GET", "/lessons/")).body
        lessons = sorted(set(re.findall(r'href="(/lessons/[\w-]+/)"', listing)) - {"/lessons/_preview/"})
        steps: list[str] = []
        for lesson in lessons[:6]:
            steps += re.findall(r'href="(/lessons/[\w-]+/\d+/)"', (await browser.request("GET", lesson)).body)
        quizzes = (await browser.request("GET", "/quizzes/")).body
        keys: list[str] = []
        for quiz in sorted(set(re.findall(r'href="(/quizzes/[\w-]+/)"', quizzes)) - {"/quizzes/practice/"})[:6]:
            keys += re.findall(r'data-question="([\w-]+)"', (await browser.request("GET", quiz)).body)
        questions = []
        for key in dict.fromkeys(keys):
            if CHOICE_RE.search((await browser.request("GET", f"/quizzes/q/{key}/")).body):
                questions.append(key)
            if len(questions) >= 12:
                break
    finally:
        await browser.close()
    if not steps or not questions:
        raise RuntimeError(f"found {len(steps)} step pages and {len(questions)} choice questions on {base}")
    return sorted(set(steps)), questions


def cpu_seconds(pids: list[int], *, children: bool = True) -> float:
    """User + system CPU of these processes, and of their children unless told not to (all their
    threads), from /proc/<pid>/stat."""
    total = 0
    for pid in with_children(pids) if children else pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


async def request_costs(site: Site, count: int = 150, walks: int = 12) -> list[tuple[str, float]]:
    """Worker CPU per request, one request at a time on a keep-alive connection: the price of
    each page on this machine, independent of concurrency. ``/healthz`` comes close to a floor:
    Django's whole middleware stack plus a small JSON of the lab's state. A question GET + answer
    POST is priced as a pair (the answer needs the page's attempt token), and a walk as everything
    it makes the worker do (its lab included, in a thread or its child process): the POST, the
    WebSocket, the walk through the lab with its capture, storing it, and the final render streamed
    to the page; then the worker process's share alone."""
    browser = Browser(site.base)
    costs = []
    try:
        await browser.request("GET", site.steps[0])  # a session, like a learner's
        for label, path in (("GET /healthz (middleware + the lab's state as JSON)", "/healthz"),
                            ("lesson step GET", site.steps[0]),
                            ("question GET", f"/quizzes/q/{site.questions[0]}/")):
            for _ in range(10):
                await browser.request("GET", path)
            before = cpu_seconds(site.worker_pids)
            for _ in range(count):
                await browser.request("GET", path)
            costs.append((label, (cpu_seconds(site.worker_pids) - before) * 1000 / count))
        learner = Learner(-2, site, Stats(), argparse.Namespace(), time.monotonic())
        learner.browser = browser
        pairs = count // 3
        # Every question page once first, as "question GET" above was measured warm: the answer is
        # priced as pair - question, and a pair's first view of a page (rendered once per content
        # version) was counted as the answer's cost. Then a few pairs, as every figure here has its
        # warm-up requests (templates compiled, the answer writer started). The feedback cards of
        # the measured pairs stay mostly cold: random questions, random answers.
        for key in site.questions:
            await browser.request("GET", f"/quizzes/q/{key}/")
        for _ in range(5):
            await learner.quiz()
        before = cpu_seconds(site.worker_pids)
        for _ in range(pairs):
            await learner.quiz()
        costs.append(("question GET + answer POST", (cpu_seconds(site.worker_pids) - before) * 1000 / pairs))
        await learner.walk()  # warm: the walk form, the lab's caches
        await asyncio.sleep(1.0)
        before = cpu_seconds(site.worker_pids)
        own_before = cpu_seconds(site.worker_pids, children=False)
        for _ in range(walks):
            await learner.walk()
        await learner.drop_ws()
        costs.append(("walk (POST, WebSocket, lab, capture, store, final render)",
                      (cpu_seconds(site.worker_pids) - before) * 1000 / walks))
        # The same walks without the worker's child processes (its lab's and its walk finisher's).
        costs.append(("walk, the worker process alone",
                      (cpu_seconds(site.worker_pids, children=False) - own_before) * 1000 / walks))
    finally:
        await browser.close()
    return costs


async def idle_socket_memory(site: Site, walk_id: str | None, count: int) -> tuple[int, int]:
    """(sockets opened, KB of worker RSS per socket): idle learners, each holding a walk page's
    WebSocket on a finished walk, the state a class sits in between actions."""
    import websockets

    if walk_id is None:
        return 0, 0
    await asyncio.sleep(1.0)
    before = tree_rss_kb(site.worker_pids)
    url = site.base.replace("http", "ws", 1) + f"/ws/walk/{walk_id}/?lang=en"
    sockets = []

    async def one() -> None:
        ws = await websockets.connect(url, origin=site.base, open_timeout=30, ping_interval=None, max_size=2**22)
        await asyncio.wait_for(ws.recv(), 30)  # the final render: the consumer is fully set up
        sockets.append(ws)

    try:
        for start in range(0, count, 50):  # 50 at a time: a class arriving, not a SYN flood
            results = await asyncio.gather(*(one() for _ in range(start, min(count, start + 50))),
                                           return_exceptions=True)
            failed = [r for r in results if isinstance(r, Exception)]
            if failed:
                print(f"  idle sockets: {len(failed)} failed to open ({failed[0]!r})", file=sys.stderr)
        await asyncio.sleep(2.0)
        after = tree_rss_kb(site.worker_pids)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return len(sockets), round((after - before) / len(sockets)) if sockets else 0


async def sampler(site: Site, stats: Stats, t_start: float, done: asyncio.Event) -> None:
    while not done.is_set():
        stats.samples.append((time.monotonic() - t_start, stats.connected, tree_rss_kb(site.worker_pids)))
        try:
            await asyncio.wait_for(done.wait(), 1.0)
        except TimeoutError:
            pass


async def client_lag(lags: list[float], done: asyncio.Event, every: float = 0.005) -> None:
    """This client's own event-loop lag, sampled every 5 ms while the class runs: the load generator
    shares the two cores and one loop with 1,000 learners, and a latency it measures includes the
    time its own loop was late to read the answer. Printed beside the step page's tail so the two
    can be told apart (a server-side tail cannot be smaller than what this adds)."""
    loop = asyncio.get_running_loop()
    while not done.is_set():
        t0 = loop.time()
        await asyncio.sleep(every)
        lags.append((loop.time() - t0 - every) * 1000)


async def run_class(site: Site, args: argparse.Namespace) -> tuple[Stats, dict]:
    stats = Stats()
    # Warm-up: every page once, a walk, then the baseline RSS.
    warm = Learner(-1, site, Stats(), args, time.monotonic())
    for path in site.steps[:10]:
        await warm.page(path)
    await warm.quiz()
    await warm.walk()
    await warm.drop_ws()
    await warm.browser.close()
    costs = await request_costs(site, count=getattr(args, "cost_requests", 150))
    if args.costs_only:
        return stats, {"costs": costs}
    idle = await idle_socket_memory(site, warm.last_walk, args.learners)
    await asyncio.sleep(1.0)
    baseline = tree_rss_kb(site.worker_pids)
    t_start = time.monotonic()
    cpu_before = cpu_seconds(site.worker_pids)
    own_before = cpu_seconds(site.worker_pids, children=False)
    deadline = t_start + args.duration
    stats.full_class = (t_start + args.ramp, deadline)
    client_before = resource.getrusage(resource.RUSAGE_SELF)
    done = asyncio.Event()
    sample_task = asyncio.create_task(sampler(site, stats, t_start, done))
    lags: list[float] = []
    lag_task = asyncio.create_task(client_lag(lags, done))
    tasks = []
    for n in range(args.learners):
        at = t_start + args.ramp * n / args.learners
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        if time.monotonic() >= deadline:
            break
        tasks.append(asyncio.create_task(Learner(n, site, stats, args, deadline).run()))
    remaining = deadline - time.monotonic()
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, remaining) + args.grace)
    for task in pending:  # still mid-action after the grace period: counted as cut off
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=10)
    if pending:
        stats.expected["learner cut off at the end of the run"] += len(pending)
    wall = time.monotonic() - t_start
    worker_cpu = cpu_seconds(site.worker_pids) - cpu_before
    own_cpu = cpu_seconds(site.worker_pids, children=False) - own_before
    client_after = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (client_after.ru_utime + client_after.ru_stime) - (client_before.ru_utime + client_before.ru_stime)
    done.set()
    await sample_task
    await lag_task
    peak = max(stats.samples, key=lambda s: (s[1], s[2])) if stats.samples else (0, 0, baseline)
    others = {name: sum(tree_rss_kb([p]) for p in pids) for name, pids in site.other_pids.items()}
    return stats, {"wall": wall, "baseline": baseline, "peak": peak, "idle": idle, "costs": costs,
                   "max_rss": max((s[2] for s in stats.samples), default=baseline), "others": others,
                   "worker_cpu_s": worker_cpu, "own_cpu_s": own_cpu, "client_cpu_s": client_cpu,
                   "client_lag": lags}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def summary(site: Site, args: argparse.Namespace, stats: Stats, mem: dict) -> dict:
    """The run's figures as one JSON-ready dict (``--json``), beside the goal they are held to."""
    if args.costs_only:
        return {"bench": "classroom", "config": site.name, "worker_env": getattr(args, "worker_env", {}),
                "load_avg_1m": os.getloadavg()[0],
                "cpu_ms_per_request": {label: round(ms, 2) for label, ms in mem["costs"]}}
    wall = mem["wall"]
    _, peak_connected, peak_rss = mem["peak"]
    turned_away = len(stats.latencies.get("turned away (503)", []))
    # Served: a page or redirect (2xx, 3xx). Not a 503 (turned away) nor a 429 (rate-limited: the
    # site's polite "not now", cheap and no page): counted apart in "statuses".
    served = sum(n for status, n in stats.statuses.items() if status < 400) / wall
    start, end = stats.full_class
    served_full = stats.full_served / (end - start) if end > start else served
    steps = stats.latencies.get("lesson step GET", [])
    errors = sum(stats.errors.values()) + turned_away
    idle_held, per_socket = mem["idle"]
    actions = {action: {"n": len(v), "p50_ms": round(pct(v, 50), 1), "p99_ms": round(pct(v, 99), 1)}
               for action, v in stats.latencies.items() if v}
    return {
        "bench": "classroom", "config": site.name, "worker_env": getattr(args, "worker_env", {}),
        "learners": args.learners, "duration_s": args.duration,
        "wall_s": round(wall, 1), "load_avg_1m": os.getloadavg()[0], "served_req_per_s": round(served, 1),
        "answered_req_per_s": round(stats.requests / wall, 1), "turned_away_503": turned_away,
        "turned_away_by": dict(stats.turned_away_by.most_common()),
        # The goal's rate: served while all the learners were in (end of the ramp to the deadline).
        "served_req_per_s_full_class": round(served_full, 1),
        "answered_req_per_s_full_class": round(stats.full_requests / (end - start), 1) if end > start else None,
        "errors": dict(stats.errors), "expected": dict(stats.expected),
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "step_p99_ms": round(pct(steps, 99), 1) if steps else None,
        "peak_connected": peak_connected, "idle_sockets_held": idle_held, "learners_started": stats.started,
        "kb_per_connected_learner": per_socket,
        "cpu_ms_per_request": {label: round(ms, 2) for label, ms in mem["costs"]}, "actions": actions,
        # The workers' CPU (their labs included, in threads or child processes) during the load, in
        # cores; then the worker processes alone: near 1.0 each means the GIL-bound worker is the
        # limit, well below it means waits. The difference is their children (labs, walk finishers).
        "worker_cpu_cores": round(mem["worker_cpu_s"] / wall, 2),
        "worker_process_cpu_cores": round(mem["own_cpu_s"] / wall, 2),
        # The load generator's own CPU (this process), in cores: it shares the machine's two.
        "client_cpu_cores": round(mem["client_cpu_s"] / wall, 2),
        # How late this client's own loop was (sampled every 5 ms): part of every latency above.
        "client_loop_lag_ms": {"p50": round(pct(mem["client_lag"], 50), 1), "p99": round(pct(mem["client_lag"], 99), 1),
                               "max": round(max(mem["client_lag"], default=float("nan")), 1)},
        "goal_met": {"served_200_req_per_s": served_full >= 200, "step_p99_50ms": bool(steps) and pct(steps, 99) <= 50,
                     "zero_errors": errors == 0, "kb_per_learner_100": 0 < per_socket <= 100,
                     # 1,000 connected: the idle probe held 1,000 walk-page sockets at once and all
                     # 1,000 learners took part in the load. Not ``peak_connected`` (learners holding a
                     # socket mid-load): a learner opens one only with a walk, 1 action in 10, so in a
                     # minute about half of them ever do and that figure could never reach 1,000.
                     "connected_1000": idle_held >= 1000 and stats.started >= 1000},
    }


def report(site: Site, args: argparse.Namespace, stats: Stats, mem: dict) -> None:
    if args.json or args.costs_only:
        print(json.dumps(summary(site, args, stats, mem)), flush=True)
        return
    wall = mem["wall"]
    _, peak_connected, peak_rss = mem["peak"]
    print(f"\n== {site.name}: {args.learners} learners max, ramp {args.ramp:.0f} s, run {wall:.1f} s, "
          f"think {args.think[0]:g}-{args.think[1]:g} s, mix "
          f"{','.join(f'{k}={v:g}' for k, v in args.mix.items())}, learners started {stats.started}")
    served = sum(n for status, n in stats.statuses.items() if status < 400)
    print(f"throughput: {stats.requests / wall:.1f} HTTP req/s ({stats.requests} answered, "
          f"{served / wall:.1f}/s served), "
          f"{len(stats.latencies['walk POST→final msg']) / wall:.2f} walks/s completed")
    start, end = stats.full_class
    if end > start:
        print(f"with the whole class in ({end - start:.0f} s from the end of the ramp): "
              f"{stats.full_served / (end - start):.1f} req/s served (2xx, 3xx), "
              f"{stats.full_requests - stats.full_served} not (429, 503)")
    print(f"CPU during the load, in cores: workers {mem['worker_cpu_s'] / wall:.2f} "
          f"(the worker processes alone {mem['own_cpu_s'] / wall:.2f}, the rest their children: labs, walk finishers), "
          f"this client {mem['client_cpu_s'] / wall:.2f}")
    print(f"this client's own loop lag (part of every latency below): p50 {pct(mem['client_lag'], 50):.1f} ms, "
          f"p99 {pct(mem['client_lag'], 99):.1f} ms, max {max(mem['client_lag'], default=float('nan')):.1f} ms")
    print(f"{'action':24s} {'n':>7s} {'per s':>7s} {'p50 ms':>9s} {'p95 ms':>9s} {'p99 ms':>9s}")
    for action in ("lesson step GET", "question GET", "answer POST", "walk form GET", "walk POST", "ws connect",
                   "walk POST→final msg", "turned away (503)"):
        values = stats.latencies.get(action, [])
        if values:
            print(f"{action:24s} {len(values):7d} {len(values) / wall:7.1f} {pct(values, 50):9.1f} "
                  f"{pct(values, 95):9.1f} {pct(values, 99):9.1f}")
    turned_away = len(stats.latencies.get("turned away (503)", []))
    print(f"errors: {sum(stats.errors.values()) + turned_away} ({turned_away} turned away with 503)"
          + "".join(f"\n  {n:6d}  {k}" for k, n in stats.errors.most_common())
          + "".join(f"\n  {n:6d}  turned away: {k}" for k, n in stats.turned_away_by.most_common()))
    print(f"expected answers (not errors): {sum(stats.expected.values())}"
          + "".join(f"\n  {n:6d}  {k}" for k, n in stats.expected.most_common()))
    print("worker CPU per request, one at a time: " + "; ".join(
        f"{label} {ms:.1f} ms (≤ {1000 / ms:.0f} req/s per core)" for label, ms in mem["costs"] if ms > 0))
    sockets, per_socket = mem["idle"]
    print(f"memory per connected learner: {per_socket} KB of worker RSS per idle walk-page WebSocket "
          f"({sockets} opened at once before the load)")
    delta = peak_rss - mem["baseline"]
    per = f"{delta / peak_connected:.0f} KB" if peak_connected else "n/a"
    print(f"memory under load: workers ({len(site.worker_pids)}) RSS {mem['baseline'] / 1024:.0f} MB after warm-up, "
          f"{peak_rss / 1024:.0f} MB at the peak of {peak_connected} connected learners "
          f"(max {mem['max_rss'] / 1024:.0f} MB)"
          f" → {per} per connected learner (growth / connected); total RSS / connected = "
          f"{(peak_rss / peak_connected if peak_connected else float('nan')):.0f} KB")
    if mem["others"]:
        print("  apart: " + ", ".join(f"{k} {v / 1024:.0f} MB" for k, v in mem["others"].items()))


# -- the servers ---------------------------------------------------------------------------------
def embedded_site(extra_env: dict[str, str] | None = None) -> tuple[str, list[int], dict, callable]:
    root = Path(tempfile.mkdtemp(prefix="netlearn-classroom-"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "NETLEARN_", "DATABASE_URL", "REDIS_URL"))}
    env.update({"DJANGO_SETTINGS_MODULE": "netlearn.settings.prod",
                "DJANGO_SECRET_KEY": "classroom-bench-secret-key-" + "x" * 40,
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "NETLEARN_HTTPS": "0",
                "NETLEARN_DATA_DIR": str(root / "data"), "NETLEARN_LAB_MODE": "process",
                "NETLEARN_LAB_EPHEMERAL": "1"})
    env.update(extra_env or {})
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_content")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    worker = Worker(free_port(), env, root / "worker.log").start()

    def stop() -> None:
        worker.stop()
        shutil.rmtree(root, ignore_errors=True)

    return worker.url, [worker.process.pid], {}, stop


def stack_site(extra_env: dict[str, str] | None = None) -> tuple[str, list[int], dict, callable]:
    stack = start_stack(workers=2, extra_env=extra_env)
    pg_pids = []
    pidfile = stack.postgres.root / "data" / "postmaster.pid"
    if pidfile.exists():
        pg_pids = [int(pidfile.read_text().split()[0])]
    others = {"PostgreSQL": pg_pids, "Redis": [stack.redis.executor.process.pid] if stack.redis.executor.process
              else [], "nginx": [stack.nginx.process.pid]}
    return stack.nginx.url, [w.process.pid for w in stack.workers], others, stack.stop


async def bench(name: str, args: argparse.Namespace) -> None:
    if not args.json:
        print(f"starting {name} …", flush=True)
    base, pids, others, stop = (embedded_site if name == "embedded" else stack_site)(args.worker_env)
    try:
        steps, questions = await discover(base)
        label = ("embedded (1 uvicorn worker, its lab's and its walk finisher's processes, SQLite WAL, in-memory layer)"
                 if name == "embedded" else "stack (nginx → 2 uvicorn workers, PostgreSQL, Redis)")
        site = Site(label, base, pids, others, steps, questions, stop)
        stats, mem = await run_class(site, args)
        report(site, args, stats, mem)
    finally:
        await asyncio.to_thread(stop)


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in ("steps", "quiz", "walk") or not weight:
            raise argparse.ArgumentTypeError(f"not an action weight: {part!r} (steps=, quiz=, walk=)")
        mix[name.strip()] = float(weight)
    return mix


def parse_env(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"not NAME=VALUE: {text!r}")
    return name.strip(), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=1000, help="connected learners at the end of the ramp")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load, ramp included")
    parser.add_argument("--ramp", type=float, default=None, help="seconds to start every learner (default: half)")
    parser.add_argument("--grace", type=float, default=50.0, help="seconds to let actions finish after the end")
    parser.add_argument("--think", type=float, nargs=2, default=(2.0, 8.0), metavar=("MIN", "MAX"))
    parser.add_argument("--mix", type=parse_mix, default=parse_mix("steps=6,quiz=3,walk=1"),
                        help="relative weights of the actions, e.g. steps=6,quiz=3,walk=1")
    parser.add_argument("--config", choices=("both", "embedded", "stack"), default="both")
    parser.add_argument("--json", action="store_true", help="one JSON line of figures per configuration")
    parser.add_argument("--costs-only", action="store_true",
                        help="only the worker CPU per request and per walk, one at a time (no class): a quick check")
    parser.add_argument("--cost-requests", type=int, default=150,
                        help="requests per page when pricing one request at a time (more: steadier figures)")
    parser.add_argument("--worker-env", type=parse_env, action="append", default=[], metavar="NAME=VALUE",
                        help="set in every worker's environment (repeatable), e.g. NETLEARN_SYNC_THREADS=2")
    args = parser.parse_args()
    args.worker_env = dict(args.worker_env)
    args.ramp = args.duration / 2 if args.ramp is None else min(args.ramp, args.duration)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers started from here inherit it
    if not args.json:
        print(f"bench/classroom on {os.cpu_count()} cores, Python {sys.version.split()[0]}, client and servers on "
              f"the same machine (the client's CPU competes with the server's); {PYTHON}")
    for name in (("embedded", "stack") if args.config == "both" else (args.config,)):
        asyncio.run(bench(name, args))


if __name__ == "__main__":
    main()
