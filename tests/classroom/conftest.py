"""A course for live sessions: the lessons' sample course plus the quizzes' bank of every
question type, imported through the real importer; an instructor and a signed-in learner."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.quizzes.conftest import BANK

SAMPLE = Path(__file__).resolve().parent.parent / "lessons" / "sample_content.json"


def course_document() -> dict[str, Any]:
    document = json.loads(SAMPLE.read_text(encoding="utf-8"))
    extra = copy.deepcopy(BANK)
    document["questions"], document["quizzes"] = extra["questions"], extra["quizzes"]
    return document


def load_course() -> None:
    from netlearn.core.content import import_document

    import_document(course_document(), mode="replace")


def make_instructor(username: str = "teacher", password: str = "pw-teacher-123"):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(username, password=password, is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="Instructors")[0])
    return user


@pytest.fixture
def course(db) -> None:
    load_course()


@pytest.fixture
def instructor(db):
    return make_instructor()


@pytest.fixture
def learner(db, django_user_model):
    return django_user_model.objects.create_user("learner", password="pw-learner-123")
