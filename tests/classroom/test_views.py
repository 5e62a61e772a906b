"""The classroom's pages: who may open, see and join what; bad input on the join form."""
from __future__ import annotations

import pytest

from netlearn.classroom import services
from netlearn.classroom.models import Participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(course, instructor):
    return services.session_open(user=instructor)


def test_teach_needs_an_instructor(client, learner) -> None:
    assert client.get("/teach/").status_code == 302
    client.force_login(learner)
    response = client.get("/teach/")
    assert response.status_code == 403 and "Only instructors" in response.content.decode()


def test_an_instructor_opens_a_session_with_a_qr_code(client, instructor, course) -> None:
    client.force_login(instructor)
    response = client.post("/teach/", {"title": "Week 3"})
    code = response["Location"].strip("/").split("/")[-1]
    assert len(code) == 6 and code.isalnum(), code  # README: a 6-character code
    page = client.get(response["Location"]).content.decode()
    assert f"/join/?code={code}" in page and "<svg" in page and f"/ws/class/{code}/?role=teach" in page


def test_only_the_owner_sees_the_console_and_the_report(client, room, learner) -> None:
    client.force_login(learner)
    for url in (f"/teach/{room.code}/", f"/teach/{room.code}/report/", f"/teach/{room.code}/report.csv"):
        assert client.get(url).status_code in (403, 404)


def test_joining_stores_the_token_in_the_session_and_rejoins(client, room) -> None:
    response = client.post("/join/", {"code": room.code.lower(), "name": "Ana"})
    assert response.status_code == 302 and response["Location"] == f"/join/{room.code}/"
    page = client.get(response["Location"]).content.decode()
    assert "Ana" in page and f"/ws/class/{room.code}/" in page
    assert client.post("/join/", {"code": room.code, "name": "Ana again"}).status_code == 302
    assert Participant.objects.count() == 1
    assert Participant.objects.get().token not in page


@pytest.mark.parametrize("data,message", [
    ({"code": "ZZZZZZ", "name": "Ana"}, "No live session has the code"),
    ({"code": "12", "name": "Ana"}, "A join code has 6 letters"),
    ({"name": "<img src=x onerror=alert(1)>"}, "cannot contain"),
    ({"name": "x" * 500}, "too long"),
])
def test_bad_join_input_gets_a_clear_message_and_stores_nothing(client, room, data, message) -> None:
    response = client.post("/join/", {"code": room.code, **data})
    body = response.content.decode()
    assert response.status_code == 400 and message in body and "<img src=x" not in body
    assert not Participant.objects.exists()


def test_the_participant_page_without_joining_redirects_to_the_form(client, room) -> None:
    response = client.get(f"/join/{room.code}/")
    assert response.status_code == 302 and response["Location"] == f"/join/?code={room.code}"
