"""Import, export and seeding: round trips lose nothing; bad files change nothing."""
from __future__ import annotations

import copy
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from netlearn.core.content import ContentError, export_document, import_document
from netlearn.lessons.models import GlossaryTerm, Lesson, Step, StepView, Track

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "content"


def _snapshot() -> str:
    return json.dumps(export_document(), sort_keys=True, ensure_ascii=False)


def test_import_creates_everything(content) -> None:
    assert Track.objects.count() == 1 and GlossaryTerm.objects.count() == 2
    lesson = Lesson.objects.get(slug="sample-lesson")
    assert [s.number for s in lesson.steps.all()] == [1, 2, 3]
    step = lesson.steps.get(number=2)
    assert step.layers == [7, 4] and step.lit_links == ["client-resolver", "resolver-root"]
    assert step.lab_action == {"kind": "dns_query", "name": "shop.netlearn.test", "type": "A", "server": "resolver"}
    assert step.title_ko == "이름 풀이"


def test_export_then_import_round_trip_loses_nothing(content) -> None:
    exported = export_document()
    lessons = {lesson["slug"]: lesson for lesson in exported["lessons"]}
    assert lessons["sample-lesson"]["steps"] == content["lessons"][0]["steps"]
    assert lessons["draft-lesson"]["published"] is False
    before = _snapshot()
    import_document(json.loads(json.dumps(exported)), mode="replace")
    assert _snapshot() == before


def test_replace_updates_steps_in_place_keeping_progress(content, learner) -> None:
    step = Step.objects.get(lesson__slug="sample-lesson", number=1)
    StepView.objects.create(step=step, user=learner)
    doc = copy.deepcopy(content)
    doc["lessons"][0]["steps"][0]["title"]["en"] = "Type the address"
    del doc["lessons"][0]["steps"][2]
    import_document(doc, mode="replace")
    step.refresh_from_db()
    assert step.title_en == "Type the address"
    assert Step.objects.filter(lesson__slug="sample-lesson").count() == 2
    assert StepView.objects.filter(step=step, user=learner).exists()


def test_add_missing_keeps_edits_and_is_idempotent(content) -> None:
    Lesson.objects.filter(slug="sample-lesson").update(title_en="Edited by an instructor")
    stats = import_document(content, mode="add_missing")
    assert stats.added == 0 and stats.skipped == 5
    assert Lesson.objects.get(slug="sample-lesson").title_en == "Edited by an instructor"


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["lessons"][0]["steps"][1]["body"].pop("ko"), "lessons[0].steps[1].body.ko: missing or empty"),
        (lambda d: d["lessons"][0]["steps"][0].update(layers=[8]),
         "lessons[0].steps[0].layers[0]: OSI layer must be 1-7"),
        (lambda d: d["lessons"][0]["steps"][0]["diagram"]["nodes"].append("moon"), "unknown node id 'moon'"),
        (lambda d: d["lessons"][0]["steps"][0].update(lab_action={"kind": "rm -rf"}),
         "lessons[0].steps[0].lab_action.kind"),
        (lambda d: d["lessons"][0].update(track="nowhere"), "lessons[0].track: unknown track 'nowhere'"),
        (lambda d: d["lessons"][0]["steps"][2]["body"].update(en="See [[NOPE]]."), "[[NOPE]] is not a glossary term"),
        (lambda d: d["lessons"][1].update(slug="sample-lesson"), "lessons[1].slug: 'sample-lesson' already used"),
        (lambda d: d.update(format="other"), "format: expected 'netlearn-content'"),
        (lambda d: d["glossary"][0].update(colour="red"), "glossary[0].colour: unknown field"),
    ],
)
def test_half_valid_document_is_rejected_whole(content, mutate, expected: str) -> None:
    before = _snapshot()
    doc = copy.deepcopy(content)
    doc["lessons"][0]["title"]["en"] = "This valid change must not be written"
    mutate(doc)
    with pytest.raises(ContentError) as excinfo:
        import_document(doc, mode="replace")
    assert any(expected in p for p in excinfo.value.problems), excinfo.value.problems
    assert _snapshot() == before


def test_import_command_rejects_with_paths_and_changes_nothing(content, tmp_path) -> None:
    before = _snapshot()
    bad = copy.deepcopy(content)
    bad["lessons"][0]["steps"][0]["layers"] = ["seven"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(CommandError, match=r"(?s)nothing was changed.*lessons\[0\]\.steps\[0\]\.layers"):
        call_command("import_content", str(path))
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "netlearn-content", "version": 1, "lessons": [', encoding="utf-8")
    with pytest.raises(CommandError, match=r"broken.json: not valid JSON \(line 1"):
        call_command("import_content", str(broken))
    assert _snapshot() == before


def test_export_and_import_commands_round_trip(content, tmp_path) -> None:
    out = StringIO()
    call_command("export_content", stdout=out)
    path = tmp_path / "course.json"
    path.write_text(out.getvalue(), encoding="utf-8")
    Lesson.objects.filter(slug="sample-lesson").update(title_en="Changed")
    call_command("import_content", str(path), stdout=StringIO())
    assert Lesson.objects.get(slug="sample-lesson").title_en == "Sample lesson"


def test_shipped_content_seeds_idempotently() -> None:
    assert sorted(FIXTURES.glob("*.json")), "fixtures/content is empty"
    call_command("seed_content", stdout=StringIO())
    first = _snapshot()
    counts = (Lesson.objects.count(), Step.objects.count(), GlossaryTerm.objects.count())
    assert Lesson.objects.filter(slug="what-happens-when-you-type-a-url", published=True).exists()
    assert Step.objects.filter(lesson__slug="what-happens-when-you-type-a-url").count() >= 10
    call_command("seed_content", stdout=StringIO())
    assert _snapshot() == first
    assert (Lesson.objects.count(), Step.objects.count(), GlossaryTerm.objects.count()) == counts
