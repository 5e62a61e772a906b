"""One Korean vocabulary (docs/terms.ko.tsv) over every shipped lesson, question, glossary entry and UI string.

The failure message lists each stray form with its file, field and the reason written in the term
list, so an instructor can fix it (or argue for a change to the list) without reading this code.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from netlearn.core.vocabulary import Checker, korean_fields, load_terms, po_translations, prose

ROOT = Path(__file__).resolve().parents[2]
CONTENT_FILES = sorted((ROOT / "fixtures" / "content").glob("*.json"))
PO_FILES = sorted([*ROOT.glob("locale/ko/LC_MESSAGES/*.po"), *ROOT.glob("netlearn/*/locale/ko/LC_MESSAGES/*.po")])


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker()


def test_the_term_list_is_well_formed() -> None:
    terms = load_terms()
    assert len(terms) >= 40
    kos = [t.ko for t in terms]
    assert len(kos) == len(set(kos)), "a Korean term is listed twice"
    for term in terms:
        assert term.why, f"{term.ko}: say why"
        for pattern in term.avoid:
            assert not pattern.search(prose(term.ko)), f"{term.ko} matches its own avoid form {pattern.pattern!r}"


@pytest.mark.parametrize(
    "text, found",
    [
        ("L4 로드밸런서가 받습니다.", "로드밸런서"),
        ("장애 조치 시간", "장애 조치"),
        ("`http://shop.netlearn.test/`로 walk를 실행하세요.", "walk"),
        ("실제 워크를 실행해 보세요.", "워크"),
        ("TIME_WAIT은 먼저 닫은 쪽에 생깁니다.", "TIME_WAIT은"),
        ("`TIME_WAIT`을 줄이려면", "`TIME_WAIT`을"),
        ("SYN를 보냅니다.", "SYN를"),
        ("URL으로 이동합니다.", "URL으로"),
        ("0-RTT는 재전송 공격에 취약합니다.", "재전송 공격"),
    ],
)
def test_the_checker_finds_stray_forms(checker: Checker, text: str, found: str) -> None:
    findings = checker.check(text, "sample")
    assert [f.found for f in findings] == [found], findings
    assert findings[0].where == "sample" and findings[0].advice


@pytest.mark.parametrize(
    "text",
    [
        "네트워크와 프레임워크, 워크로드는 요청 따라가기와 다릅니다.",
        "`new NioEventLoopGroup(1); // boss` 그리고 `/walk/` 페이지",
        "액티브/스탠바이(active/standby) 쌍과 [[load balancer|로드 밸런서]]",
        "```\nboss worker 로드밸런서\n```",
        "TIME_WAIT는, SYN을, URL로, TTL을, TCP로는, HTTP/1.1은, TCP이므로 괜찮습니다.",
        "DNS 응답 코드(RCODE) NXDOMAIN",
    ],
)
def test_the_checker_leaves_right_forms_and_code_alone(checker: Checker, text: str) -> None:
    assert checker.check(text, "sample") == []


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
