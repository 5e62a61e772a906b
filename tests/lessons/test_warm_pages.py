"""A worker renders the course's pages ahead, on a thread of its own (``netlearn.background.WarmPages``):
afterwards a new learner's very first step page and question page, in either language and as an
htmx fragment, are served on the event loop and are the pages a thread renders; nothing of the
course is missed, and a warm-up that fails leaves the worker starting all the same."""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from django.core.cache import cache

from netlearn.background import WarmPages, warm_pages
from netlearn.core import contentversion
from netlearn.core.asgi_handler import PooledThreadASGIHandler
from netlearn.lessons import pagecache
from netlearn.lessons.models import Step
from netlearn.lessons.views import warm_step_pages
from netlearn.quizzes import selectors as quiz_selectors
from netlearn.quizzes.models import Question, QuestionType
from netlearn.quizzes.views import question_pages, warm_question_pages
from tests.classroom.conftest import load_course

from .test_step_on_loop import EACH_TAB, STEP2, Tab, _normalised

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _embedded_caches(settings) -> None:
    """The embedded defaults' caches, in memory (as test_step_on_loop.py pins them)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "warm-pages-tests", "OPTIONS": {"MAX_ENTRIES": 50_000}}}


@pytest.fixture
def course(transactional_db) -> None:
    """The sample course and the quizzes' bank of every question type, and empty page caches."""
    load_course()
    cache.clear()
    pagecache.pages.clear()
    question_pages.clear()
    quiz_selectors._displayed.clear()


def _first_page(path: str, headers: dict[str, str]) -> tuple[int, Any, Any]:
    """A new learner's first request for ``path`` on the worker's handler, and a classmate's on a
    handler that always uses a thread (which renders the page itself if it is not cached)."""
    on_loop, threaded = PooledThreadASGIHandler(threads=2), PooledThreadASGIHandler(threads=2, on_loop=False)

    async def visit() -> tuple[Any, Any]:
        return await Tab(**headers).get(on_loop, path), await Tab(**headers).get(threaded, path)

    fast, slow = asyncio.run(visit())
    return on_loop.served_on_loop, fast, slow


@EACH_TAB
def test_after_the_warm_up_a_new_learners_first_step_page_is_served_on_the_loop(
        course, progress_written_behind, headers) -> None:
    warm_pages()
    served_on_loop, fast, slow = _first_page(STEP2, headers)
    assert served_on_loop == 1
    assert fast[0] == 200 and _normalised(fast) == _normalised(slow)


@EACH_TAB
def test_without_it_that_first_page_is_rendered_on_a_thread(course, progress_written_behind, headers) -> None:
    """The control: the test above would prove nothing if a first page ran on the loop anyway."""
    served_on_loop, fast, _ = _first_page(STEP2, headers)
    assert served_on_loop == 0 and fast[0] == 200


@pytest.mark.parametrize("language", ["en", "ko"])
def test_after_the_warm_up_a_new_learners_first_question_page_is_served_on_the_loop(course, language) -> None:
    key = Question.objects.exclude(type=QuestionType.ORDERING).order_by("key").values_list("key", flat=True)[0]
    warm_pages()
    served_on_loop, fast, slow = _first_page(f"/quizzes/q/{key}/", {"accept_language": language})
    assert served_on_loop == 1
    # The attempt token is signed per request (a timestamp): the rest of the page is the thread's.
    assert fast[0] == 200 and _without_token(_normalised(fast)) == _without_token(_normalised(slow))


def _without_token(response: tuple[Any, ...]) -> tuple[Any, ...]:
    import re

    status, headers, text = response
    return status, headers, re.sub(r'name="token" value="[^"]+"', 'name="token" value="TOKEN"', text)


def test_every_published_step_and_every_question_is_rendered_in_both_languages(course) -> None:
    steps, questions = warm_pages()
    version = contentversion.current()
    published = list(Step.objects.filter(lesson__published=True).values_list("lesson__slug", "number"))
    assert Step.objects.filter(lesson__published=False).exists()  # a draft, which must stay out
    assert steps == len(published) * 2 * 2  # two languages, page and fragment
    for slug, number in published:
        for lang in ("en", "ko"):
            for fragment in (False, True):
                assert pagecache.pages.cached((slug, number, lang, fragment), version), (slug, number, lang, fragment)
    keys = list(Question.objects.exclude(type=QuestionType.ORDERING).values_list("key", flat=True))
    assert Question.objects.filter(type=QuestionType.ORDERING).exists()  # shuffled per request: not kept
    assert questions == len(keys) * 2
    assert all(question_pages.cached((key, lang), version) for key in keys for lang in ("en", "ko"))
    assert all(quiz_selectors.question_displayed_in_memory(key, version) for key in keys)
    assert warm_pages() == (0, 0)  # a second warm-up finds everything there


def test_the_warm_up_stops_where_the_cache_would_start_dropping_its_own_pages(course, monkeypatch) -> None:
    monkeypatch.setattr(pagecache.pages, "max_pages", 5)
    steps, _ = warm_pages()
    assert steps == 5 and len(pagecache.pages._pages) == 5
    first = Step.objects.filter(lesson__published=True).order_by("lesson__order", "number").first()
    assert pagecache.pages.cached((first.lesson.slug, first.number, "en", False), contentversion.current())


def _started_and_finished(service: WarmPages) -> None:
    asyncio.run(service.start())
    if service._thread is not None:
        service._thread.join(30)
        assert not service._thread.is_alive()


def test_the_service_renders_on_a_thread_of_its_own_and_follows_its_setting(course, settings) -> None:
    settings.NETLEARN_WARM_PAGES = False
    _started_and_finished(WarmPages())
    assert len(pagecache.pages._pages) == 0
    settings.NETLEARN_WARM_PAGES = True
    service = WarmPages()
    _started_and_finished(service)
    assert service._thread is not None and service._thread.name == "netlearn-warm-pages"
    assert len(pagecache.pages._pages) > 0 and len(question_pages._pages) > 0


def test_a_stopping_worker_stops_the_warm_up_between_pages(course, settings) -> None:
    """It checks between pages; a stop ends the thread and the pages left render on first request."""
    version = contentversion.current()
    assert list(warm_step_pages(version, ("en", "ko"), going=lambda: False)) == []
    assert list(warm_question_pages(version, ("en", "ko"), going=lambda: False)) == []
    settings.NETLEARN_WARM_PAGES = True
    service = WarmPages()

    async def start_then_stop() -> threading.Thread:
        await service.start()
        thread = service._thread
        await service.stop()
        return thread

    assert not asyncio.run(start_then_stop()).is_alive()


def test_a_course_saved_during_the_warm_up_stops_it(course, monkeypatch) -> None:
    """An instructor's save moves the content version: the warm-up stops rather than render the old
    course into a cache that now keeps the new one. The save is made, for real, by the first render."""
    from netlearn.lessons import views

    render = views._render_for_cache
    saved = []

    def render_then_save(*args: Any) -> Any:
        page = render(*args)
        if not saved:
            step = Step.objects.filter(lesson__published=True).first()
            step.title_en += " (edited)"
            step.save()
            saved.append(step.pk)
        return page

    monkeypatch.setattr(views, "_render_for_cache", render_then_save)
    assert warm_pages() == (1, 0)
    assert saved


def test_a_warm_up_that_fails_is_logged_and_the_worker_starts(course, settings, caplog) -> None:
    """A course the templates cannot render (here the site's templates are gone) must not stop a worker."""
    settings.NETLEARN_WARM_PAGES = True
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": []}]
    caplog.set_level(logging.ERROR, logger="netlearn.lifespan")
    _started_and_finished(WarmPages())
    assert "page warm-up failed after 0 step and 0 question pages" in caplog.text


def test_a_warm_up_that_fails_half_way_logs_how_far_it_got(course, monkeypatch, caplog) -> None:
    """The log's count is of the pages rendered before the failure, not 0 (the pages themselves are
    in the cache; the rest render on first request)."""
    from netlearn.lessons import views

    render = views._render_for_cache
    calls = []

    def fail_on_the_third(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("a template error")
        return render(*args)

    monkeypatch.setattr(views, "_render_for_cache", fail_on_the_third)
    caplog.set_level(logging.ERROR, logger="netlearn.lifespan")
    assert warm_pages() == (2, 0)
    assert "page warm-up failed after 2 step and 0 question pages" in caplog.text
