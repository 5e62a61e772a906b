"""Cached step pages (netlearn.lessons.pagecache): an instructor's save shows at once, in both
languages; the cache key separates languages; one learner's private parts never reach another."""
from __future__ import annotations

import re

import pytest
from django.test import Client

from netlearn.lessons import pagecache
from netlearn.lessons.models import Lesson, Step
from tests.waiting import eventually_sync

from .test_admin import _inline_post

pytestmark = pytest.mark.django_db
STEP2 = "/lessons/sample-lesson/2/"


def _html(client: Client, path: str = STEP2, lang: str = "en") -> str:
    response = client.get(path, HTTP_ACCEPT_LANGUAGE=lang)
    assert response.status_code == 200
    return response.content.decode()


def test_an_admin_edit_shows_on_the_next_view_in_both_languages(client, content, instructor) -> None:
    assert "The resolver walks from the root." in _html(client, lang="en")
    assert "리졸버가 루트부터 찾아갑니다." in _html(client, lang="ko")
    assert len(pagecache.pages._pages) == 2  # both languages are now served from the cache

    admin = Client()
    admin.force_login(instructor)
    lesson = Lesson.objects.get(slug="sample-lesson")
    data = _inline_post(lesson, {})
    data.update({"steps-1-body_en": "Edited: the resolver asks the root first.",
                 "steps-1-body_ko": "고침: 리졸버는 루트에 먼저 묻습니다.",
                 "steps-1-title_en": "Resolve the name (edited)"})
    response = admin.post(f"/admin/lessons/lesson/{lesson.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]

    english, korean = _html(client, lang="en"), _html(client, lang="ko")
    assert "Edited: the resolver asks the root first." in english and "The resolver walks" not in english
    assert "Resolve the name (edited)" in english
    assert "고침: 리졸버는 루트에 먼저 묻습니다." in korean and "리졸버가 루트부터" not in korean


def test_a_change_saved_outside_the_admin_shows_too(client, content) -> None:
    _html(client)
    Step.objects.filter(lesson__slug="sample-lesson", number=2).update(body_en="Changed by an update().")
    assert "Changed by an update()." not in _html(client)  # update() sends no signal ...
    from netlearn.lessons.services import lesson_touch

    lesson_touch(lesson_id=Lesson.objects.get(slug="sample-lesson").pk)  # ... the services' paths bump
    assert "Changed by an update()." in _html(client)


def test_the_cache_key_separates_languages_and_fragments(client, content) -> None:
    english, korean = _html(client, lang="en"), _html(client, lang="ko")
    assert '<html lang="en"' in english and "The resolver walks from the root." in english
    assert '<html lang="ko"' in korean and "리졸버가 루트부터 찾아갑니다." in korean
    assert "리졸버가" not in english and "The resolver walks" not in korean
    fragment = client.get(STEP2, HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<html" not in fragment and fragment.lstrip().startswith("<title>Resolve the name")
    assert "<html" in _html(client, lang="en")  # the full page did not get the fragment's entry


def _csrf(html: str) -> str:
    return re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)


def _nonce(html: str) -> str:
    return re.search(r'"inlineStyleNonce": "([^"]+)"', html).group(1)


def test_learners_private_parts_never_leak_between_users(content, django_user_model) -> None:
    alice = django_user_model.objects.create_user("alice-learner", password="pw-alice-123")
    bob = django_user_model.objects.create_user("bob-learner", password="pw-bob-123")
    as_alice, as_bob = Client(), Client()
    as_alice.force_login(alice)
    as_bob.force_login(bob)

    _html(as_alice, "/lessons/sample-lesson/1/")  # Alice has seen step 1, Bob has not
    page_alice = _html(as_alice)
    page_bob = _html(as_bob)
    assert len(pagecache.pages._pages) == 2  # steps 1 and 2: Bob's page came from the cache Alice filled

    assert ">alice-learner</a>" in page_alice and "bob-learner" not in page_alice
    assert ">bob-learner</a>" in page_bob and "alice-learner" not in page_bob
    assert 'data-step="1"\n               class="seen"' in page_alice
    assert 'data-step="1"\n               class=""' in page_bob
    assert _csrf(page_alice) != _csrf(page_bob) and _nonce(page_alice) != _nonce(page_bob)

    # Each page's CSRF token is valid for its own session only, and the CSP header names its nonce.
    response = as_bob.get(STEP2)
    html = response.content.decode()
    assert f"'nonce-{_nonce(html)}'" in response["Content-Security-Policy"]
    assert "\ue000" not in html and "\ue001" not in html  # no slot is ever left unfilled


def test_two_anonymous_visitors_keep_their_own_progress(content) -> None:
    first, second = Client(), Client()
    _html(first, "/lessons/sample-lesson/1/")
    page_first, page_second = _html(first), _html(second)
    assert 'data-step="1"\n               class="seen"' in page_first
    assert 'data-step="1"\n               class=""' in page_second
    assert 'data-step="2"\n               class="seen"' in page_second  # the step being read counts as seen


def test_instructors_and_requests_with_a_query_string_are_rendered_afresh(client, content, instructor) -> None:
    """README: instructors (who may see drafts) and requests with a query string skip the cache."""
    assert "The resolver walks from the root." in _html(client)  # now cached for learners
    Step.objects.filter(lesson__slug="sample-lesson", number=2).update(body_en="Fresh from the database.")
    assert "Fresh from the database." not in _html(client)  # update() moved no version: the cached page
    teacher = Client()
    teacher.force_login(instructor)
    assert "Fresh from the database." in _html(teacher)
    assert "Fresh from the database." in _html(client, STEP2 + "?from=search")
    assert len(pagecache.pages._pages) == 1  # neither was kept


def test_the_page_cache_keeps_the_newest_pages_of_the_current_content_version_only() -> None:
    """README: an LRU of 1,024 pages of the current content version only."""
    assert pagecache.MAX_PAGES == 1024
    cache = pagecache.PageCache(max_pages=2)
    rendered: list[tuple] = []

    def get(key: tuple, version: str = "v1"):
        return cache.get(key, version, lambda: rendered.append((key, version)) or object())

    first, second = get(("a",)), get(("b",))
    assert get(("a",)) is first  # a hit; "a" is now the most recent
    get(("c",))  # evicts the least recently used: "b"
    assert get(("a",)) is first and get(("b",)) is not second
    assert rendered == [(("a",), "v1"), (("b",), "v1"), (("c",), "v1"), (("b",), "v1")]
    get(("a",), "v2")  # a new content version drops every older page
    assert len(cache._pages) == 1 and get(("a",), "v2") is not first


def _database_url() -> str:
    """This test's database as a DATABASE_URL another process can open."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    from urllib.parse import quote

    login = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db.get("PASSWORD") else "")
    return f"postgresql://{login}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_an_import_in_another_process_shows_within_the_bound(client, content, transactional_db, tmp_path) -> None:
    """README: the content version lives in a file in the data folder (or in Redis), so a
    ``manage.py import_content`` beside the server is seen by the pages it cached (within half a
    second in the file configuration: ``contentversion.REREAD_INTERVAL``)."""
    import copy
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    assert "The resolver walks from the root." in _html(client)  # cached in this process
    edited = copy.deepcopy(content)
    edited["lessons"][0]["steps"][1]["body"]["en"] = "Imported by another process."
    course = tmp_path / "course.json"
    course.write_text(json.dumps(edited), encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": _database_url(), "NETLEARN_DATA_DIR": str(settings.DATA_DIR)}
    subprocess.run([sys.executable, "manage.py", "import_content", str(course)], env=env, check=True,
                   cwd=Path(__file__).resolve().parents[2], capture_output=True, timeout=120)
    # Another process's bump reaches this one within contentversion.REREAD_INTERVAL (0.5 s).
    eventually_sync(lambda: "Imported by another process." in _html(client), "the import shows on a view")
