"""Several workers behind nginx share one state: a walk started through one worker streams live
to a WebSocket held by another, and every stored row is visible through every worker."""
from __future__ import annotations

import asyncio

import psutil
import pytest

from .client import SEQ_RE, Learner, watch_walk

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]


def _other_worker(stack, upstream: str) -> str:
    return next(f"127.0.0.1:{w.port}" for w in stack.workers if f"127.0.0.1:{w.port}" != upstream)


def test_requests_are_spread_over_both_workers(stack):
    learner = Learner(stack.nginx.url)
    upstreams = {learner.get("/healthz").upstream for _ in range(6)}
    assert upstreams == {f"127.0.0.1:{w.port}" for w in stack.workers}


def _connections_to_workers(stack) -> dict[tuple[int, tuple[str, int]], str]:
    """(worker port, the peer's address) → state, of every TCP connection a worker accepted
    (TIME_WAIT included)."""
    ports = {w.port for w in stack.workers}
    return {(c.laddr.port, tuple(c.raddr)): c.status for c in psutil.net_connections(kind="tcp")
            if c.laddr and c.raddr and c.laddr.port in ports}


def test_nginx_reuses_its_connections_to_the_workers(stack):
    """20 pages through nginx are carried by a few kept-alive connections to the workers, not 20
    connections each opened, answered and closed (what nginx does without upstream keep-alive)."""
    before = _connections_to_workers(stack)
    learner = Learner(stack.nginx.url)
    upstreams = {learner.get("/healthz").upstream for _ in range(20)}
    assert upstreams == {f"127.0.0.1:{w.port}" for w in stack.workers}  # still spread over both
    after = _connections_to_workers(stack)
    new = after.keys() - before.keys()  # none at all when those of an earlier test are reused
    assert len(new) <= 6, f"{len(new)} new connections to the workers for 20 requests"
    assert psutil.CONN_ESTABLISHED in after.values(), "no connection to a worker was kept open after the answers"


def test_walk_started_on_one_worker_streams_to_a_socket_on_another(stack):
    learner = Learner(stack.nginx.url)
    walk_id, posted = learner.start_walk("http://www.netlearn.test/slow")  # 0.3 s at the backend
    started_on = posted.upstream
    other = _other_worker(stack, started_on)
    messages: list[str] = []
    for _ in range(6):  # nginx balances round-robin: the next connection or so lands on the other worker
        messages, upstream = asyncio.run(watch_walk(stack.nginx.url, walk_id, cookie=learner.cookie_header(),
                                                    want_upstream=other))
        if upstream == other:
            break
    assert upstream == other != started_on
    steps = [m for m in messages if 'id="walk-result"' not in m]
    assert steps, "the socket joined after the walk ended: nothing was live"
    seqs = [int(s) for m in steps for s in SEQ_RE.findall(m)]
    # Caught up from the shared buffer, then live from the group: every step once, in order.
    assert seqs == list(range(len(seqs))) and len(seqs) >= 5
    assert "done" in messages[-1] or "walk-step" in messages[-1]


def test_a_walk_is_the_same_through_every_worker(stack):
    learner = Learner(stack.nginx.url)
    walk_id, _ = learner.start_walk("http://shop.netlearn.test/")
    asyncio.run(watch_walk(stack.nginx.url, walk_id, cookie=learner.cookie_header()))
    for worker in stack.workers:
        page = Learner(worker.url).get(f"/walk/{walk_id}.json")
        assert page.status == 200 and '"status": "done"' in page.body.replace('":"', '": "')


def test_a_session_follows_the_learner_across_workers(stack):
    learner = Learner(stack.nginx.url)
    walk_id, _ = learner.start_walk("http://shop.netlearn.test/")
    pages = [learner.get("/walk/") for _ in range(4)]
    assert {page.upstream for page in pages} == {f"127.0.0.1:{w.port}" for w in stack.workers}
    assert all(walk_id in page.body for page in pages)  # this session's history, from either worker


def test_a_worker_keeps_its_redis_connections_from_request_to_request(stack):
    """Every request used to build its own cache backend, with a pool and a new TCP connection to
    Redis (netlearn.core.cache explains why): 40 step pages opened 40+ connections. Now a worker's
    pool keeps them: the count of connections Redis accepted barely moves."""
    import re

    import redis

    learner = Learner(stack.nginx.url)
    lessons = re.findall(r'href="(/lessons/[\w-]+/)"', learner.get("/lessons/").body)
    assert lessons
    step = f"{lessons[0]}1/"
    for _ in range(4):  # a session, and each worker's pool warm
        assert learner.get(step).status == 200
    server = redis.Redis.from_url(stack.redis.url)
    before = server.info("stats")["total_connections_received"]
    for _ in range(40):
        assert learner.get(step).status == 200
    opened = server.info("stats")["total_connections_received"] - before
    assert opened <= 4, f"{opened} new Redis connections for 40 pages"
