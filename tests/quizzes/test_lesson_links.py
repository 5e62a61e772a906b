"""Every question's lesson link lands on a step that teaches its answer.

Each question names at least one lesson step and lists its ``key_terms`` (docs/content-format.md):
every key term must appear, in each language, in the title or body of at least one linked step,
and every linked step must contain at least one of them — so a link cannot point at a step that
never mentions the subject. The test runs over every question of every file in fixtures/content,
so questions added in new files are held to the same rule.
"""
from __future__ import annotations

import copy
from pathlib import Path

from django.conf import settings

from netlearn.core.content import export_document, import_document, load_files

from .conftest import BANK

LANGS = ("en", "ko")


def _course() -> dict:
    return load_files(sorted((Path(settings.BASE_DIR) / "fixtures" / "content").glob("*.json")))


def _step_texts(document: dict) -> dict[tuple[str, int], dict[str, str]]:
    return {(lesson["slug"], number): {lang: f"{step['title'][lang]}\n{step['body'][lang]}".casefold()
                                       for lang in LANGS}
            for lesson in document.get("lessons", [])
            for number, step in enumerate(lesson["steps"], start=1)}


def link_problems(question: dict, steps: dict[tuple[str, int], dict[str, str]]) -> list[str]:
    key = question["key"]
    links = [(link["lesson"], link.get("step", 1)) for link in question.get("lessons") or []]
    terms = question.get("key_terms") or []
    if not links:
        return [f"{key}: names no lesson step"]
    if not terms:
        return [f"{key}: has no key_terms, the words its linked steps must teach"]
    problems = [f"{key}: links {slug}/{n}, which does not exist" for slug, n in links if (slug, n) not in steps]
    linked = [(f"{slug}/{n}", steps[(slug, n)]) for slug, n in links if (slug, n) in steps]
    for lang in LANGS:
        for term in terms:
            if not any(term[lang].casefold() in text[lang] for _, text in linked):
                problems.append(f"{key}: key term {term[lang]!r} ({lang}) is in none of its steps "
                                f"{[where for where, _ in linked]}")
        for where, text in linked:
            if not any(term[lang].casefold() in text[lang] for term in terms):
                problems.append(f"{key}: links {where}, whose {lang} text has none of its key terms")
    return problems


def test_every_question_links_a_step_that_teaches_its_key_terms() -> None:
    document = _course()
    steps = _step_texts(document)
    questions = document.get("questions", [])
    assert len(questions) >= 143
    problems = [p for question in questions for p in link_problems(question, steps)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_link_to_a_step_that_does_not_teach_the_answer() -> None:
    steps = {("tcp-and-udp", 1): {"en": "two transports", "ko": "두 가지 전송"},
             ("tcp-and-udp", 9): {"en": "udp adds a checksum", "ko": "udp는 체크섬을 더합니다"}}
    question = {"key": "udp-checksum", "lessons": [{"lesson": "tcp-and-udp", "step": 1}],
                "key_terms": [{"en": "checksum", "ko": "체크섬"}]}
    assert link_problems(question, steps) == [
        "udp-checksum: key term 'checksum' (en) is in none of its steps ['tcp-and-udp/1']",
        "udp-checksum: links tcp-and-udp/1, whose en text has none of its key terms",
        "udp-checksum: key term '체크섬' (ko) is in none of its steps ['tcp-and-udp/1']",
        "udp-checksum: links tcp-and-udp/1, whose ko text has none of its key terms"]
    question["lessons"] = [{"lesson": "tcp-and-udp", "step": 9}]
    assert link_problems(question, steps) == []
    assert link_problems({"key": "lonely"}, steps) == ["lonely: names no lesson step"]


def test_key_terms_round_trip_through_import_and_export(db) -> None:
    document = copy.deepcopy(BANK)
    document["questions"][0]["key_terms"] = [{"en": "SYN", "ko": "SYN"}]
    import_document(document, mode="replace")
    exported = {q["key"]: q for q in export_document()["questions"]}
    assert exported["tcp-first-segment"]["key_terms"] == [{"en": "SYN", "ko": "SYN"}]
    assert "key_terms" not in exported["udp-connectionless"]
