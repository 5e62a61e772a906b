"""A learner walks through the overview lesson with the keyboard in real Chromium."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.browser
SLUG = "what-happens-when-you-type-a-url"


@pytest.fixture
def course(transactional_db):
    """The shipped lessons and glossary (quiz sections left out: this test is about lessons)."""
    from netlearn.core.content import import_document, load_files

    document = load_files(sorted((Path(settings.BASE_DIR) / "fixtures" / "content").glob("*.json")))
    for section in ("questions", "quizzes"):
        document.pop(section, None)
    import_document(document, mode="add_missing")


def _lit(page) -> tuple[list[str], list[str]]:
    nodes = page.eval_on_selector_all(".lesson-figure .topo-node.lit", "els => els.map(e => e.dataset.node)")
    links = page.eval_on_selector_all(".lesson-figure .topo-link.lit", "els => els.map(e => e.dataset.link)")
    return nodes, links


def test_keyboard_walk_through_the_overview_lesson(course, asgi_live_server, page, artifacts_dir) -> None:
    from netlearn.lessons.models import Step

    steps = list(Step.objects.filter(lesson__slug=SLUG).order_by("number"))
    assert len(steps) >= 10
    page.goto(f"{asgi_live_server}/lessons/{SLUG}/")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(rf"/lessons/{SLUG}/1/$"))
    assert page.inner_text("#step-title") == steps[0].title_en
    page.screenshot(path=str(artifacts_dir / "lesson-step-1-desktop.png"), full_page=True)
    page.evaluate("window.__sameDocument = true")  # survives only if no full reload happens

    changed_diagram = False
    for step in steps[1:4]:
        before = _lit(page)
        page.keyboard.press("ArrowRight")
        page.wait_for_url(re.compile(rf"/lessons/{SLUG}/{step.number}/$"))
        page.wait_for_function("n => document.querySelector('#step-panel').dataset.number === n", arg=str(step.number))
        assert page.inner_text("#step-title") == step.title_en
        after = _lit(page)
        assert sorted(after[0]) == sorted(step.lit_nodes) and sorted(after[1]) == sorted(step.lit_links)
        changed_diagram |= after != before
        assert page.evaluate("window.__sameDocument") is True  # swapped by htmx, not reloaded
    assert changed_diagram, "the diagram never changed between steps"
    assert page.get_attribute(".stepper a[aria-current=step]", "data-step") == str(steps[3].number)
    page.screenshot(path=str(artifacts_dir / "lesson-step-4-desktop.png"), full_page=True)

    page.keyboard.press("ArrowLeft")
    page.wait_for_url(re.compile(rf"/lessons/{SLUG}/{steps[2].number}/$"))
    assert page.inner_text("#step-title") == steps[2].title_en
    page.go_back()
    page.wait_for_url(re.compile(rf"/lessons/{SLUG}/{steps[3].number}/$"))

    # Opened directly (a full page), the same step draws the same lit diagram.
    page.goto(f"{asgi_live_server}/lessons/{SLUG}/{steps[3].number}/")
    assert sorted(_lit(page)[0]) == sorted(steps[3].lit_nodes)


def test_phone_layout_in_korean(course, asgi_live_server, browser, artifacts_dir) -> None:
    from netlearn.lessons.models import Step

    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="ko-KR", extra_http_headers={"Accept-Language": "ko"})
    page = context.new_page()
    try:
        page.goto(f"{asgi_live_server}/")
        page.screenshot(path=str(artifacts_dir / "home-phone-ko.png"), full_page=True)
        assert "수업" in page.inner_text("nav.site-nav")
        step = Step.objects.get(lesson__slug=SLUG, number=2)
        page.goto(f"{asgi_live_server}/lessons/{SLUG}/2/")
        assert page.inner_text("#step-title") == step.title_ko
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        page.tap("#step-panel a[rel=next]")
        page.wait_for_url(re.compile(rf"/lessons/{SLUG}/3/$"))
        page.screenshot(path=str(artifacts_dir / "lesson-step-3-phone-ko.png"), full_page=True)
    finally:
        context.close()


def test_step_works_without_javascript(course, asgi_live_server, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{asgi_live_server}/lessons/{SLUG}/1/")
        page.click("#step-panel a[rel=next]")
        page.wait_for_url(re.compile(rf"/lessons/{SLUG}/2/$"))
        assert page.locator("#node-client").count() == 1
    finally:
        context.close()
