from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from netlearn.quizzes.learner import Learner
from netlearn.quizzes.models import Attempt
from netlearn.quizzes.selectors import question_stats
from netlearn.quizzes.services import attempt_submit, attempt_token


@pytest.fixture
def instructor(db, django_user_model):
    user = django_user_model.objects.create_user("teacher", password="teach-long-password-1", is_staff=True)
    user.groups.add(Group.objects.get(name="Instructors"))
    client = Client()
    client.force_login(user)
    return client


def answer(q, learner, choice):
    attempt_submit(learner=learner, question=q, token=attempt_token(q), data={"choice": [str(choice.pk)]})


def test_statistics_count_attempts_share_and_most_chosen_wrong_choice(bank):
    q = bank["tcp-first-segment"]
    syn, ack, fin = q.choices.all()
    for i, choice in enumerate([syn, ack, ack, fin]):
        answer(q, Learner(anon_id=f"l{i}"), choice)
    stats = question_stats(q)
    assert stats["attempts"] == 4
    assert stats["share_correct"] == pytest.approx(0.25)
    assert stats["top_wrong_choice"] == "ACK" and stats["top_wrong_count"] == 2


def test_instructors_group_has_quiz_permissions(db):
    perms = set(Group.objects.get(name="Instructors").permissions.values_list("codename", flat=True))
    assert {"add_question", "change_question", "view_attempt", "change_quiz"} <= perms
    assert "change_attempt" not in perms


def test_instructor_sees_the_list_with_statistics_and_filters(instructor, bank):
    answer(bank["tcp-first-segment"], Learner(anon_id="x"), bank["tcp-first-segment"].choices.get(text_en="ACK"))
    html = instructor.get("/admin/quizzes/question/?o=6").content.decode()
    assert "tcp-first-segment" in html and "ACK (1)" in html and "0%" in html
    assert instructor.get("/admin/quizzes/question/?type__exact=ordering").status_code == 200
    assert instructor.get("/admin/quizzes/question/?lang=ko-missing").status_code == 200
    assert instructor.get(f"/admin/quizzes/question/{bank['tcp-first-segment'].pk}/change/").status_code == 200


def test_preview_is_the_learner_card_and_records_nothing(instructor, bank):
    q = bank["tcp-handshake-order"]
    url = f"/admin/quizzes/question/{q.pk}/preview/"
    html = instructor.get(url + "?lang=ko").content.decode()
    assert 'class="q-card' in html and "Instructor preview" not in html or "q-card" in html
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    data = {"token": token, **{f"position-{i.pk}": str(i.position + 1) for i in q.order_items.all()}}
    result = instructor.post(url, data).content.decode()
    assert "q-answered" in result
    assert Attempt.objects.count() == 0


def test_learners_cannot_open_the_admin_or_preview(client, bank, django_user_model):
    client.force_login(django_user_model.objects.create_user("learner", password="learn-long-password-1"))
    response = client.get(f"/admin/quizzes/question/{bank['tcp-first-segment'].pk}/preview/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
