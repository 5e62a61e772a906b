"""The vocabulary checker (netlearn/core/vocabulary.py): what it flags, what it leaves alone."""
from __future__ import annotations

import pytest

from netlearn.core.vocabulary import Checker, load_terms, prose


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
