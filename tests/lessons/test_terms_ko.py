"""One Korean vocabulary (docs/terms.ko.tsv) over every shipped lesson, question, glossary entry and UI string.

The failure message lists each stray form with its file, field and the reason written in the term
list, so an instructor can fix it (or argue for a change to the list) without reading this code.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from netlearn.core.vocabulary import Checker, korean_fields, po_translations

ROOT = Path(__file__).resolve().parents[2]
CONTENT_FILES = sorted((ROOT / "fixtures" / "content").glob("*.json"))
PO_FILES = sorted([*ROOT.glob("locale/ko/LC_MESSAGES/*.po"), *ROOT.glob("netlearn/*/locale/ko/LC_MESSAGES/*.po")])


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker()


def test_content_uses_one_korean_vocabulary(checker: Checker) -> None:
    assert CONTENT_FILES, "fixtures/content is empty"
    findings = []
    for path in CONTENT_FILES:
        document = json.loads(path.read_text(encoding="utf-8"))
        name = path.relative_to(ROOT)
        findings += checker.check_all((f"{name}: {field}", text) for field, text in korean_fields(document))
    assert not findings, "\n".join(map(str, findings))


def test_ui_strings_use_one_korean_vocabulary(checker: Checker) -> None:
    assert len(PO_FILES) >= 4, PO_FILES
    findings = []
    for path in PO_FILES:
        name = path.relative_to(ROOT)
        findings += checker.check_all((f"{name}: {where}", text) for where, text in po_translations(path))
    assert not findings, "\n".join(map(str, findings))


@pytest.mark.django_db
def test_check_terms_ko_reports_what_instructors_stored(checker: Checker) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    from netlearn.lessons.models import GlossaryTerm

    GlossaryTerm.objects.create(term="LB", title_en="Load balancer", title_ko="로드밸런서",
                                body_en="Spreads requests.", body_ko="TIME_WAIT은 아닙니다.", layers=[4])
    out = StringIO()
    with pytest.raises(CommandError, match="2 Korean term"):
        call_command("check_terms_ko", stdout=out)
    assert "glossary[LB].title.ko: '로드밸런서'" in out.getvalue()
    assert "TIME_WAIT는" in out.getvalue()
    GlossaryTerm.objects.filter(term="LB").update(title_ko="로드 밸런서", body_ko="TIME_WAIT는 아닙니다.")
    out = StringIO()
    call_command("check_terms_ko", stdout=out)
    assert "follows docs/terms.ko.tsv" in out.getvalue()
