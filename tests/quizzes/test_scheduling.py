from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from fsrs import Rating

from netlearn.quizzes.grading import Grade
from netlearn.quizzes.scheduling import rating_for, review

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def test_a_new_question_answered_right_comes_back_in_days_and_a_missed_one_in_minutes():
    assert review(None, Rating.Good, now=NOW).due - NOW == timedelta(days=2)
    assert review(None, Rating.Again, now=NOW).due - NOW == timedelta(minutes=10)


def test_a_learned_question_graduates_to_days_and_intervals_grow():
    s1 = review(None, Rating.Good, now=NOW)
    s2 = review(s1.card, Rating.Good, now=s1.due)
    s3 = review(s2.card, Rating.Good, now=s2.due)
    first_interval = s2.due - s1.due
    second_interval = s3.due - s2.due
    assert first_interval >= timedelta(days=1)
    assert second_interval > first_interval


def test_a_lapse_brings_the_question_back_the_same_day():
    s1 = review(None, Rating.Good, now=NOW)
    s2 = review(s1.card, Rating.Good, now=s1.due)
    lapse = review(s2.card, Rating.Again, now=s2.due)
    assert lapse.lapsed
    assert lapse.due - s2.due <= timedelta(minutes=10)


def test_easy_is_spaced_further_than_good_and_hard_less():
    base = review(None, Rating.Good, now=NOW)
    later = base.due
    hard, good, easy = (review(base.card, r, now=later).due for r in (Rating.Hard, Rating.Good, Rating.Easy))
    assert hard < good < easy


def test_ratings_follow_the_grade():
    assert rating_for(Grade(False, 0.0)) == Rating.Again
    assert rating_for(Grade(False, 0.75)) == Rating.Hard
    assert rating_for(Grade(True, 1.0)) == Rating.Good
    assert rating_for(Grade(True, 1.0, {"checked": [1, 2]})) == Rating.Easy
    assert rating_for(Grade(True, 1.0), passed=True) == Rating.Again


def test_a_first_review_takes_no_nap_on_the_page_thread(monkeypatch):
    """fsrs's ``Card()`` without an id sleeps 1 ms to keep ids apart; a first answer runs on a page
    thread, so the card gets its id (the same epoch millisecond) and nothing sleeps."""
    import fsrs.card

    naps: list[float] = []
    # fsrs.card's own ``time`` only: patching ``time.sleep`` itself would also catch other threads' naps
    monkeypatch.setattr(fsrs.card, "time", SimpleNamespace(sleep=naps.append))
    now = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    scheduled = review(None, Rating.Good, now=now)
    assert naps == []
    assert scheduled.card["card_id"] == int(now.timestamp() * 1000)
