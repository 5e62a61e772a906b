"""A small question bank with one question of every type, imported through the content format
(the same path the shipped fixtures take)."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from netlearn.core.content import import_document


def _t(en: str, ko: str | None = None) -> dict[str, str]:
    return {"en": en, "ko": ko or f"{en} (ko)"}


BANK: dict[str, Any] = {
    "format": "netlearn-content",
    "version": 1,
    "questions": [
        {"key": "tcp-first-segment", "type": "single", "topics": ["tcp"], "layers": [4], "difficulty": 1,
         "prompt": _t("Which segment opens a TCP connection?", "TCP 연결을 여는 세그먼트는?"),
         "explanation": _t("The client sends **SYN** first.", "클라이언트가 먼저 **SYN**을 보냅니다."),
         "choices": [{"text": _t("SYN"), "correct": True}, {"text": _t("ACK"), "correct": False},
                     {"text": _t("FIN"), "correct": False}],
         "follow_up": "tcp-handshake-order"},
        {"key": "reliable-protocols", "type": "multiple", "topics": ["tcp", "udp"], "layers": [4], "difficulty": 2,
         "prompt": _t("Which give reliable, ordered delivery?"), "explanation": _t("TCP and QUIC do."),
         "choices": [{"text": _t("TCP"), "correct": True}, {"text": _t("UDP"), "correct": False},
                     {"text": _t("QUIC"), "correct": True}, {"text": _t("IP"), "correct": False}]},
        {"key": "udp-connectionless", "type": "true_false", "topics": ["udp"], "layers": [4], "difficulty": 1,
         "prompt": _t("UDP is connectionless."), "explanation": _t("No handshake."),
         "choices": [{"text": _t("True", "참"), "correct": True}, {"text": _t("False", "거짓"), "correct": False}]},
        {"key": "tcp-handshake-order", "type": "ordering", "topics": ["tcp"], "layers": [4], "difficulty": 1,
         "prompt": _t("Put the handshake in order."), "explanation": _t("SYN, SYN-ACK, ACK."),
         "order_items": [_t("SYN"), _t("SYN-ACK"), _t("ACK")]},
        {"key": "time-wait-state", "type": "short", "topics": ["tcp"], "layers": [4], "difficulty": 2,
         "prompt": _t("Which state waits 2×MSL after an active close?"), "explanation": _t("TIME_WAIT."),
         "accepted": [{"en": "TIME_WAIT", "ko": "타임 웨이트"}, {"en": "TIME-WAIT", "ko": ""}]},
        {"key": "rtts-before-first-byte", "type": "numeric", "topics": ["http", "tcp"], "layers": [4, 7],
         "difficulty": 2, "prompt": _t("How many RTTs before the first response byte (HTTP over TCP, no TLS)?"),
         "explanation": _t("One for the handshake, one for the request."), "numeric": {"value": 2, "tolerance": 0}},
        {"key": "explain-load-balancer", "type": "interview", "topics": ["load-balancing"], "layers": [4, 7],
         "difficulty": 3, "prompt": _t("Explain L4 vs L7 load balancing."), "explanation": _t("See the lesson."),
         "model_answer": _t("An L4 balancer forwards connections; an L7 one reads requests."),
         "checklist": [_t("L4 sees addresses and ports"), _t("L7 reads HTTP"), _t("trade-offs")]},
    ],
    "quizzes": [
        {"slug": "tcp-basics", "title": _t("TCP basics", "TCP 기초"), "topics": ["tcp"],
         "questions": ["tcp-first-segment", "tcp-handshake-order", "time-wait-state"]},
    ],
}


@pytest.fixture
def bank_document() -> dict[str, Any]:
    return copy.deepcopy(BANK)


@pytest.fixture
def bank(db, bank_document):
    import_document(bank_document, mode="replace")
    from netlearn.quizzes.models import Question

    return {q.key: q for q in Question.objects.all()}
