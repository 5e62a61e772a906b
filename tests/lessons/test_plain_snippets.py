"""Snippets and short labels show text, not Markdown source: glossary cards, search results,
ordering items, recent answers; "Learn more" links name lessons by title."""
from __future__ import annotations

import re

import pytest
from django.test import Client

from netlearn.quizzes.models import Question

pytestmark = pytest.mark.django_db
RAW = re.compile(r"\[\[|\]\]|`|(?<![*\w])\*[^*\s][^*]*\*(?![*\w])")


@pytest.fixture
def course(shipped_course):
    """The shipped course (tests/conftest.py)."""


def _visible(html: str) -> str:
    html = re.sub(r"<(script|style|code|pre)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", " ", html)


def test_snippets_are_text(course):
    client = Client()
    for path in ("/glossary/", "/search/?q=TLS", "/search/?q=DNS", "/quizzes/q/url-steps-order/"):
        text = _visible(client.get(path).content.decode())
        found = RAW.search(text)
        assert not found, f"{path}: {found.group(0)!r} in {text[found.start() - 60:][:140]!r}"


def test_recent_answers_and_learn_more_links(course):
    client = Client()
    question = next(q for q in Question.objects.prefetch_related("links") if q.links.exists() and q.type == "short")
    page = client.post(f"/quizzes/q/{question.key}/answer/", {"text": "x", **_hidden(client, question.key)})
    body = page.content.decode()
    assert "q-answered" in body, body[:2000]
    link = question.links.first()
    from django.utils.html import escape

    from netlearn.lessons.models import Lesson

    title = escape(Lesson.objects.get(slug=link.lesson_slug).title_en)
    assert f"“{title}”" in body and f"“{link.lesson_slug}”" not in body
    progress = _visible(client.get("/accounts/progress/").content.decode())
    assert not RAW.search(progress)


def _hidden(client: Client, key: str) -> dict[str, str]:
    html = client.get(f"/quizzes/q/{key}/").content.decode()
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
