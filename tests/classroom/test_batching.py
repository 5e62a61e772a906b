"""Answers arriving together are written in one transaction, and each caller hears its own outcome."""
from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from netlearn.classroom import batching, services
from netlearn.classroom.models import LiveAnswer
from netlearn.classroom.rules import ClassroomError

from .conftest import load_course, make_instructor

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def _room_with_question(people: int) -> tuple[list, int, str]:
    load_course()
    teacher = make_instructor()
    room = services.session_open(user=teacher)
    participants = [services.participant_join(session=room, display_name=f"P{i}") for i in range(people)]
    gone = services.participant_join(session=room, display_name="Gone")
    services.participant_remove(session=room, user=teacher, participant_id=gone.pk)
    run = services.question_open(session=room, key="tcp-first-segment")
    right = str(run.question.choices.get(correct=True).pk)
    return participants + [gone], run.pk, right


async def test_answers_sent_together_share_one_batch_and_each_gets_its_outcome(monkeypatch) -> None:
    people, run_id, right = await _room_with_question(20)
    batch_sizes: list[int] = []
    record = batching._record

    async def counted(requests: list[services.AnswerRequest]) -> list:  # the real writer, counted
        batch_sizes.append(len(requests))
        return await record(requests)

    monkeypatch.setattr(batching, "_record", counted)
    outcomes = await asyncio.gather(
        *(batching.batcher().submit(services.AnswerRequest(p, run_id, {"choice": [right]})) for p in people),
        return_exceptions=True)
    assert batch_sizes == [21]
    assert all(not o.duplicate and o.answer.correct for o in outcomes[:20])
    assert isinstance(outcomes[20], ClassroomError) and outcomes[20].code == "removed"
    assert await sync_to_async(LiveAnswer.objects.filter(run_id=run_id).count)() == 20
