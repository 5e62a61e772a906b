"""The room's WebSocket with Channels' communicator against the real ASGI application:
an instructor console and participants, identified by their own Django sessions."""
from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from netlearn.asgi import application
from netlearn.classroom import services
from netlearn.classroom.consumers import SESSION_KEY
from netlearn.classroom.models import LiveAnswer, LiveSession

from .conftest import load_course, make_instructor

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 15


def _headers(sessionid: str = "") -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if sessionid:
        headers.append((b"cookie", f"sessionid={sessionid}".encode()))
    return headers


@sync_to_async
def _setup() -> tuple[LiveSession, str]:
    load_course()
    teacher = make_instructor()
    client = Client()
    client.force_login(teacher)
    return services.session_open(user=teacher), client.cookies["sessionid"].value


@sync_to_async
def _participant_cookie(room: LiveSession, name: str) -> tuple[Any, str]:
    participant = services.participant_join(session=room, display_name=name)
    store = SessionStore()
    store[SESSION_KEY.format(code=room.code)] = participant.token
    store.save()
    return participant, store.session_key


async def _connect(path: str, sessionid: str = "") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=_headers(sessionid))
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


async def _until(communicator: WebsocketCommunicator, needle: str) -> str:
    while True:
        message = await communicator.receive_from(timeout=TIMEOUT)
        if needle in message:
            return message


async def _send(communicator: WebsocketCommunicator, **data: Any) -> None:
    await communicator.send_to(text_data=json.dumps({**data, "HEADERS": {"HX-Request": "true"}}))


async def test_a_pushed_step_reaches_every_participant_and_answers_reach_only_the_console() -> None:
    room, teacher_cookie = await _setup()
    console = await _connect(f"/ws/class/{room.code}/?role=teach", teacher_cookie)
    await _until(console, 'id="live-stage"')
    people = []
    for name, lang in (("Ana", "en"), ("민수", "ko")):
        participant, cookie = await _participant_cookie(room, name)
        socket = await _connect(f"/ws/class/{room.code}/?lang={lang}", cookie)
        assert "Waiting for the instructor" in await _until(socket, 'data-kind="lobby"') or lang == "ko"
        people.append((participant, socket))
    await _send(console, action="push_step", lesson="sample-lesson", number="2")
    for _, socket in people:
        stage = await _until(socket, 'data-kind="step"')
        assert 'id="live-stage" hx-swap-oob="true"' in stage
    await _send(console, action="open_question", question="tcp-first-segment")
    for _, socket in people:
        await _until(socket, "live-answer-form")
    run_id = (await sync_to_async(lambda: LiveSession.objects.get(pk=room.pk).stage)())["run"]
    right = await sync_to_async(lambda: room.runs.get().question.choices.get(correct=True).pk)()
    mine = []
    for _participant, socket in people:
        await _send(socket, action="answer", run=str(run_id), choice=str(right))
        mine.append(await _until(socket, "live-mine"))
    assert "<strong>SYN</strong>" in mine[0] and "<strong>SYN (ko)</strong>" in mine[1]  # each in their language
    # A resent answer (a reconnect, a double tap) is recorded once.
    await _send(people[0][1], action="answer", run=str(run_id), choice=str(right))
    await _until(people[0][1], "live-mine")
    assert await LiveAnswer.objects.acount() == 2
    panel = await _until(console, 'data-total="2"')
    assert 'id="console-answers"' in panel and 'data-count="2"' in panel
    await _send(console, action="reveal")
    for _, socket in people:
        revealed = await _until(socket, 'data-state="revealed"')
        assert "q-explanation" in revealed
        assert "✓" in await _until(socket, "live-mine")
    for _, socket in people + [(None, console)]:
        await socket.disconnect()


async def test_a_participant_cannot_drive_or_answer_for_someone_else() -> None:
    room, _teacher = await _setup()
    participant, cookie = await _participant_cookie(room, "Ana")
    other, _ = await _participant_cookie(room, "Bo")
    await sync_to_async(services.question_open)(session=room, key="tcp-first-segment")
    socket = await _connect(f"/ws/class/{room.code}/", cookie)
    await _until(socket, 'data-kind="question"')
    await _send(socket, action="push_step", lesson="sample-lesson", number="1")
    assert "Only the instructor can drive" in await _until(socket, "live-notice")
    run = await sync_to_async(lambda: room.runs.get())()
    await _send(socket, action="answer", run=str(run.pk), participant=str(other.pk), choice="1")
    assert "only answer for yourself" in await _until(socket, "live-notice")
    await _send(socket, action="answer", run="99999", choice="1")
    assert "not open" in await _until(socket, "live-notice")
    assert await LiveAnswer.objects.acount() == 0
    stage = await sync_to_async(lambda: LiveSession.objects.get(pk=room.pk).stage)()
    assert stage["kind"] == "question"
    await socket.disconnect()


async def test_strangers_are_refused_with_a_message() -> None:
    room, _teacher = await _setup()
    for path in (f"/ws/class/{room.code}/", f"/ws/class/{room.code}/?role=teach", "/ws/class/ZZZZZZ/"):
        socket = await _connect(path)
        notice = await socket.receive_from(timeout=TIMEOUT)
        assert "live-notice" in notice and "fatal" in notice
        closed = await socket.receive_output(timeout=TIMEOUT)
        assert closed["type"] == "websocket.close" and closed["code"] in (4403, 4404)


async def test_a_second_instructor_tab_takes_over_and_the_first_is_told() -> None:
    room, teacher_cookie = await _setup()
    first = await _connect(f"/ws/class/{room.code}/?role=teach", teacher_cookie)
    await _until(first, 'id="console-answers"')
    second = await _connect(f"/ws/class/{room.code}/?role=teach", teacher_cookie)
    assert "Take over here" in await _until(first, 'id="console-control"')
    await _send(first, action="push_step", lesson="sample-lesson", number="1")
    assert "Another tab now drives" in await _until(first, "live-notice")
    await _send(second, action="push_step", lesson="sample-lesson", number="1")
    await _until(second, 'data-kind="step"')
    await first.disconnect()
    await second.disconnect()


async def test_a_removed_participant_is_disconnected_and_stays_out() -> None:
    room, teacher_cookie = await _setup()
    participant, cookie = await _participant_cookie(room, "Troll")
    console = await _connect(f"/ws/class/{room.code}/?role=teach", teacher_cookie)
    socket = await _connect(f"/ws/class/{room.code}/", cookie)
    await _until(socket, 'id="live-stage"')
    await _until(console, "Troll")
    await _send(console, action="rename", participant=str(participant.pk), name="Guest")
    assert "Guest" in await _until(socket, "live-my-name")
    await _send(console, action="remove", participant=str(participant.pk))
    assert "removed you" in await _until(socket, "live-notice")
    again = await _connect(f"/ws/class/{room.code}/", cookie)
    assert "Join the session first" in await again.receive_from(timeout=TIMEOUT)
    for c in (again, socket, console):
        await c.disconnect()


async def test_a_compare_run_is_pushed_to_the_room(embedded_lab) -> None:
    room, teacher_cookie = await _setup()
    _participant, cookie = await _participant_cookie(room, "Ana")
    console = await _connect(f"/ws/class/{room.code}/?role=teach", teacher_cookie)
    socket = await _connect(f"/ws/class/{room.code}/", cookie)
    await _until(socket, 'data-kind="lobby"')
    await _send(console, action="compare", url="https://shop.netlearn.test/", latency="0")
    stage = await _until(socket, 'data-kind="compare"')
    assert stage.count('class="compare-row') == 4 and "round trips" in stage
    await console.disconnect()
    await socket.disconnect()
