"""A new anonymous learner's ids are given in one session write (``netlearn.core.anonymous``): the
first step page gives the quizzes' id too, so the first answer writes no session; and the other
way round. Browsing alone still gives no session. Django's test client, the real database."""
from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from netlearn.lessons.models import Lesson
from netlearn.lessons.services import VISITOR_SESSION_KEY
from netlearn.quizzes.learner import SESSION_KEY as QUIZ_KEY
from netlearn.quizzes.models import Attempt, Question

pytestmark = pytest.mark.usefixtures("shipped_course")


def _step_url() -> str:
    lesson = Lesson.objects.published().order_by("order").first()
    assert lesson is not None
    return f"/lessons/{lesson.slug}/1/"


def _choice_question() -> Question:
    question = Question.objects.filter(choices__isnull=False).distinct().order_by("key").first()
    assert question is not None
    return question


def _answer(client: Client, question: Question) -> None:
    page = client.get(f"/quizzes/q/{question.key}/").content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    choice = re.search(r'name="choice" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    assert client.post(f"/quizzes/q/{question.key}/answer/", {"token": token, "choice": choice}).status_code == 200


def _stored(client: Client) -> tuple[str, dict]:
    key = client.cookies["sessionid"].value
    row = Session.objects.get(session_key=key)
    return row.session_data, row.get_decoded()


def test_the_first_step_page_gives_both_ids_and_the_first_answer_writes_no_session() -> None:
    client = Client()
    assert client.get(_step_url()).status_code == 200
    data_after_step, decoded = _stored(client)
    assert decoded.get(VISITOR_SESSION_KEY) and decoded.get(QUIZ_KEY)

    _answer(client, _choice_question())
    data_after_answer, _ = _stored(client)
    assert data_after_answer == data_after_step  # the answer needed no session write
    assert Attempt.objects.get().anon_id == decoded[QUIZ_KEY]  # and was filed under the id given then


def test_an_answer_first_gives_the_visitor_key_too() -> None:
    client = Client()
    _answer(client, _choice_question())
    data_after_answer, decoded = _stored(client)
    assert decoded.get(QUIZ_KEY) and decoded.get(VISITOR_SESSION_KEY)

    assert client.get(_step_url()).status_code == 200
    assert _stored(client)[0] == data_after_answer


def _session_writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if re.match(r'(INSERT INTO|UPDATE) "django_session"', q["sql"])]


def test_a_walk_first_gives_every_id_in_one_session_write_and_none_after() -> None:
    """The walk page needs the session's key at once (a walk is filed under it), so it creates the
    session itself: with every app's id in it, and written once (Django's ``create`` marks it
    modified, and the middleware wrote it a second time, unchanged)."""
    client = Client()
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/walk/").status_code == 200
    assert len(_session_writes(queries)) == 1, _session_writes(queries)
    decoded = _stored(client)[1]
    assert decoded.get(VISITOR_SESSION_KEY) and decoded.get(QUIZ_KEY)

    with CaptureQueriesContext(connection) as queries:
        assert client.get(_step_url()).status_code == 200
        _answer(client, _choice_question())
    assert _session_writes(queries) == []
    assert Attempt.objects.get().anon_id == decoded[QUIZ_KEY]


def test_a_session_changed_after_its_creation_is_still_written() -> None:
    """The skipped write is only the unchanged one: a change made after the session was created
    (in place, as a list grown) reaches the database."""
    from netlearn.core.sessions import SessionStore

    store = SessionStore()
    store["seen"] = [1]
    store.create()
    store["seen"].append(2)
    store.modified = True
    store.save()
    assert Session.objects.get(session_key=store.session_key).get_decoded()["seen"] == [1, 2]
    with CaptureQueriesContext(connection) as queries:
        store.save()  # nothing changed since: no write
    assert _session_writes(queries) == []


def test_browsing_alone_still_gives_no_session() -> None:
    client = Client()
    assert client.get("/lessons/").status_code == 200
    assert client.get(f"/quizzes/q/{_choice_question().key}/").status_code == 200
    assert "sessionid" not in client.cookies
    assert Session.objects.count() == 0
