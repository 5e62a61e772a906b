"""A live class whose participants are spread over two workers behind nginx: pushes reach every
socket whatever worker holds it (Redis groups), answers sent to either worker are stored once
in PostgreSQL and counted on the console, and the report reads the same through every worker."""
from __future__ import annotations

import asyncio
import signal

import pytest

from netlearn.devtools.stack import manage

from .classroom_client import CHOICE_RE, LESSON_RE, RUN_RE, SINGLE_RE, command, join, open_session, stage_of, ws_url

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]
PARTICIPANTS = 6
PASSWORD = "pw-teacher-scale-123"


async def _recv_until(ws, predicate, timeout: float = 30.0) -> str:
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.recv()
            if predicate(message):
                return message


async def _class(stack, code: str, console_html: str, cookies: list[str], teacher_cookie: str) -> dict:
    import websockets

    base = stack.nginx.url
    workers = [f"127.0.0.1:{w.port}" for w in stack.workers]
    sockets, upstreams = [], []
    for i, cookie in enumerate(cookies):
        want = workers[i % 2]  # nginx round-robins connections: retry until this one lands where we want
        for _ in range(8):
            ws = await websockets.connect(ws_url(base, code), origin=base, additional_headers={"Cookie": cookie})
            if ws.response.headers.get("X-Upstream") == want:
                break
            await ws.close()
        sockets.append(ws)
        upstreams.append(ws.response.headers.get("X-Upstream"))
        await _recv_until(ws, lambda m: (stage_of(m) or ("",))[0] == "lobby")
    console = await websockets.connect(ws_url(base, code, teach=True), origin=base,
                                       additional_headers={"Cookie": teacher_cookie})
    await _recv_until(console, lambda m: "console-answers" in m)
    await console.send(command("push_step", lesson=LESSON_RE.search(console_html).group(1), number="1"))
    for ws in sockets:
        await _recv_until(ws, lambda m: (stage_of(m) or ("",))[0] == "step")
    await console.send(command("open_question", question=SINGLE_RE.search(console_html).group(1)))
    stages = [await _recv_until(ws, lambda m: "live-answer-form" in m) for ws in sockets]
    run, choice = RUN_RE.search(stages[0]).group(1), CHOICE_RE.search(stages[0]).group(1)
    for ws in sockets:
        await ws.send(command("answer", run=run, choice=choice))
        await ws.send(command("answer", run=run, choice=choice))  # a resend: stored once
    for ws in sockets:
        await _recv_until(ws, lambda m: "live-mine-answer" in m)
    panel = await _recv_until(console, lambda m: f'data-total="{PARTICIPANTS}"' in m)
    for ws in sockets + [console]:
        await ws.close()
    return {"upstreams": upstreams, "panel": panel}


def test_a_class_spread_over_two_workers(stack) -> None:
    manage(stack.env, "createinstructor", "teacher", "--password", PASSWORD, "--no-input")
    teacher, code, console_html = open_session(stack.nginx.url, "teacher", PASSWORD)
    learners = [join(stack.nginx.url, code, f"P{i}") for i in range(PARTICIPANTS)]
    result = asyncio.run(_class(stack, code, console_html, [learner.cookie_header() for learner in learners],
                                teacher.cookie_header()))
    assert set(result["upstreams"]) == {f"127.0.0.1:{w.port}" for w in stack.workers}
    assert f'data-count="{PARTICIPANTS}"' in result["panel"]
    # Stored once each, read the same through either worker.
    for _ in stack.workers:
        csv_text = teacher.get(f"/teach/{code}/report.csv").body
        assert len(csv_text.strip().splitlines()) == PARTICIPANTS + 1
    # The worker holding the first participant dies: nothing it acknowledged is lost, and the
    # participant rejoins through nginx on the survivor, where the room is, answer kept.
    victim = next(w for w in stack.workers if f"127.0.0.1:{w.port}" == result["upstreams"][0])
    victim.signal(signal.SIGKILL)
    victim.process.wait(timeout=10)
    stage, upstream = asyncio.run(_rejoin(stack, code, learners[0].cookie_header()))
    assert upstream != result["upstreams"][0]
    assert 'data-kind="question"' in stage[0] and "live-mine-answer" in stage[1]
    assert len(teacher.get(f"/teach/{code}/report.csv").body.strip().splitlines()) == PARTICIPANTS + 1


async def _rejoin(stack, code: str, cookie: str) -> tuple[list[str], str]:
    import websockets

    base = stack.nginx.url
    async with websockets.connect(ws_url(base, code), origin=base, additional_headers={"Cookie": cookie}) as ws:
        first = await _recv_until(ws, lambda m: "live-stage" in m)
        mine = await _recv_until(ws, lambda m: "live-mine" in m)
        return [first, mine], ws.response.headers.get("X-Upstream", "")
