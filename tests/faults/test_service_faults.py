"""Faults in the production layout (nginx → 2 uvicorn workers → PostgreSQL + Redis), each test on a
stack of its own (netlearn/devtools/stack.py): Redis stopped mid-walk and brought back, PostgreSQL
restarted between a quiz answer and its resubmission, a worker SIGKILLed during walks."""
from __future__ import annotations

import asyncio
import re
import signal
import time

import psycopg
import pytest

from netlearn.devtools.stack import Stack, start_stack
from tests.scale.client import CSRF_RE, Learner, watch_walk

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]

TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')
CHOICE_RE = re.compile(r'name="choice" value="(\d+)"')
QUESTION_RE = re.compile(r'data-question="([\w-]+)"')


@pytest.fixture
def stack() -> Stack:
    # One try: a start that fails is a failure to see, not to hide (Postgres.start waits until the
    # fresh cluster accepts sessions, which is what a retry here used to paper over).
    the_stack = start_stack(workers=2)
    yield the_stack
    the_stack.stop()


def _poll_json(learner: Learner, walk_id: str, *, until: float = 60.0) -> str:
    """The walk's JSON once it is no longer running (polling as the page's fallback does)."""
    deadline = time.monotonic() + until
    body = ""
    while time.monotonic() < deadline:
        answer = learner.get(f"/walk/{walk_id}.json")
        body = answer.body.replace('":"', '": "')
        if answer.status == 200 and '"status": "running"' not in body:
            return body
        time.sleep(0.3)
    return body


def _last(upstream: str) -> str:
    return upstream.split(",")[-1].strip()


def _choice_question(learner: Learner) -> str:
    quizzes = sorted(set(re.findall(r'href="(/quizzes/[\w-]+/)"', learner.get("/quizzes/").body)) - {
        "/quizzes/practice/"})
    for quiz in quizzes:
        for key in QUESTION_RE.findall(learner.get(quiz).body):
            if CHOICE_RE.search(learner.get(f"/quizzes/q/{key}/").body):
                return key
    raise AssertionError("no choice question in the seeded content")


def test_redis_stopped_mid_walk_and_brought_back(stack):
    learner = Learner(stack.nginx.url)
    walk_id, _ = learner.start_walk("http://www.netlearn.test/slow")
    step = re.search(r'href="(/lessons/[\w-]+/)"', learner.get("/lessons/").body)[1] + "1/"
    for _ in stack.workers:  # a returning learner's step page: next time, its cache entries are read ahead
        assert learner.get(step).status == 200
    stack.redis.stop()
    try:
        # The site answers while Redis is away: pages (a step page whose read-ahead now fails
        # among them: netlearn.core.loopcache), and the walk's own page.
        for path in ("/", "/lessons/", step, step, f"/walk/{walk_id}/", "/healthz"):
            assert learner.get(path).status == 200, path
        assert any("cache read-ahead skipped: Redis unreachable" in worker.log.read_text(errors="replace")
                   for worker in stack.workers)  # the step page went to a thread, which answered
        during = _poll_json(learner, walk_id)
    finally:
        stack.redis.start()
    assert '"status": "done"' in during, during[:500]  # stored although the layer was down
    # Back: the stored walk shows on its page through every worker, and a new walk streams live.
    for worker in stack.workers:
        page = Learner(worker.url).get(f"/walk/{walk_id}.json")
        assert page.status == 200 and '"status": "done"' in page.body.replace('":"', '": "')
    assert 'id="walk-result"' in learner.get(f"/walk/{walk_id}/").body
    again = Learner(stack.nginx.url)
    new_id, _ = again.start_walk("http://shop.netlearn.test/")
    messages, _ = asyncio.run(watch_walk(stack.nginx.url, new_id, cookie=again.cookie_header(), timeout=30))
    assert 'id="walk-result"' in messages[-1]


def _answers_written(stack: Stack, timeout: float = 60.0) -> None:
    """Wait until every worker's answer journal is written (netlearn.quizzes.answerlog: answers are
    written behind the page; a segment is deleted once its batch has committed)."""
    journals = stack.root / "data" / "answer-journal"
    deadline = time.monotonic() + timeout
    while any(_size(p) for p in journals.glob("*.journal")):
        assert time.monotonic() < deadline, "the answers were never written"
        time.sleep(0.05)


def _size(path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # applied and deleted meanwhile
        return 0


def test_postgres_restarted_between_a_quiz_answer_and_its_resubmission(stack):
    learner = Learner(stack.nginx.url)
    key = _choice_question(learner)
    page = learner.get(f"/quizzes/q/{key}/")
    form = {"csrfmiddlewaretoken": CSRF_RE.search(page.body).group(1), "token": TOKEN_RE.search(page.body).group(1),
            "mode": "practice", "question": key, "choice": CHOICE_RE.search(page.body).group(1)}
    first = learner.request(f"/quizzes/q/{key}/answer/", form)
    assert first.status == 200, first.body[:500]
    stack.postgres.restart()  # returns once the cluster accepts sessions again
    second = learner.request(f"/quizzes/q/{key}/answer/", form)  # the same form, the same token
    assert second.status == 200, second.body[:500]
    _answers_written(stack)
    with psycopg.connect(stack.postgres.url) as conn:
        attempts = conn.execute("SELECT count(*) FROM quizzes_attempt").fetchone()[0]
    assert attempts == 1
    # And the site keeps working on the restarted database: a fresh form records a second attempt.
    page = learner.get(f"/quizzes/q/{key}/")
    fresh = {**form, "token": TOKEN_RE.search(page.body).group(1)}
    assert learner.request(f"/quizzes/q/{key}/answer/", fresh).status == 200
    _answers_written(stack)
    with psycopg.connect(stack.postgres.url) as conn:
        assert conn.execute("SELECT count(*) FROM quizzes_attempt").fetchone()[0] == 2


def test_a_worker_killed_during_walks_the_other_keeps_serving(stack):
    learners = [Learner(stack.nginx.url) for _ in range(4)]
    walks = [learner.start_walk("http://www.netlearn.test/slow")[0] for learner in learners]
    victim, survivor = stack.workers
    victim.signal(signal.SIGKILL)
    assert victim.process.wait(10) == -signal.SIGKILL
    survivor_address = f"127.0.0.1:{survivor.port}"
    # Lessons keep coming, every one from the survivor.
    reader = Learner(stack.nginx.url)
    pages = [reader.get(path) for path in ("/", "/lessons/", "/quizzes/", "/glossary/") * 3]
    assert [p.status for p in pages] == [200] * len(pages)
    # (nginx names every upstream it tried: the dead one first, until it marks it failed)
    assert {_last(p.upstream) for p in pages} == {survivor_address}
    # New walks start and stream to their final render through the survivor.
    for _ in range(3):
        learner = Learner(stack.nginx.url)
        walk_id, posted = learner.start_walk("http://shop.netlearn.test/")
        assert _last(posted.upstream) == survivor_address
        messages, upstream = asyncio.run(watch_walk(stack.nginx.url, walk_id, cookie=learner.cookie_header(),
                                                    timeout=30))
        assert _last(upstream) == survivor_address and 'id="walk-result"' in messages[-1]
    # The walks started before the kill are readable (done, or still marked running if the killed
    # worker ran them): never an error page.
    for learner, walk_id in zip(learners, walks):
        assert learner.get(f"/walk/{walk_id}.json").status == 200
