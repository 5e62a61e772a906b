from __future__ import annotations

import json
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parent.parent / "lessons" / "sample_content.json"


@pytest.fixture
def sample_course(transactional_db) -> dict:
    """The sample course (tests/lessons/sample_content.json) through the real importer."""
    from netlearn.core.content import import_document

    document = json.loads(SAMPLE.read_text(encoding="utf-8"))
    import_document(document, mode="replace")
    return document
