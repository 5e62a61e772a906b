"""A live class without browsers: an instructor and participants over real HTTP and WebSockets
(shared by the multi-worker test and bench/live_class.py)."""
from __future__ import annotations

import json
import re
from typing import Any

from .client import Learner

CODE_RE = re.compile(r"/teach/([A-Z0-9]{6})/")
LESSON_RE = re.compile(r'<select id="push-lesson" name="lesson"><option value="([^"]+)"')
SINGLE_RE = re.compile(r'<optgroup label="Single choice"><option value="([^"]+)"')
CHOICE_RE = re.compile(r'name="choice" value="(\d+)"')
RUN_RE = re.compile(r'name="run" value="(\d+)"')
VERSION_RE = re.compile(r'id="live-stage" hx-swap-oob="true" class="live-stage" data-kind="(\w+)" data-version="(\d+)"')


def open_session(base: str, username: str, password: str) -> tuple[Learner, str, str]:
    """Log the instructor in, open a session; returns (instructor, code, console page)."""
    teacher = Learner(base)
    answer = teacher.post_form("/accounts/login/", {"username": username, "password": password})
    assert answer.status == 302, (answer.status, answer.body[:300])
    opened = teacher.post_form("/teach/", {"title": "scale"})
    match = CODE_RE.search(opened.url)
    assert opened.status == 302 and match, (opened.status, opened.url)
    console = teacher.get(f"/teach/{match.group(1)}/")
    return teacher, match.group(1), console.body


def join(base: str, code: str, name: str) -> Learner:
    learner = Learner(base)
    answer = learner.post_form("/join/", {"code": code, "name": name})
    assert answer.status == 302, (answer.status, answer.body[:300])
    return learner


def ws_url(base: str, code: str, *, teach: bool = False) -> str:
    return base.replace("http", "ws", 1) + f"/ws/class/{code}/" + ("?role=teach" if teach else "")


def command(action: str, **fields: Any) -> str:
    return json.dumps({"action": action, **fields, "HEADERS": {"HX-Request": "true"}})


def stage_of(message: str) -> tuple[str, int] | None:
    match = VERSION_RE.search(message)
    return (match.group(1), int(match.group(2))) if match else None
