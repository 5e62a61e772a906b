from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from netlearn.quizzes.models import Attempt, ReviewState

HX = {"HTTP_HX_REQUEST": "true"}


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def right(q) -> str:
    return str(q.choices.get(correct=True).pk)


def test_index_lists_quizzes_topics_and_modes(client, bank):
    html = client.get("/quizzes/").content.decode()
    assert "TCP basics" in html and "/quizzes/topic/tcp/" in html and "/mock/" in html and "/review/" in html


def test_quiz_page_renders_every_type_of_card_with_csrf(client, bank):
    html = client.get("/quizzes/tcp-basics/").content.decode()
    assert html.count('class="q-card') == 3
    assert html.count("csrfmiddlewaretoken") >= 3
    assert 'name="position-' in html  # ordering works without JS
    assert 'hx-post="/quizzes/q/tcp-first-segment/answer/"' in html


def test_korean_page_shows_korean_text(client, bank):
    html = client.get("/quizzes/tcp-basics/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "TCP 연결을 여는 세그먼트는?" in html


def test_answer_with_htmx_returns_the_feedback_fragment(client, bank):
    q = bank["tcp-first-segment"]
    token = token_of(client.get("/quizzes/q/tcp-first-segment/").content.decode())
    response = client.post("/quizzes/q/tcp-first-segment/answer/", {"token": token, "choice": right(q)}, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "Correct!" in html and "<strong>SYN</strong>" in html
    assert "Scheduled for review" in html
    assert Attempt.objects.count() == 1


def test_answer_without_js_returns_a_full_page(client, bank):
    q = bank["tcp-first-segment"]
    token = token_of(client.get("/quizzes/q/tcp-first-segment/").content.decode())
    response = client.post("/quizzes/q/tcp-first-segment/answer/",
                           {"token": token, "choice": right(q), "next": "/quizzes/tcp-basics/"})
    html = response.content.decode()
    assert "<html" in html and "Correct!" in html and 'href="/quizzes/tcp-basics/#q-tcp-first-segment"' in html


def test_ordering_without_js_by_position_selects(client, bank):
    q = bank["tcp-handshake-order"]
    token = token_of(client.get("/quizzes/q/tcp-handshake-order/").content.decode())
    data = {"token": token, **{f"position-{item.pk}": str(item.position + 1) for item in q.order_items.all()}}
    html = client.post("/quizzes/q/tcp-handshake-order/answer/", data).content.decode()
    assert "Correct!" in html


def test_a_tampered_submission_gets_a_clear_message_and_changes_nothing(client, bank):
    token = token_of(client.get("/quizzes/q/tcp-first-segment/").content.decode())
    other = bank["reliable-protocols"].choices.first().pk
    response = client.post("/quizzes/q/tcp-first-segment/answer/", {"token": token, "choice": other})
    assert response.status_code == 400
    assert "not part of this question" in response.content.decode()
    assert Attempt.objects.count() == 0 and ReviewState.objects.count() == 0


def test_a_stale_form_shows_the_current_version(client, bank):
    q = bank["tcp-first-segment"]
    token = token_of(client.get("/quizzes/q/tcp-first-segment/").content.decode())
    q.version += 1
    q.save()
    response = client.post("/quizzes/q/tcp-first-segment/answer/", {"token": token, "choice": right(q)}, **HX)
    html = response.content.decode()
    assert "edited since you opened it" in html and token_of(html) != token
    assert Attempt.objects.count() == 0


def test_double_submission_records_one_attempt(client, bank):
    q = bank["tcp-first-segment"]
    token = token_of(client.get("/quizzes/q/tcp-first-segment/").content.decode())
    for _ in range(2):
        last = client.post("/quizzes/q/tcp-first-segment/answer/", {"token": token, "choice": right(q)}, **HX)
    assert "recorded once" in last.content.decode()
    assert Attempt.objects.count() == 1


def test_csrf_is_enforced(bank):
    strict = Client(enforce_csrf_checks=True)
    q = bank["tcp-first-segment"]
    token = token_of(strict.get("/quizzes/q/tcp-first-segment/").content.decode())
    response = strict.post("/quizzes/q/tcp-first-segment/answer/", {"token": token, "choice": right(q)})
    assert response.status_code == 403
    assert Attempt.objects.count() == 0


def test_interview_reveal_then_self_grade(client, bank):
    q = bank["explain-load-balancer"]
    token = token_of(client.get("/quizzes/q/explain-load-balancer/").content.decode())
    revealed = client.post("/quizzes/q/explain-load-balancer/reveal/", {"token": token, "text": "L4 vs L7"}, **HX)
    html = revealed.content.decode()
    assert "Model answer" in html and token_of(html) == token and Attempt.objects.count() == 0
    points = [str(p.pk) for p in q.checklist.all()]
    graded = client.post("/quizzes/q/explain-load-balancer/answer/",
                         {"token": token, "text": "L4 vs L7", "reveal": "1", "checked": points}, **HX)
    assert "Correct!" in graded.content.decode()
    assert Attempt.objects.get().score == 1.0


def test_review_queue_shows_due_questions_and_the_home_count(client, bank):
    from django.test import RequestFactory

    from netlearn.quizzes.selectors import review_due_count

    q = bank["tcp-first-segment"]
    token = token_of(client.get("/quizzes/q/tcp-first-segment/").content.decode())
    client.post("/quizzes/q/tcp-first-segment/answer/", {"token": token, "choice": "x"})  # refused
    wrong = str(q.choices.filter(correct=False).first().pk)
    client.post("/quizzes/q/tcp-first-segment/answer/", {"token": token, "choice": wrong})
    assert "All caught up" in client.get("/review/").content.decode()
    ReviewState.objects.update(due=timezone.now() - timedelta(minutes=1))
    html = client.get("/review/").content.decode()
    assert 'id="q-tcp-first-segment"' in html and 'value="review"' in html
    request = RequestFactory().get("/")
    request.session = client.session
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    assert review_due_count(request) == 1


def test_a_learner_sees_only_their_own_progress(bank, django_user_model):
    q = bank["tcp-first-segment"]
    alice, bob = Client(), Client()
    alice.force_login(django_user_model.objects.create_user("alice", password="x-long-password-1"))
    bob.force_login(django_user_model.objects.create_user("bob", password="x-long-password-1"))
    token = token_of(alice.get("/quizzes/q/tcp-first-segment/").content.decode())
    alice.post("/quizzes/q/tcp-first-segment/answer/", {"token": token, "choice": right(q)})
    assert "Which segment opens" in alice.get("/accounts/progress/").content.decode()
    assert "Which segment opens" not in bob.get("/accounts/progress/").content.decode()
    assert "0 questions due now" in bob.get("/review/").content.decode() or ReviewState.objects.filter(
        user__username="bob").count() == 0


@pytest.mark.parametrize("url", ["/quizzes/practice/", "/quizzes/topic/tcp/", "/quizzes/q/time-wait-state/",
                                 "/review/", "/mock/", "/accounts/progress/"])
def test_pages_render(client, bank, url):
    assert client.get(url).status_code == 200


def test_unknown_question_is_404(client, bank):
    assert client.get("/quizzes/q/no-such-question/").status_code == 404
    assert client.post("/quizzes/q/no-such-question/answer/", {}).status_code == 404


def test_the_interface_is_translated_to_korean(client, bank):
    client.cookies["django_language"] = "ko"
    html = client.get("/quizzes/q/tcp-first-segment/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "정답 확인" in html and "단일 선택" in html
    q = bank["tcp-first-segment"]
    response = client.post("/quizzes/q/tcp-first-segment/answer/", {"token": token_of(html), "choice": right(q)},
                           HTTP_ACCEPT_LANGUAGE="ko", **HX)
    assert "정답입니다!" in response.content.decode() and "클라이언트가 먼저" in response.content.decode()
