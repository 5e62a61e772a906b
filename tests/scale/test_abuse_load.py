"""Abuse under load: a cookie rotator and a compare holder cannot deny lessons or walks to a class.

A real worker (uvicorn, production settings, SQLite, the embedded lab, 8 pooled request
threads) on loopback. 50 well-behaved learners, each with its own session and keep-alive
connection, read lesson steps and run walks (POST /walk/, then the walk's JSON until it is
stored), thinking between actions, for the whole test. The time is cut into slices that
alternate quiet (the learners alone) and abused (the learners, plus):

* one client POSTing walks with a fresh made-up ``sessionid`` every time (which escaped the
  rate limits when they hashed the raw cookie: every one of its walks started), and
* one client holding ``HOLDERS`` compare requests with the largest added latency (each held one
  of the 8 request threads for seconds while the lab compared: with eight of them every page
  queued, then got 503 — measured on the old code: with the default 2 s shed delay, 75 refused
  requests; with this test's 15 s, a page p99 of 6.8 s against 0.76 s quiet, and all 81 of the
  rotator's walks started).

Why alternate: on a 2-core machine shared with other jobs the same quiet load varies several
times over from one minute to the next; slices of both kinds interleaved see the same
neighbours, so the comparison is between the conditions, not between two moments.

Pass: no learner request is refused or fails, and the learners' p99 (lesson pages, and walks
from POST to stored) in the abused slices stays within 2× of the quiet slices' (the issue's
criterion, the only time figure asserted, and relative), or within ``NOISE_FLOOR`` of it: when the
quiet p99 is a few tens of ms, 2× is scheduling noise on two shared cores (a CI run saw 69 ms
against 33 ms, median 5 ms), while the failure this guards against is seconds (6.8 s against
0.76 s). The abusers really abused: the rotator
was refused (429) past its limit and the holder's comparisons were turned away or answered at
once, never with an error. Bounded: every loop stops at its slice's or the test's deadline, and
requests time out.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from netlearn.devtools.servers import free_port
from netlearn.devtools.stack import Worker, manage
from tests.scale.client import CSRF_RE, WALK_RE
from tests.scale.http_client import Browser, HttpError

pytestmark = [pytest.mark.services, pytest.mark.timeout(420)]

LEARNERS = 50
#: Alternating quiet and abused slices, quiet first and last.
SLICES = 7
SLICE_SECONDS = 18.0
THINK_SECONDS = (2.0, 6.0)
WALK_SHARE = 0.3
WALK_URL = "http://shop.netlearn.test/"
HOLDERS = 12
ABUSER_PAUSE = {"rotator": 0.25, "holder": 2.0}
STATUS_RE = re.compile(r'"status":\s*"(\w+)"')


@dataclass
class Phase:
    name: str
    pages: list[float] = field(default_factory=list)
    walks: list[float] = field(default_factory=list)
    denied: Counter = field(default_factory=Counter)
    abuse: Counter = field(default_factory=Counter)


#: Seconds of p99 difference below which "abused" and "quiet" are not told apart (see the docstring).
NOISE_FLOOR = 0.1


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


@pytest.fixture(scope="module")
def worker():
    """One worker as `make run` serves: production settings, SQLite, the embedded lab."""
    root = Path(tempfile.mkdtemp(prefix="netlearn-abuse-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "NETLEARN_", "DATABASE_URL", "REDIS_URL", "PYTEST_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "netlearn.settings.prod",
            "DJANGO_SECRET_KEY": "abuse-load-test-secret-key-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "NETLEARN_HTTPS": "0",
            "NETLEARN_DATA_DIR": str(root / "data"),
            "NETLEARN_LAB_MODE": "embedded",
            "NETLEARN_LAB_EPHEMERAL": "1",
            # Shed load only after a long wait: on a 2-core machine shared with other jobs the
            # quiet phase alone can queue a request for seconds, and a 503 there is the
            # neighbours' doing, not the abuse's. Threads held by the abuse still show, as a p99
            # that leaves the quiet figure far behind (measured on the old code: 6.8 s against 0.76 s).
            "NETLEARN_MAX_QUEUE_DELAY": "15",
        }
    )
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_content")
    running = Worker(free_port(), env, root / "worker.log").start()
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


async def _step_pages(base: str) -> list[str]:
    browser = Browser(base)
    try:
        listing = (await browser.request("GET", "/lessons/")).body
        lessons = sorted(set(re.findall(r'href="(/lessons/[\w-]+/)"', listing)) - {"/lessons/_preview/"})
        steps: list[str] = []
        for lesson in lessons[:4]:
            steps += re.findall(r'href="(/lessons/[\w-]+/\d+/)"', (await browser.request("GET", lesson)).body)
    finally:
        await browser.close()
    assert steps, "no lesson step pages found"
    return sorted(set(steps))


async def _csrf(browser: Browser, path: str) -> str:
    """The form's CSRF token; a page that did not come (503, 429) is an HttpError like a time-out."""
    page = await browser.request("GET", path)
    match = CSRF_RE.search(page.body)
    if not match:
        raise HttpError(f"{path} {page.status}")
    return match.group(1)


class Learner:
    """Reads steps and runs walks; any refusal, error or time-out is a denial."""

    def __init__(self, n: int, base: str, steps: list[str]) -> None:
        self.browser = Browser(base)
        self.rng = random.Random(n)
        self.steps = steps
        self.csrf = ""

    async def run(self, now: Callable[[], Phase], deadline: float) -> None:
        """Act until ``deadline``; each action counts in the slice (``now()``) it started in."""
        await asyncio.sleep(self.rng.uniform(0, THINK_SECONDS[1]))  # arrive spread out, as a class does
        while time.monotonic() < deadline:
            phase = now()
            try:
                if self.rng.random() < WALK_SHARE:
                    await self.walk(phase)
                else:
                    await self.page(phase)
            except HttpError as exc:
                phase.denied[exc.kind] += 1
            await asyncio.sleep(self.rng.uniform(*THINK_SECONDS))

    async def page(self, phase: Phase) -> None:
        t0 = time.perf_counter()
        answer = await self.browser.request("GET", self.rng.choice(self.steps))
        if answer.status != 200:
            phase.denied[f"step page {answer.status}"] += 1
            return
        phase.pages.append(time.perf_counter() - t0)

    async def walk(self, phase: Phase) -> None:
        if not self.csrf:
            self.csrf = await _csrf(self.browser, "/walk/")  # also gives the learner a session
        t0 = time.perf_counter()
        posted = await self.browser.request(
            "POST", "/walk/", {"csrfmiddlewaretoken": self.csrf, "url": WALK_URL}
        )
        match = WALK_RE.search(posted.headers.get("location", ""))
        if posted.status != 302 or not match:
            phase.denied[f"walk POST {posted.status}"] += 1
            return
        until = time.monotonic() + 30
        while time.monotonic() < until:
            stored = await self.browser.request("GET", f"/walk/{match.group(1)}.json")
            status = STATUS_RE.search(stored.body)
            if stored.status != 200 or not status:
                phase.denied[f"walk JSON {stored.status}"] += 1
                return
            if status.group(1) != "running":
                if status.group(1) != "done":
                    phase.denied[f"walk {status.group(1)}"] += 1
                    return
                phase.walks.append(time.perf_counter() - t0)
                return
            await asyncio.sleep(0.2)  # a page polls its walk; this is the learner's poll interval
        phase.denied["walk never stored"] += 1


async def rotator(base: str, phase: Phase, deadline: float) -> None:
    """POSTs walks back to back, each with a new made-up session cookie (the CSRF cookie is kept)."""
    browser = Browser(base)
    try:
        csrf = CSRF_RE.search((await browser.request("GET", "/walk/")).body).group(1)
        while time.monotonic() < deadline:
            browser.cookies = {"csrftoken": browser.cookies["csrftoken"], "sessionid": secrets.token_hex(16)}
            try:
                answer = await browser.request(
                    "POST", "/walk/", {"csrfmiddlewaretoken": csrf, "url": WALK_URL}, timeout=10
                )
                phase.abuse[f"rotator {answer.status}"] += 1
            except HttpError as exc:
                phase.abuse[f"rotator {exc.kind}"] += 1
            await asyncio.sleep(ABUSER_PAUSE["rotator"])
    finally:
        await browser.close()


async def holder(base: str, session: dict[str, str], csrf: str, phase: Phase, deadline: float) -> None:
    """Keeps one compare request in flight (200 ms added per round trip: seconds in the lab)."""
    browser = Browser(base)
    browser.cookies = dict(session)
    try:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                answer = await browser.request(
                    "POST",
                    "/walk/compare/",
                    {"csrfmiddlewaretoken": csrf, "url": "https://shop.netlearn.test/", "latency": "200"},
                    timeout=60,
                )
                phase.abuse[f"compare {answer.status}"] += 1
                phase.abuse["compare answer ms total"] += round((time.perf_counter() - t0) * 1000)
            except HttpError as exc:
                phase.abuse[f"compare {exc.kind}"] += 1
            await asyncio.sleep(ABUSER_PAUSE["holder"])
    finally:
        await browser.close()


async def abuse(base: str, phase: Phase, deadline: float) -> None:
    """Both abusers until ``deadline``."""
    owner = Browser(base)  # the holder is one client: one session for all its connections
    try:
        await owner.request("GET", "/walk/")  # the walk page gives a session, as a browser's first visit
        csrf = CSRF_RE.search((await owner.request("GET", "/walk/compare/")).body).group(1)
        session = dict(owner.cookies)
    finally:
        await owner.close()
    await asyncio.gather(rotator(base, phase, deadline),
                         *[holder(base, session, csrf, phase, deadline) for _ in range(HOLDERS)])


async def run_slices(base: str, learners: list[Learner]) -> tuple[Phase, Phase]:
    """Quiet and abused slices in turn (quiet first and last); the learners run throughout."""
    quiet, abused = Phase("quiet"), Phase("abused")
    kinds = [abused if n % 2 else quiet for n in range(SLICES)]
    current = [quiet]
    start = time.monotonic()
    end = start + SLICES * SLICE_SECONDS
    async with asyncio.timeout(SLICES * SLICE_SECONDS + 120):  # bounded even if the server stops answering
        class_running = asyncio.gather(*[learner.run(lambda: current[0], end) for learner in learners])
        for n, kind in enumerate(kinds):
            current[0] = kind
            slice_end = start + (n + 1) * SLICE_SECONDS
            if kind is abused:
                await abuse(base, abused, slice_end)
            await asyncio.sleep(max(0.0, slice_end - time.monotonic()))
        await class_running
    return quiet, abused


def describe(p: Phase) -> str:
    def figures(values: list[float]) -> str:
        return (
            f"n={len(values)} median {median(values) * 1000:.0f} ms p99 {p99(values) * 1000:.0f} ms"
            if values
            else "n=0"
        )

    return (
        f"{p.name:12} pages {figures(p.pages)}; walks {figures(p.walks)}; denied {dict(p.denied)}; "
        f"abuse {dict(p.abuse)}"
    )


async def test_a_cookie_rotator_and_a_compare_holder_cannot_deny_a_class(worker) -> None:
    base = worker.url
    steps = await _step_pages(base)
    learners = [Learner(n, base, steps) for n in range(LEARNERS)]
    try:
        quiet, abused = await run_slices(base, learners)
    finally:
        for learner in learners:
            await learner.browser.close()
    summary = "\n".join(describe(p) for p in (quiet, abused))
    print(summary)
    for phase in (quiet, abused):
        assert not phase.denied, summary
        assert len(phase.pages) >= 150 and len(phase.walks) >= 50, summary  # enough samples for a p99
    # The abuse happened and was contained: the rotator refused past its limit (20 walks a minute,
    # in however many minute windows the test spans), the holder answered at once or turned away.
    windows = int(SLICES * SLICE_SECONDS // 60) + 2
    assert abused.abuse["rotator 429"] > 0 and abused.abuse["rotator 302"] <= 20 * windows, summary
    answered = {int(k[8:]): n for k, n in abused.abuse.items() if k.startswith("compare ") and k[8:].isdigit()}
    assert sum(answered.values()) >= HOLDERS and answered.get(429, 0) > 0, summary
    assert all(status < 500 for status in answered), summary
    for metric in ("pages", "walks"):
        calm = p99(getattr(quiet, metric))
        assert p99(getattr(abused, metric)) <= max(2 * calm, calm + NOISE_FLOOR), (metric, summary)
