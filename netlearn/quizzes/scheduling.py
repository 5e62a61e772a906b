"""Spaced repetition with FSRS (the ``fsrs`` package), wrapped so the rest never imports it.

Why FSRS rather than SM-2: it models each card's stability and difficulty from the whole
history and schedules to a target retention (90 %), which spaces well-known material further
apart than SM-2's fixed multipliers. Fuzzing is off so an interval is reproducible (tests, and
learners comparing notes); learning steps are short so a missed question comes back the same
session, then in days once it sticks.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fsrs import Card, Rating, Scheduler, State

from .grading import Grade

LEARNING_STEPS = (timedelta(minutes=10),)
RELEARNING_STEPS = (timedelta(minutes=10),)

_scheduler = Scheduler(
    desired_retention=0.9,
    learning_steps=LEARNING_STEPS,
    relearning_steps=RELEARNING_STEPS,
    maximum_interval=365,
    enable_fuzzing=False,
)


@dataclass(frozen=True)
class Scheduled:
    card: dict[str, Any]
    due: datetime
    rating: int
    lapsed: bool


def rating_for(grade: Grade, *, passed: bool = False) -> Rating:
    """Wrong or skipped: Again. Partly right (multiple choice, checklist): Hard. Right: Good;
    a self-graded interview answer that covered every point: Easy."""
    if passed or grade.score <= 0:
        return Rating.Again
    if not grade.correct:
        return Rating.Hard if grade.score >= 0.5 else Rating.Again
    if grade.score >= 1.0 and grade.detail.get("checked") is not None:
        return Rating.Easy
    return Rating.Good


def review(card_data: dict[str, Any] | None, rating: Rating | int, *, now: datetime) -> Scheduled:
    """Apply one review to a stored card (``None``: first time) and return the new state."""
    rating = Rating(rating)  # an int read back from the answer journal
    # A first card gets its id here: without one, fsrs's Card() sleeps 1 ms to keep ids made in a row
    # apart, on a page thread (py-spy: 6 % of the page threads' time under a class). Its id is the
    # same epoch millisecond fsrs would give; nothing here keys on it (a card is stored on its
    # learner's schedule row for the question).
    card = (Card.from_dict(card_data) if card_data  # type: ignore[arg-type]  # stored as JSON
            else Card(card_id=int(now.timestamp() * 1000), due=now))
    was_review = card.state == State.Review
    new_card, _log = _scheduler.review_card(card, rating, review_datetime=now)
    return Scheduled(
        card=dict(new_card.to_dict()),
        due=new_card.due,
        rating=int(rating),
        lapsed=was_review and rating == Rating.Again,
    )
