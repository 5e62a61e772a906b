from __future__ import annotations

import random
import re

from netlearn.quizzes.learner import Learner
from netlearn.quizzes.models import Attempt, MockInterview, Question
from netlearn.quizzes.services import attempt_token, draw_questions, mock_answer, mock_serve, mock_start

HX = {"HTTP_HX_REQUEST": "true"}
ME = Learner(anon_id="mock-tester")


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def test_draw_is_weighted_toward_weak_topics(bank):
    q = bank["tcp-first-segment"]
    # Master every UDP question, so TCP is the weak topic.
    from netlearn.quizzes.services import attempt_submit

    udp = bank["udp-connectionless"]
    attempt_submit(learner=ME, question=udp, token=attempt_token(udp),
                   data={"choice": [str(udp.choices.get(correct=True).pk)]})
    rng = random.Random(7)
    firsts = [draw_questions(learner=ME, count=1, rng=rng)[0].key for _ in range(300)]
    assert firsts.count("udp-connectionless") < firsts.count(q.key)


def test_mock_flow_answer_follow_up_pass_and_summary(bank):
    first = bank["tcp-first-segment"]
    mock = MockInterview.objects.create(anon_id=ME.anon_id, plan=[bank["time-wait-state"].pk], current=first)
    mock_serve(mock=mock)
    mock_answer(learner=ME, mock=mock, question=first, token=attempt_token(first),
                data={"choice": [str(first.choices.get(correct=True).pk)]})
    mock.refresh_from_db()
    assert mock.current.key == "tcp-handshake-order"  # the bank's follow-up comes next
    follow = mock.current
    mock_answer(learner=ME, mock=mock, question=follow, token=attempt_token(follow), data={}, passed=True)
    mock.refresh_from_db()
    assert mock.current.key == "time-wait-state"
    last = mock.current
    mock_answer(learner=ME, mock=mock, question=last, token=attempt_token(last), data={"text": "time_wait"})
    mock.refresh_from_db()
    assert mock.is_finished
    attempts = list(mock.attempts.order_by("created_at"))
    assert [a.passed for a in attempts] == [False, True, False]
    assert all(a.duration_ms is not None and a.mode == "mock" for a in attempts)


def test_mock_through_the_pages(client, bank):
    response = client.post("/mock/start/", {"count": "5", "seconds": "60"})
    assert response.status_code == 302
    mock = MockInterview.objects.get()
    for _ in range(20):
        html = client.get(f"/mock/{mock.pk}/").content.decode()
        if "Interview summary" in html:
            break
        assert "Question " in html and "mock-timer" in html
        key = re.search(r'name="question" value="([^"]+)"', html).group(1)
        r = client.post(f"/mock/{mock.pk}/pass/", {"token": token_of(html), "question": key}, **HX)
        assert "Passed" in r.content.decode()
    else:
        raise AssertionError("the interview never ended")
    assert "0 / " in html and "Work on these next" in html
    assert Attempt.objects.filter(mock=mock, passed=True).count() >= 5


def test_someone_elses_mock_is_not_found(client, bank):
    other = mock_start(learner=Learner(anon_id="someone-else"), count=2)
    assert client.get(f"/mock/{other.pk}/").status_code == 404
    assert client.post(f"/mock/{other.pk}/pass/", {"question": other.current.key}).status_code == 404


def test_answering_a_question_that_is_not_current_is_refused(bank):
    first = bank["tcp-first-segment"]
    mock = MockInterview.objects.create(anon_id=ME.anon_id, plan=[], current=first)
    other = bank["udp-connectionless"]
    from netlearn.quizzes.grading import AnswerError

    try:
        mock_answer(learner=ME, mock=mock, question=other, token=attempt_token(other),
                    data={"choice": [str(other.choices.first().pk)]})
    except AnswerError as exc:
        assert "no longer the current" in str(exc)
    else:
        raise AssertionError("expected a refusal")
    assert Attempt.objects.count() == 0 and Question.objects.count() == 7


def test_end_early_shows_the_summary(client, bank):
    client.post("/mock/start/", {"count": "5"})
    mock = MockInterview.objects.get()
    client.post(f"/mock/{mock.pk}/finish/")
    assert "Interview summary" in client.get(f"/mock/{mock.pk}/").content.decode()
