"""Stages render outside any request (once per worker, shared by every socket), in each language."""
from __future__ import annotations

import pytest

from netlearn.classroom import rendering, services
from netlearn.walks.models import Walk

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(course, instructor):
    return services.session_open(user=instructor)


def test_a_running_walk_stage_connects_to_the_walk_in_the_viewers_language(room, settings) -> None:
    settings.DEBUG = False
    walk = Walk.objects.create(url="http://shop.netlearn.test/", session_key="s")
    services.stage_push_walk(session=room, walk_id=walk.id.hex)
    html = rendering.stage_html(room, lang="ko", console=False)
    assert f'ws-connect="/ws/walk/{walk.id}/?lang=ko"' in html and 'data-kind="walk"' in html


def test_a_step_stage_in_korean_and_english(room) -> None:
    services.stage_push_step(session=room, lesson="sample-lesson", number=1)
    english = rendering.stage_html(room, lang="en", console=False)
    korean = rendering.stage_html(room, lang="ko", console=False)
    assert 'data-kind="step"' in english and english != korean
    assert 'aria-live="polite"' in english  # the pushed content is announced


def test_the_console_sees_the_question_without_an_answer_form(room) -> None:
    services.question_open(session=room, key="tcp-first-segment")
    assert "live-answer-form" in rendering.stage_html(room, lang="en", console=False)
    assert "live-answer-form" not in rendering.stage_html(room, lang="en", console=True)


def test_grouped_short_answers_are_not_shown_to_the_room_on_reveal(room) -> None:
    person = services.participant_join(session=room, display_name="Ana")
    run = services.question_open(session=room, key="time-wait-state")
    services.answer_submit(participant=person, run_id=run.pk, data={"text": "my secret guess"})
    services.question_reveal(session=room)
    html = rendering.stage_html(room, lang="en", console=False)
    assert "TIME_WAIT" in html and "my secret guess" not in html
