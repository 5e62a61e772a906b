"""The rules of a live session, on the real database."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from netlearn.classroom import selectors, services
from netlearn.classroom.models import LiveAnswer, Participant
from netlearn.classroom.rules import ClassroomError, clean_display_name, normalise_code
from netlearn.quizzes.models import Attempt, ReviewState

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(course, instructor):
    return services.session_open(user=instructor, title="Week 3")


def test_only_instructors_open_sessions(course, learner) -> None:
    with pytest.raises(ClassroomError) as refused:
        services.session_open(user=learner)
    assert refused.value.code == "not_instructor"


def test_a_session_gets_a_six_character_code_without_lookalikes(room) -> None:
    assert len(room.code) == 6 and not set(room.code) & set("01OIL")
    assert room.stage == {"kind": "lobby"}


@pytest.mark.parametrize("raw,code", [("", "bad_code"), ("ABC", "bad_code"), ("ZZZZZZ", "unknown_code")])
def test_wrong_codes_are_refused_with_the_reason(room, raw: str, code: str) -> None:
    with pytest.raises(ClassroomError) as refused:
        services.session_for_code(raw)
    assert refused.value.code == code and str(refused.value)


def test_codes_ignore_case_spaces_and_dashes(room) -> None:
    typed = f" {room.code[:3].lower()}-{room.code[3:]} "
    assert normalise_code(typed) == room.code
    assert services.session_for_code(typed) == room


def test_an_expired_or_ended_session_cannot_be_joined(room, instructor) -> None:
    type(room).objects.filter(pk=room.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ClassroomError) as refused:
        services.session_for_code(room.code)
    assert refused.value.code == "ended"


@pytest.mark.parametrize("raw,code", [("<script>alert(1)</script>", "name_markup"), ("x" * 500, "name_long"),
                                      ("   ", "name_empty"), ("a\u200bb", "name_markup")])
def test_bad_display_names_are_refused_and_nothing_is_stored(room, raw: str, code: str) -> None:
    with pytest.raises(ClassroomError) as refused:
        services.participant_join(session=room, display_name=raw)
    assert refused.value.code == code
    assert not Participant.objects.exists()


def test_display_names_are_tidied() -> None:
    assert clean_display_name("  Kim   Min-su ") == "Kim Min-su"
    assert clean_display_name("김민수") == "김민수"


def test_rejoining_with_the_token_or_the_account_keeps_the_participant(room, learner) -> None:
    anon = services.participant_join(session=room, display_name="Ana")
    assert services.participant_join(session=room, display_name="Other", token=anon.token) == anon
    mine = services.participant_join(session=room, user=learner)
    assert mine.display_name == "learner"
    assert services.participant_join(session=room, display_name="again", user=learner) == mine
    assert Participant.objects.count() == 2


def test_a_full_room_refuses_newcomers_but_not_rejoiners(room) -> None:
    room.capacity = 1
    room.save()
    first = services.participant_join(session=room, display_name="One")
    with pytest.raises(ClassroomError) as refused:
        services.participant_join(session=room, display_name="Two")
    assert refused.value.code == "full"
    assert services.participant_join(session=room, token=first.token) == first
    assert Participant.objects.count() == 1


def test_the_instructor_renames_and_removes_a_participant(room, instructor, learner) -> None:
    p = services.participant_join(session=room, display_name="Rude name")
    with pytest.raises(ClassroomError):
        services.participant_rename(session=room, user=learner, participant_id=p.pk, name="x")
    with pytest.raises(ClassroomError):
        services.participant_rename(session=room, user=instructor, participant_id=p.pk, name="<b>")
    assert services.participant_rename(session=room, user=instructor, participant_id=p.pk,
                                       name="Guest 1").display_name == "Guest 1"
    services.participant_remove(session=room, user=instructor, participant_id=p.pk)
    assert services.participant_for_token(session=room, token=p.token) is None
    with pytest.raises(ClassroomError) as refused:
        services.participant_join(session=room, display_name="Back", token=p.token)
    assert refused.value.code == "removed"


def test_pushing_a_step_bumps_the_stage_version(room) -> None:
    before = room.stage_version
    services.stage_push_step(session=room, lesson="sample-lesson", number=2)
    assert room.stage["kind"] == "step" and room.stage_version == before + 1
    with pytest.raises(ClassroomError):
        services.stage_push_step(session=room, lesson="sample-lesson", number=99)


def test_free_browsing_and_call_back_return_to_the_same_stage(room) -> None:
    services.stage_push_step(session=room, lesson="sample-lesson", number=2)
    step_stage = dict(room.stage)
    services.stage_free(session=room)
    assert room.stage["kind"] == "free"
    services.stage_call_back(session=room)
    assert room.stage == step_stage


def test_answers_are_recorded_once_and_not_after_close(room) -> None:
    p = services.participant_join(session=room, display_name="Ana")
    run = services.question_open(session=room, key="tcp-first-segment")
    right = run.question.choices.get(correct=True).pk
    first = services.answer_submit(participant=p, run_id=run.pk, data={"choice": [str(right)]})
    again = services.answer_submit(participant=p, run_id=run.pk, data={"choice": [str(right)]})
    assert not first.duplicate and again.duplicate and first.answer.correct
    assert LiveAnswer.objects.count() == 1
    late = services.participant_join(session=room, display_name="Late")
    services.question_close(session=room)
    with pytest.raises(ClassroomError) as refused:
        services.answer_submit(participant=late, run_id=run.pk, data={"choice": [str(right)]})
    assert refused.value.code == "closed"
    assert LiveAnswer.objects.count() == 1


def test_an_answer_to_a_question_that_is_not_open_here_is_refused(room, instructor) -> None:
    other = services.session_open(user=instructor)
    foreign = services.question_open(session=other, key="tcp-first-segment")
    p = services.participant_join(session=room, display_name="Ana")
    for run_id in (foreign.pk, 99999, "x"):
        with pytest.raises(ClassroomError) as refused:
            services.answer_submit(participant=p, run_id=run_id, data={"choice": ["1"]})
        assert refused.value.code == "not_open"
    assert not LiveAnswer.objects.exists()


def test_an_invalid_answer_is_refused_with_the_quiz_message(room) -> None:
    p = services.participant_join(session=room, display_name="Ana")
    run = services.question_open(session=room, key="tcp-first-segment")
    with pytest.raises(ClassroomError) as refused:
        services.answer_submit(participant=p, run_id=run.pk, data={"choice": ["123456"]})
    assert refused.value.code == "bad_answer" and "not part of this question" in str(refused.value)
    assert not LiveAnswer.objects.exists()


def test_a_signed_in_participants_answer_feeds_their_review_queue(room, learner) -> None:
    p = services.participant_join(session=room, user=learner)
    run = services.question_open(session=room, key="rtts-before-first-byte")
    services.answer_submit(participant=p, run_id=run.pk, data={"number": "2"})
    services.answer_submit(participant=p, run_id=run.pk, data={"number": "2"})
    attempt = Attempt.objects.get(user=learner)
    assert attempt.mode == "live" and attempt.correct
    assert ReviewState.objects.filter(user=learner, question=run.question).count() == 1


def test_a_batch_of_answers_is_recorded_in_few_queries_with_one_outcome_each(
        room, learner, django_assert_max_num_queries) -> None:
    people = [services.participant_join(session=room, display_name=f"P{i}") for i in range(30)]
    gone = services.participant_join(session=room, display_name="Gone")
    services.participant_remove(session=room, user=room.owner, participant_id=gone.pk)
    gone.refresh_from_db()
    run = services.question_open(session=room, key="tcp-first-segment")
    right = str(run.question.choices.get(correct=True).pk)
    Request = services.AnswerRequest
    batch = [Request(p, run.pk, {"choice": [right]}) for p in people]
    batch += [Request(people[0], run.pk, {"choice": [right]}),  # resent within the same batch
              Request(gone, run.pk, {"choice": [right]}), Request(people[1], "x", {"choice": [right]})]
    with django_assert_max_num_queries(9):  # whatever the batch's size
        outcomes = services.answers_record(batch)
    assert [o.duplicate for o in outcomes[:31]] == [False] * 30 + [True]
    assert outcomes[30].answer.pk == outcomes[0].answer.pk and outcomes[0].answer.correct
    assert [o.code for o in outcomes[31:]] == ["removed", "not_open"]
    assert LiveAnswer.objects.filter(run=run).count() == 30
    signed_in = services.participant_join(session=room, user=learner)
    late = services.participant_join(session=room, display_name="Late")
    services.question_close(session=room)
    again, refused, mine = services.answers_record([Request(people[2], run.pk, {"choice": [right]}),
                                                    Request(late, run.pk, {"choice": [right]}),
                                                    Request(signed_in, run.pk, {"choice": [right]})])
    assert again.duplicate and refused.code == "closed" and mine.code == "closed"
    assert LiveAnswer.objects.filter(run=run).count() == 30 and not Attempt.objects.filter(user=learner).exists()


def test_opening_a_question_closes_the_previous_one(room) -> None:
    first = services.question_open(session=room, key="tcp-first-segment")
    services.question_open(session=room, key="udp-connectionless")
    first.refresh_from_db()
    assert not first.is_open


def test_summaries_per_question_type(room) -> None:
    people = [services.participant_join(session=room, display_name=f"P{i}") for i in range(4)]
    run = services.question_open(session=room, key="tcp-first-segment")
    choices = list(run.question.choices.all())
    for person, choice in zip(people, [choices[0], choices[0], choices[1], choices[0]]):
        services.answer_submit(participant=person, run_id=run.pk, data={"choice": [str(choice.pk)]})
    bars = selectors.run_summary(run)["bars"]
    assert [b["count"] for b in bars] == [3, 1, 0] and bars[0]["correct"] and bars[0]["percent"] == 75
    run = services.question_open(session=room, key="rtts-before-first-byte")
    for person, n in zip(people, ["2", "2", "3", "1"]):
        services.answer_submit(participant=person, run_id=run.pk, data={"number": n})
    summary = selectors.run_summary(run)
    assert {b["label"]: b["count"] for b in summary["bars"]} == {"1": 1, "2": 2, "3": 1} and summary["median"] == 2
    run = services.question_open(session=room, key="tcp-handshake-order")
    items = list(run.question.order_items.values_list("pk", flat=True))
    for person, order in zip(people, [items, items, items[::-1], items]):
        services.answer_submit(participant=person, run_id=run.pk, data={"order": [str(i) for i in order]})
    bars = selectors.run_summary(run)["bars"]
    assert bars[0]["count"] == 3 and bars[0]["correct"] and bars[0]["label"] == "SYN → SYN-ACK → ACK"
    run = services.question_open(session=room, key="time-wait-state")
    for person, text in zip(people, ["TIME_WAIT", "time-wait", "CLOSE_WAIT", "TIME WAIT"]):
        services.answer_submit(participant=person, run_id=run.pk, data={"text": text})
    bars = selectors.run_summary(run)["bars"]
    assert bars[0]["count"] == 3 and bars[0]["correct"] and bars[1]["label"] == "CLOSE_WAIT"


def test_report_and_csv(room) -> None:
    a = services.participant_join(session=room, display_name="=HYPERLINK(evil)")
    b = services.participant_join(session=room, display_name="Bo")
    run = services.question_open(session=room, key="tcp-first-segment")
    right = run.question.choices.get(correct=True)
    services.answer_submit(participant=a, run_id=run.pk, data={"choice": [str(right.pk)]})
    report = selectors.report(room)
    assert report["questions"][0]["answers"] == 1 and report["questions"][0]["correct"] == 1
    assert {r["participant"].display_name: r["answered"] for r in report["participants"]} == {
        "=HYPERLINK(evil)": 1, "Bo": 0}
    csv_text = selectors.report_csv(room)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("session,question_number,question")
    assert f"{room.code},1,tcp-first-segment,single,'=HYPERLINK(evil),no,SYN,yes,1.00," in lines[1]
    assert b.display_name not in csv_text
