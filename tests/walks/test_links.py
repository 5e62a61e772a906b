"""Every link from a walk step to a lesson step or quiz topic points at shipped content."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from netlearn.walks.rendering import LESSON_FOR_KIND, LESSON_FOR_STEP, TOPIC_FOR_CATEGORY

CONTENT = Path(__file__).resolve().parents[2] / "fixtures" / "content"


def _shipped() -> tuple[dict[str, int], set[str]]:
    steps: dict[str, int] = {}
    topics: set[str] = set()
    for path in CONTENT.glob("*.json"):
        document = json.loads(path.read_text(encoding="utf-8"))
        for lesson in document.get("lessons", []):
            steps[lesson["slug"]] = len(lesson["steps"])
        for question in document.get("questions", []):
            topics.update(question["topics"])
    return steps, topics


@pytest.mark.parametrize("target", sorted({*LESSON_FOR_STEP.values(), *LESSON_FOR_KIND.values()}))
def test_walk_steps_link_to_existing_lesson_steps(target: tuple[str, int]) -> None:
    steps, _ = _shipped()
    slug, number = target
    assert slug in steps and 1 <= number <= steps[slug], target


def test_walk_steps_link_to_quiz_topics_that_have_questions() -> None:
    _, topics = _shipped()
    assert set(TOPIC_FOR_CATEGORY.values()) <= topics
