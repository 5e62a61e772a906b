from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlearn.quizzes.grading import AnswerError, grade, normalise, parse_answer


def ids(question, rel="choices", **filters):
    return list(getattr(question, rel).filter(**filters).values_list("id", flat=True))


def test_single_choice_right_and_wrong(bank):
    q = bank["tcp-first-segment"]
    right = grade(q, parse_answer(q, {"choice": [str(ids(q, correct=True)[0])]}))
    wrong = grade(q, parse_answer(q, {"choice": [str(ids(q, correct=False)[0])]}))
    assert right.correct and right.score == 1.0
    assert not wrong.correct and wrong.score == 0.0


def test_multiple_choice_needs_exactly_the_correct_set_and_gives_partial_credit(bank):
    q = bank["reliable-protocols"]
    correct = ids(q, correct=True)
    assert grade(q, parse_answer(q, {"choice": [str(i) for i in correct]})).correct
    partial = grade(q, parse_answer(q, {"choice": [str(correct[0])]}))
    assert not partial.correct and partial.score == pytest.approx(0.75)


def test_true_false(bank):
    q = bank["udp-connectionless"]
    assert grade(q, parse_answer(q, {"choice": [str(ids(q, correct=True)[0])]})).correct


def test_ordering_by_ids_and_by_position_selects(bank):
    q = bank["tcp-handshake-order"]
    order = ids(q, "order_items")
    assert grade(q, parse_answer(q, {"order": [str(i) for i in order]})).correct
    positions = {f"position-{item}": str(3 - n) for n, item in enumerate(order)}  # reversed
    reversed_grade = grade(q, parse_answer(q, positions))
    assert not reversed_grade.correct
    assert reversed_grade.score == pytest.approx(1 / 3)  # the middle item is in place


def test_short_answer_normalises_case_spaces_and_punctuation(bank):
    q = bank["time-wait-state"]
    for text in ("TIME_WAIT", "time wait", " Time-Wait. ", "타임 웨이트", "ｔｉｍｅ＿ｗａｉｔ"):
        assert grade(q, parse_answer(q, {"text": text})).correct, text
    assert not grade(q, parse_answer(q, {"text": "CLOSE_WAIT"})).correct


def test_numeric_with_tolerance(bank):
    q = bank["rtts-before-first-byte"]
    assert grade(q, parse_answer(q, {"number": "2"})).correct
    assert grade(q, parse_answer(q, {"number": "2,0"})).correct
    assert not grade(q, parse_answer(q, {"number": "3"})).correct
    q.numeric_tolerance = 1
    assert grade(q, parse_answer(q, {"number": "3"})).correct


def test_interview_self_grading_by_checklist_share(bank):
    q = bank["explain-load-balancer"]
    points = ids(q, "checklist")
    full = grade(q, parse_answer(q, {"text": "notes", "checked": [str(p) for p in points]}))
    some = grade(q, parse_answer(q, {"text": "", "checked": [str(points[0])]}))
    assert full.correct and full.score == 1.0
    assert not some.correct and some.score == pytest.approx(1 / 3)


@pytest.mark.parametrize("data, message", [
    ({}, "Choose an answer"),
    ({"choice": ["abc"]}, "not understood"),
    ({"choice": ["999999"]}, "not part of this question"),
])
def test_bad_choice_submissions_are_refused(bank, data, message):
    with pytest.raises(AnswerError, match=message):
        parse_answer(bank["tcp-first-segment"], data)


def test_a_choice_of_another_question_is_refused(bank):
    other = ids(bank["reliable-protocols"], correct=True)[0]
    with pytest.raises(AnswerError, match="not part of this question"):
        parse_answer(bank["tcp-first-segment"], {"choice": [str(other)]})


def test_two_choices_for_a_single_choice_question_are_refused(bank):
    q = bank["tcp-first-segment"]
    with pytest.raises(AnswerError, match="exactly one"):
        parse_answer(q, {"choice": [str(i) for i in ids(q)[:2]]})


def test_ordering_with_missing_or_repeated_items_is_refused(bank):
    q = bank["tcp-handshake-order"]
    order = ids(q, "order_items")
    with pytest.raises(AnswerError, match="missing"):
        parse_answer(q, {"order": [str(i) for i in order[:2]]})
    with pytest.raises(AnswerError, match="twice"):
        parse_answer(q, {"order": [str(order[0]), str(order[0]), str(order[1])]})
    with pytest.raises(AnswerError, match="exactly once"):
        parse_answer(q, {f"position-{i}": "1" for i in order})


def test_huge_and_empty_text_answers_are_refused(bank):
    q = bank["time-wait-state"]
    with pytest.raises(AnswerError, match="too long"):
        parse_answer(q, {"text": "x" * 5000})
    with pytest.raises(AnswerError, match="Type an answer"):
        parse_answer(q, {"text": "   "})
    with pytest.raises(AnswerError, match="not a number"):
        parse_answer(bank["rtts-before-first-byte"], {"number": "nan"})


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(text=st.text(max_size=60))
def test_short_answers_never_crash_and_only_accepted_variants_pass(bank, text):
    q = bank["time-wait-state"]
    try:
        answer = parse_answer(q, {"text": text})
    except AnswerError:
        assert not text.strip() or len(text.strip()) > 2000
        return
    assert grade(q, answer).correct == (normalise(text) in {"timewait", normalise("타임 웨이트")})


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_ordering_accepts_exactly_the_permutations(bank, data):
    q = bank["tcp-handshake-order"]
    items = ids(q, "order_items")
    pool = items + [items[0], 10**6]
    given_order = data.draw(st.lists(st.sampled_from(pool), max_size=5))
    is_permutation = sorted(given_order) == sorted(items)
    try:
        result = grade(q, parse_answer(q, {"order": [str(i) for i in given_order]}))
    except AnswerError:
        assert not is_permutation
        return
    assert is_permutation
    assert result.correct == (given_order == items)
    assert 0.0 <= result.score <= 1.0


@given(st.text(max_size=40))
def test_normalise_is_idempotent(text):
    assert normalise(normalise(text)) == normalise(text)
