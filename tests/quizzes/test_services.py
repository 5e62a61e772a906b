from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import signing
from django.db import connection
from django.utils import timezone

from netlearn.quizzes.grading import AnswerError
from netlearn.quizzes.learner import Learner
from netlearn.quizzes.models import Attempt, ReviewState
from netlearn.quizzes.selectors import due_reviews
from netlearn.quizzes.services import TOKEN_SALT, StaleQuestion, attempt_submit, attempt_token, progress_merge

ANNA = Learner(anon_id="anna-session")
BORIS = Learner(anon_id="boris-session")


def right_choice(q):
    return {"choice": [str(q.choices.get(correct=True).pk)]}


def wrong_choice(q):
    return {"choice": [str(q.choices.filter(correct=False).first().pk)]}


def test_an_answer_records_one_attempt_and_schedules_a_review(bank):
    q = bank["tcp-first-segment"]
    result = attempt_submit(learner=ANNA, question=q, token=attempt_token(q), data=right_choice(q))
    assert result.grade.correct
    assert Attempt.objects.filter(anon_id="anna-session", question=q, correct=True).count() == 1
    state = ReviewState.objects.get(anon_id="anna-session", question=q)
    assert state.reps == 1 and state.due > timezone.now()


def test_a_double_submission_records_one_attempt(bank):
    q = bank["tcp-first-segment"]
    token = attempt_token(q)
    first = attempt_submit(learner=ANNA, question=q, token=token, data=right_choice(q))
    second = attempt_submit(learner=ANNA, question=q, token=token, data=wrong_choice(q))
    assert second.duplicate and second.attempt.pk == first.attempt.pk
    assert second.grade.correct  # the recorded answer, not the replayed one
    assert Attempt.objects.count() == 1
    assert ReviewState.objects.get(question=q).reps == 1


def test_another_learner_cannot_replay_a_used_token(bank):
    q = bank["tcp-first-segment"]
    token = attempt_token(q)
    attempt_submit(learner=ANNA, question=q, token=token, data=right_choice(q))
    with pytest.raises(AnswerError, match="already used"):
        attempt_submit(learner=BORIS, question=q, token=token, data=right_choice(q))
    assert Attempt.objects.filter(anon_id="boris-session").count() == 0


def test_a_forged_token_or_one_for_another_question_changes_nothing(bank):
    q = bank["tcp-first-segment"]
    with pytest.raises(AnswerError, match="altered"):
        attempt_submit(learner=ANNA, question=q, token="forged", data=right_choice(q))
    with pytest.raises(AnswerError, match="another question"):
        attempt_submit(learner=ANNA, question=q, token=attempt_token(bank["udp-connectionless"]),
                       data=right_choice(q))
    forged = signing.dumps({"q": q.pk, "v": q.version, "n": "x"}, salt="other-salt")
    with pytest.raises(AnswerError):
        attempt_submit(learner=ANNA, question=q, token=forged, data=right_choice(q))
    assert Attempt.objects.count() == 0 and ReviewState.objects.count() == 0


def test_a_stale_form_for_an_edited_question_is_refused(bank):
    q = bank["tcp-first-segment"]
    token = attempt_token(q)
    q.version += 1
    q.save()
    with pytest.raises(StaleQuestion, match="edited"):
        attempt_submit(learner=ANNA, question=q, token=token, data=right_choice(q))
    assert Attempt.objects.count() == 0


def test_a_tampered_answer_writes_nothing(bank):
    q = bank["tcp-first-segment"]
    with pytest.raises(AnswerError):
        attempt_submit(learner=ANNA, question=q, token=attempt_token(q),
                       data={"choice": [str(bank["reliable-protocols"].choices.first().pk)]})
    assert Attempt.objects.count() == 0 and ReviewState.objects.count() == 0


def test_a_wrong_answer_is_due_again_soon_and_shows_in_the_queue(bank):
    q = bank["tcp-first-segment"]
    attempt_submit(learner=ANNA, question=q, token=attempt_token(q), data=wrong_choice(q))
    state = ReviewState.objects.get(question=q)
    assert state.due - timezone.now() <= timedelta(minutes=10)
    assert list(due_reviews(ANNA, now=timezone.now() + timedelta(minutes=11))) == [state]
    assert list(due_reviews(BORIS, now=timezone.now() + timedelta(minutes=11))) == []


def test_the_review_queue_lists_only_what_is_due_in_due_order(bank):
    a, b = bank["tcp-first-segment"], bank["udp-connectionless"]
    attempt_submit(learner=ANNA, question=a, token=attempt_token(a), data=right_choice(a))
    attempt_submit(learner=ANNA, question=b, token=attempt_token(b), data=wrong_choice(b))
    ReviewState.objects.filter(question=a).update(due=timezone.now() + timedelta(days=3))
    ReviewState.objects.filter(question=b).update(due=timezone.now() - timedelta(hours=1))
    assert [s.question.key for s in due_reviews(ANNA)] == ["udp-connectionless"]
    ReviewState.objects.filter(question=a).update(due=timezone.now() - timedelta(hours=2))
    assert [s.question.key for s in due_reviews(ANNA)] == ["tcp-first-segment", "udp-connectionless"]


def test_merge_moves_anonymous_progress_and_keeps_the_newer_schedule(bank, django_user_model):
    user = django_user_model.objects.create_user("mina", password="pw-long-enough-1")
    me = Learner(user_id=user.pk)
    a, b = bank["tcp-first-segment"], bank["udp-connectionless"]
    attempt_submit(learner=me, question=a, token=attempt_token(a), data=wrong_choice(a))
    attempt_submit(learner=ANNA, question=a, token=attempt_token(a), data=right_choice(a))
    attempt_submit(learner=ANNA, question=b, token=attempt_token(b), data=right_choice(b))
    moved = progress_merge(user_id=user.pk, anon_id="anna-session")
    assert moved == 2
    assert Attempt.objects.filter(user=user).count() == 3
    assert not Attempt.objects.filter(anon_id="anna-session").exists()
    states = ReviewState.objects.filter(user=user)
    assert states.count() == 2  # one per question, no duplicate for ``a``
    assert states.get(question=a).last_rating == 3  # the anonymous review was newer: Good


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_from_two_tabs_lose_nothing(bank):
    q = bank["tcp-first-segment"]
    tokens = [attempt_token(q) for _ in range(4)]
    errors: list[Exception] = []

    def submit(token: str) -> None:
        try:
            attempt_submit(learner=ANNA, question=q, token=token, data=right_choice(q))
        except Exception as exc:  # noqa: BLE001 - any error at all is reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(t,)) for t in tokens + tokens]  # each twice
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Attempt.objects.filter(question=q).count() == 4
    assert ReviewState.objects.get(question=q).reps == 4


def test_token_salt_is_specific():
    assert TOKEN_SALT.startswith("netlearn.quizzes")
