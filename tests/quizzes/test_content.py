from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from netlearn.core.content import ContentError, export_document, import_document, load_files, validate_document
from netlearn.quizzes.content import QuestionsSection
from netlearn.quizzes.models import Question, Quiz


def test_import_creates_every_type_and_export_round_trips(bank, bank_document):
    assert Question.objects.count() == 7
    assert Quiz.objects.get(slug="tcp-basics").entries.count() == 3
    exported = export_document()
    by_key = {q["key"]: q for q in exported["questions"]}
    for original in bank_document["questions"]:
        again = by_key[original["key"]]
        for field in ("type", "topics", "prompt", "explanation", "choices", "order_items", "checklist", "follow_up"):
            if field in original:
                assert again[field] == original[field], (original["key"], field)
    assert exported["quizzes"] == bank_document["quizzes"]


def test_add_missing_keeps_edits_and_replace_overwrites_and_bumps_version(bank, bank_document):
    q = bank["tcp-first-segment"]
    Question.objects.filter(pk=q.pk).update(prompt_en="Edited by an instructor")
    stats = import_document(bank_document, mode="add_missing")
    assert stats.added == 0
    assert Question.objects.get(pk=q.pk).prompt_en == "Edited by an instructor"
    import_document(bank_document, mode="replace")
    fresh = Question.objects.get(pk=q.pk)
    assert fresh.prompt_en.startswith("Which segment") and fresh.version == q.version + 1


def test_validation_names_paths(db, bank_document):
    doc = bank_document
    doc["questions"][4]["choices"] = None
    doc["questions"][0]["choices"][1]["text"]["ko"] = ""
    doc["questions"][1]["topics"] = ["tcp", "carrier-pigeon"]
    doc["questions"][2]["lessons"] = [{"lesson": "no-such-lesson", "step": 1}]
    problems = validate_document(doc)
    assert "questions[0].choices[1].text.ko: missing or empty" in problems
    assert any(p.startswith("questions[1].topics[1]: unknown topic") for p in problems)
    assert any(p.startswith("questions[2].lessons[0].lesson: no lesson 'no-such-lesson'") for p in problems)
    with pytest.raises(ContentError):
        import_document(doc, mode="replace")
    assert Question.objects.count() == 0


def test_a_quiz_naming_an_unknown_question_is_refused(db, bank_document):
    bank_document["quizzes"][0]["questions"].append("missing-key")
    assert "quizzes[0].questions[3]: no question 'missing-key'" in validate_document(bank_document)


def test_a_link_to_a_lesson_in_the_same_document_is_accepted(db, bank_document):
    bank_document["questions"][0]["lessons"] = [{"lesson": "tcp-and-udp", "step": 2}]
    bank_document["lessons"] = [{"slug": "tcp-and-udp", "steps": [{}, {}]}]
    section = QuestionsSection()
    assert section.validate(bank_document["questions"], document=bank_document) == []
    bank_document["questions"][0]["lessons"] = [{"lesson": "tcp-and-udp", "step": 5}]
    assert section.validate(bank_document["questions"], document=bank_document) == [
        "questions[0].lessons[0].step: lesson 'tcp-and-udp' has no step 5"]


def test_lesson_links_resolve_lazily_to_urls(bank):
    q = bank["tcp-first-segment"]
    q.links.create(lesson_slug="tcp-and-udp", step=2)
    assert q.lesson_links() == [("tcp-and-udp", 2, "/lessons/tcp-and-udp/2/")]


def test_the_shipped_question_files_load(db):
    """The shipped question files validate with everything else and load every question."""
    paths = sorted((Path(settings.BASE_DIR) / "fixtures" / "content").glob("*.json"))
    assert any("question" in p.name or "quiz" in p.name for p in paths), "no question files in fixtures/content"
    document = load_files(paths)
    problems = validate_document(document)
    assert problems == [], "\n".join(problems)
    import_document(document, mode="add_missing")
    assert Question.objects.count() == len(document["questions"]) >= 143
