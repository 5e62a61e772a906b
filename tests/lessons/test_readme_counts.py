"""The README's figures about the course (lessons, steps, "try it" steps, glossary terms, questions,
their types, quizzes) are the shipped content's: a content change that alters one fails here until
the README says the new figure."""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
NUMBER_WORDS = {"seven": 7, "Fifteen": 15}


def _shipped() -> dict[str, object]:
    lessons, glossary, questions, quizzes = [], [], [], []
    for path in sorted((ROOT / "fixtures" / "content").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        lessons += document.get("lessons", [])
        glossary += document.get("glossary", [])
        questions += document.get("questions", [])
        quizzes += document.get("quizzes", [])
    steps = [len(lesson["steps"]) for lesson in lessons]
    return {"lessons": len(lessons), "fewest_steps": min(steps), "most_steps": max(steps),
            "try_it": sum(1 for lesson in lessons for step in lesson["steps"] if step.get("lab_action")),
            "glossary": len(glossary), "questions": len(questions),
            "types": len({question["type"] for question in questions}), "quizzes": len(quizzes)}


def _number(text: str) -> int:
    return NUMBER_WORDS[text] if text in NUMBER_WORDS else int(text.replace(",", ""))


def _said(pattern: str) -> tuple[int, ...]:
    match = re.search(pattern, README)
    assert match, f"the README no longer says {pattern!r}: update this test with the sentence"
    return tuple(_number(group) for group in match.groups())


def test_the_readme_counts_the_shipped_course() -> None:
    shipped = _shipped()
    assert _said(r"\| (\d+) interview questions of (\w+) types") == (shipped["questions"], shipped["types"])
    assert _said(r"\| (\d+) terms linked from lessons") == (shipped["glossary"],)
    assert _said(r"the course: tracks, glossary, (\d+) lessons, (\d+) questions, (\d+) quizzes") == (
        shipped["lessons"], shipped["questions"], shipped["quizzes"])
    assert _said(r"(\w+) lessons \((\d+)–(\d+) steps each, Korean and English; (\d+) \"try it\" steps\)") == (
        shipped["lessons"], shipped["fewest_steps"], shipped["most_steps"], shipped["try_it"])
    assert _said(r"(\d+) glossary terms, (\d+) questions, (\d+) quizzes") == (
        shipped["glossary"], shipped["questions"], shipped["quizzes"])


def test_the_readme_states_the_load_the_io_models_try_it_runs() -> None:
    from netlearn.lab.actions import IO_MODELS_LOAD as load

    free = load["oio_threads"] - load["idle"]
    said = _said(r"opens (\d+) idle keep-alive connections before (\d+) active clients, so the idle ones hold\s+"
                 r"(\d+) of the OIO server's (\d+) threads and (\d+) clients wait")
    assert said == (load["idle"], load["clients"], load["idle"], load["oio_threads"], load["clients"] - free)
