"""The instructor's admin in real Chromium: live preview per field and language, no CSP
violation, and no serious or critical axe-core finding on the lesson and question pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.axe_helper import CspWatch, axe_context, axe_findings, describe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SAMPLE = Path(__file__).resolve().parents[1] / "lessons" / "sample_content.json"
PASSWORD = "pw-teacher-123"


@pytest.fixture
def course(transactional_db, django_user_model) -> dict:
    from netlearn.core.content import import_document
    from netlearn.lessons.models import Lesson
    from netlearn.quizzes.models import Question
    from tests.quizzes.conftest import BANK

    import_document(json.loads(SAMPLE.read_text(encoding="utf-8")), mode="replace")
    import_document(BANK, mode="merge")
    teacher = django_user_model.objects.create_user("teacher", password=PASSWORD, is_staff=True)
    teacher.groups.add(_instructors_group())
    lesson = Lesson.objects.get(slug="sample-lesson")
    questions = {q.type: q.pk for q in Question.objects.all()}
    return {"lesson": lesson.pk, "questions": questions}


def _instructors_group():
    """The group the migrations create (a transactional test's flush emptied it): same permissions."""
    import importlib

    from django.contrib.auth.models import Group, Permission

    lessons = importlib.import_module("netlearn.lessons.migrations.0002_instructors_group")
    quizzes = importlib.import_module("netlearn.quizzes.migrations.0002_topics_and_instructors")
    group, _ = Group.objects.get_or_create(name="Instructors")
    actions = ("add", "change", "delete", "view")
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="lessons",
            codename__in=[f"{a}_{m}" for m in lessons.MODELS for a in actions],
        )
    )
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="quizzes",
            codename__in=[f"{a}_{m}" for m in quizzes.AUTHORING for a in actions]
            + [f"view_{m}" for m in quizzes.READ_ONLY],
        )
    )
    return group


def _log_in(page, base: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "teacher")
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(f"{base}/admin/")


def _settled(page) -> None:
    """Loaded, and every live preview has answered its first request (htmx swapped it in)."""
    page.wait_for_load_state("load")
    page.wait_for_function(
        "() => window.htmx !== undefined && [...document.querySelectorAll("
        "'.md-editor .md-preview')].filter(p => !p.closest('.empty-form'))"
        ".every(p => p.childElementCount > 0)",
        timeout=20000,
    )


def _admin_pages(base: str, course: dict) -> list[str]:
    pages = [
        f"{base}/admin/lessons/lesson/",
        f"{base}/admin/lessons/lesson/{course['lesson']}/change/",
        f"{base}/admin/lessons/lesson/add/",
        f"{base}/admin/quizzes/question/",
        f"{base}/admin/quizzes/question/add/",
    ]
    pages += [f"{base}/admin/quizzes/question/{pk}/change/" for pk in sorted(course["questions"].values())]
    return pages


def test_admin_pages_have_no_csp_violation(asgi_live_server, page, course) -> None:
    base = asgi_live_server
    watch = CspWatch(page)
    _log_in(page, base)
    for url in _admin_pages(base, course):
        page.goto(url)
        _settled(page)
        assert watch.violations() == [], (url, watch.violations())


def test_admin_pages_have_no_serious_accessibility_findings(
    asgi_live_server, browser, course, artifacts_dir
) -> None:
    base = asgi_live_server
    context = axe_context(browser)
    page = context.new_page()
    try:
        _log_in(page, base)
        problems = {}
        for url in _admin_pages(base, course):
            page.goto(url)
            _settled(page)
            findings = axe_findings(page)
            if findings:
                problems[url] = describe(findings)
        page.goto(f"{base}/admin/quizzes/question/{course['questions']['single']}/change/")
        page.screenshot(path=str(artifacts_dir / "admin-question-change.png"), full_page=True)
        assert problems == {}, "\n\n".join(f"{url}\n{text}" for url, text in problems.items())
    finally:
        context.close()


def test_typing_korean_in_step_3_shows_it_in_step_3s_korean_preview(
    asgi_live_server, page, course, artifacts_dir
) -> None:
    base = asgi_live_server
    watch = CspWatch(page)
    _log_in(page, base)
    page.goto(f"{base}/admin/lessons/lesson/{course['lesson']}/change/")
    _settled(page)
    source = page.locator("textarea[name='steps-2-body_ko']")
    preview = page.locator("textarea[name='steps-2-body_ko'] + .md-preview")
    others = {
        name: page.locator(f"textarea[name='{name}'] + .md-preview").inner_html()
        for name in ("steps-0-body_en", "steps-0-body_ko", "steps-2-body_en", "steps-1-body_ko")
    }
    assert preview.get_attribute("lang") == "ko"
    source.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n\n세 번째 단계의 **새 문장** 미리보기")  # keystrokes, as an author types
    preview.locator("strong", has_text="새 문장").wait_for(timeout=15000)
    assert "세 번째 단계의" in preview.inner_text()
    assert preview.locator("div[lang=ko]").count() == 1
    # Nothing else changed: every other preview still shows its own field.
    for name, before in others.items():
        assert page.locator(f"textarea[name='{name}'] + .md-preview").inner_html() == before, name
    assert "새 문장" not in page.locator("textarea[name='steps-2-body_en'] + .md-preview").inner_text()
    step1_en = page.locator("textarea[name='steps-0-body_en'] + .md-preview").inner_text()
    assert step1_en.strip() and step1_en not in preview.inner_text()  # step 1's English stays in its own preview
    preview.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "admin-live-preview-step3-ko.png"))
    # A step added in the page previews its own field too (Django renamed it from __prefix__).
    page.locator(".add-row a").first.click()
    added = page.locator("textarea[name='steps-3-body_ko']")
    added.click()
    page.keyboard.type("새로 추가한 *단계*")
    page.locator("textarea[name='steps-3-body_ko'] + .md-preview em", has_text="단계").wait_for(timeout=15000)
    assert "새 문장" not in page.locator("textarea[name='steps-3-body_ko'] + .md-preview").inner_text()
    assert watch.violations() == []
