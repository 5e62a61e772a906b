"""Cached question pages (``quizzes.views.question_pages``): an instructor's save in the admin shows
on the next view in both languages; every view still gets its own attempt token and CSRF token,
and the answer posted with them is recorded once."""
from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client, override_settings
from django.utils import translation

from netlearn.quizzes import views
from netlearn.quizzes.models import Attempt
from tests.lessons.test_cache_round_trips import SHARED, STEP2, CountingCache

pytestmark = pytest.mark.django_db
PAGE = "/quizzes/q/tcp-first-segment/"


@pytest.fixture(autouse=True)
def _language_reset() -> Iterator[None]:
    """A Korean request leaves Korean active in this thread (LocaleMiddleware does not undo it):
    the tests after these must start in the default language."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _html(client: Client, lang: str = "en", path: str = PAGE) -> str:
    response = client.get(path, HTTP_ACCEPT_LANGUAGE=lang)
    assert response.status_code == 200
    return response.content.decode()


class _FormFields(HTMLParser):
    """The fields a browser would post from the admin's change form, as they are on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.setdefault(name, []).append(a.get("value", "on" if a.get("type") == "checkbox" else ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data.setdefault(name, []).append("")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.data.setdefault(self._select, []).append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][-1] += data.removeprefix("\n") if not self.data[self._textarea][-1] else data


def test_an_admin_edit_of_a_question_shows_on_the_next_view_in_both_languages(
        client, bank, django_user_model) -> None:
    assert "Which segment opens a TCP connection?" in _html(client, "en")
    assert "TCP 연결을 여는 세그먼트는?" in _html(client, "ko")
    assert len(views.question_pages._pages) == 2  # both languages now come from the cache
    assert "Which segment opens a TCP connection?" in _html(client, "en")  # a hit, still the same page

    teacher = django_user_model.objects.create_user("teacher", password="teach-long-password-1", is_staff=True)
    teacher.groups.add(Group.objects.get(name="Instructors"))
    admin = Client()
    admin.force_login(teacher)
    change = f"/admin/quizzes/question/{bank['tcp-first-segment'].pk}/change/"
    form = _FormFields()
    form.feed(admin.get(change).content.decode())
    data = {k: v if len(v) > 1 else v[0] for k, v in form.data.items()}
    assert data["prompt_en"] == "Which segment opens a TCP connection?"  # the form was read as it is
    data.update({"prompt_en": "Edited: which segment opens a connection?",
                 "prompt_ko": "고침: 연결을 여는 세그먼트는?"})
    response = admin.post(change, data)
    assert response.status_code == 302, response.content.decode()[:3000]

    english, korean = _html(client, "en"), _html(client, "ko")
    assert "Edited: which segment opens a connection?" in english and "Which segment opens a TCP" not in english
    assert "고침: 연결을 여는 세그먼트는?" in korean and "TCP 연결을 여는" not in korean


def _token(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def test_each_view_gets_its_own_tokens_and_an_answer_is_recorded_once(client, bank) -> None:
    first, second = _html(client), _html(client)
    assert _token(first) != _token(second)  # a fresh attempt token per view, not the cached one
    assert "\ue000" not in first and "\ue001" not in first  # every slot was filled
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', second).group(1)
    choice = re.findall(r'name="choice" value="(\d+)"', second)[0]
    form = {"csrfmiddlewaretoken": csrf, "token": _token(second), "mode": "quiz", "choice": choice}
    assert client.post(f"{PAGE}answer/", form).status_code == 200
    assert client.post(f"{PAGE}answer/", form).status_code == 200  # a double submission ...
    assert Attempt.objects.filter(question=bank["tcp-first-segment"]).count() == 1  # ... is one attempt


def test_pages_with_a_query_or_shuffled_items_are_not_cached(client, bank) -> None:
    _html(client, path=f"{PAGE}?mode=practice&next=/quizzes/")
    _html(client, path="/quizzes/q/tcp-handshake-order/")
    assert not views.question_pages._pages


@override_settings(CACHES=SHARED)
def test_a_returning_learners_question_page_reads_the_cache_once(bank) -> None:
    learner = Client()
    learner.get(STEP2)  # a session, like a learner's who read a step first
    learner.get(PAGE)
    CountingCache.reads.clear()
    response = learner.get(PAGE)
    assert response.status_code == 200 and 'name="token"' in response.content.decode()
    assert len(CountingCache.reads) == 1, CountingCache.reads


def test_a_plain_answer_page_wraps_this_answers_card_in_each_language(client, bank) -> None:
    from netlearn.quizzes import cards

    languages = (("en", "en", ("Correct!", "Not quite.")), ("ko", "ko", ("정답입니다", "아쉽지만")))
    for lang, html_lang, verdicts in languages:
        page = _html(client, lang)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        choice = re.findall(r'name="choice" value="(\d+)"', page)[0]
        response = client.post(f"{PAGE}answer/", {"csrfmiddlewaretoken": csrf, "token": _token(page), "mode": "quiz",
                                                   "choice": choice}, HTTP_ACCEPT_LANGUAGE=lang)
        html = response.content.decode()
        assert response.status_code == 200 and f'<html lang="{html_lang}"' in html
        assert 'class="q-card card q-answered' in html and "\ue000" not in html  # the card, every slot filled
        assert any(verdict in html for verdict in verdicts)  # in this learner's language
    assert len(cards.card_pages._pages) == 2  # one page around the cards per language
    assert Attempt.objects.filter(question=bank["tcp-first-segment"]).count() == 2
