from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SAMPLE = Path(__file__).with_name("sample_content.json")


@pytest.fixture
def sample_document() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


@pytest.fixture
def content(db, sample_document):
    """The sample course imported through the real importer."""
    from netlearn.core.content import import_document

    import_document(sample_document, mode="replace")
    return sample_document


@pytest.fixture
def instructor(db, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("teacher", password="pw-teacher-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Instructors"))
    return user


@pytest.fixture
def learner(db, django_user_model):
    return django_user_model.objects.create_user("learner", password="pw-learner-123")


@pytest.fixture
def progress_written_behind(settings, monkeypatch, tmp_path) -> None:
    """Progress through the journal, as a worker runs (the test settings write it in the request,
    which needs a thread), and so new sessions made on the loop through theirs
    (``netlearn.core.sessions``); the journals flushed only when a test says so."""
    from netlearn.core import sessions
    from netlearn.core.journal import WriteAheadJournal
    from netlearn.lessons import progress

    settings.NETLEARN_PROGRESS_WRITE_BEHIND = True
    monkeypatch.setattr(progress, "_journal", WriteAheadJournal(tmp_path / "journal", progress._upsert,
                                                                interval=3600, autostart=False))
    monkeypatch.setattr(sessions, "_journal", WriteAheadJournal(tmp_path / "session-journal", sessions._insert_rows,
                                                                interval=3600, autostart=False))
