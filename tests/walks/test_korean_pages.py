"""Korean everywhere on a Korean page: a real walk (every step and every inspector), a compare run
and the site's pages, rendered in Korean, hold no English sentence outside code and addresses."""
from __future__ import annotations

import pytest
from django.test import AsyncClient

from netlearn.walks.services import walk_start
from tests.i18n_check import english_sentences

from .test_services import _finished

pytestmark = pytest.mark.django_db(transaction=True)
KO = {"accept-language": "ko"}


def test_the_checker_finds_english_and_ignores_code():
    assert english_sentences("<p>이것은 <code>GET / HTTP/1.1 and more words here</code></p>") == []
    assert english_sentences("<p>Look in the browser's cache</p>") == ["Look in the browser's cache"]


async def _english_in(client: AsyncClient, path: str, **kwargs) -> list[str]:
    response = await (client.post(path, kwargs.pop("data"), headers={**KO, **kwargs}) if "data" in kwargs
                      else client.get(path, headers=KO))
    assert response.status_code == 200, path
    return [f"{path}: {s}" for s in english_sentences(response.content.decode())]


@pytest.mark.parametrize("url", ["http://shop.netlearn.test/", "https://shop.netlearn.test/",
                                 "http://www.netlearn.test/api/hello", "http://nope.netlearn.test/"])
async def test_a_real_walk_in_korean(embedded_lab, url):
    walk = await _finished((await walk_start(url=url, session_key="ko")).id)
    client = AsyncClient(headers=KO)
    found = await _english_in(client, walk.get_absolute_url())
    for seq in range(len(walk.events)):
        found += await _english_in(client, f"{walk.get_absolute_url()}step/{seq}/")
    assert not found, "English on Korean walk pages:\n" + "\n".join(sorted(set(found))[:80])


async def test_a_compare_run_in_korean(embedded_lab):
    client = AsyncClient(headers=KO)
    found = await _english_in(client, "/walk/compare/", data={"url": "https://shop.netlearn.test/", "latency": "0"},
                              **{"HX-Request": "true"})
    assert not found, "English on the Korean compare page:\n" + "\n".join(found)


@pytest.fixture
def course(shipped_course):
    """The shipped course (tests/conftest.py)."""


async def test_every_learner_page_in_korean(course):
    client = AsyncClient(headers=KO)
    paths = ["/", "/lessons/", "/walk/", "/walk/compare/", "/quizzes/", "/review/", "/mock/", "/accounts/progress/",
             "/glossary/", "/search/?q=TLS", "/quizzes/q/url-steps-order/", "/quizzes/q/url-interview/",
             "/accounts/login/", "/accounts/signup/"]
    from netlearn.lessons.models import Lesson

    async for lesson in Lesson.objects.all():
        paths.append(f"/lessons/{lesson.slug}/")
        async for step in lesson.steps.all():
            paths.append(f"/lessons/{lesson.slug}/{step.number}/")
    found = []
    for path in paths:
        found += await _english_in(client, path)
    assert not found, "English on Korean pages:\n" + "\n".join(found[:80])


def test_the_checker_finds_half_translated_sentences_but_not_names():
    assert english_sentences("<p>액티브 밸런서 takes over the virtual address</p>") == [
        "takes over the virtual address"]
    assert english_sentences("<p>Virtual Router Redundancy Protocol 이라고 부릅니다</p>") == []
