"""The accessibility gate: axe-core finds no serious or critical violation on the pages a learner
uses, in light and dark mode, after the interactions that change them (answering, running)."""
from __future__ import annotations

import re

import pytest

from tests.browser import axe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: One question of each of the seven types, from the shipped course.
QUESTION_OF_TYPE = {
    "single": "dns-negative-caching", "multiple": "dns-udp-tcp", "true_false": "url-cache-before-dns",
    "ordering": "url-steps-order", "short": "url-https-default-port", "numeric": "url-rtt-first-byte",
    "interview": "url-interview",
}


@pytest.fixture
def course(shipped_course):
    """The shipped course (tests/conftest.py)."""


def answer(page, key: str, kind: str) -> None:
    """Answer a question on its own page the way a learner would, and wait for the verdict."""
    card = page.locator(f"#q-{key}")
    if kind in ("single", "true_false"):
        card.locator("input[type=radio]").first.check()
    elif kind == "multiple":
        card.locator("input[type=checkbox]").first.check()
    elif kind == "short":
        card.locator("input[name=text]").fill("443")
    elif kind == "numeric":
        card.locator("input[name=number]").fill("2")
    elif kind == "interview":
        card.locator("textarea").fill("DNS, then TCP, then TLS, then HTTP.")
        card.locator("button[type=submit]").first.click()
        page.locator(f"#q-{key} input[name=checked]").first.wait_for()
        page.locator(f"#q-{key} input[name=checked]").first.check()
    page.locator(f"#q-{key} button[type=submit]").first.click()
    page.locator(f"#q-{key}.q-answered").wait_for()


def check(page, where: str, results: dict[str, str], **kwargs) -> None:
    """Record what axe finds here; the test fails at the end with every page's findings."""
    found = axe.violations(page, **kwargs)
    results[where] = axe.describe(found) if found else ""


def assert_all_clean(results: dict[str, str]) -> None:
    assert results, "axe checked no page"
    failures = {where: text for where, text in results.items() if text}
    assert not failures, "\n".join(f"axe on {where}:\n{text}" for where, text in failures.items())


@pytest.mark.parametrize("scheme", axe.SCHEMES)
def test_learner_pages_have_no_serious_violations(course, asgi_live_server, browser, scheme):
    context = axe.new_context(browser, color_scheme=scheme)
    page = context.new_page()
    base, results = asgi_live_server, {}
    for path in ("/", "/lessons/what-happens-when-you-type-a-url/2/", "/glossary/", "/search/?q=TLS",
                 "/quizzes/", "/review/"):
        page.goto(base + path)
        check(page, f"{path} ({scheme})", results)
    for kind, key in QUESTION_OF_TYPE.items():
        page.goto(f"{base}/quizzes/q/{key}/")
        check(page, f"{kind} question ({scheme})", results)
        assert page.locator("h1").count() == 1, f"the {kind} question's page has no single <h1>"
        answer(page, key, kind)
        focus = page.evaluate("document.activeElement.closest('.q-card') ? 'card' : document.activeElement.tagName")
        assert focus == "card", f"after answering a {kind} question focus is on {focus}, not the result"
        check(page, f"{kind} question answered ({scheme})", results)
    page.goto(f"{base}/mock/")
    page.locator("form[action$='/mock/start/'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/mock/\d+/$"))
    check(page, f"mock interview ({scheme})", results)
    for path in ("/accounts/progress/", "/review/"):
        page.goto(base + path)
        check(page, f"{path} after answering ({scheme})", results)
    context.close()
    assert_all_clean(results)


def test_mock_timer_counts_down_with_reduced_motion(course, asgi_live_server, browser):
    context = axe.new_context(browser, reduced_motion="reduce")
    page = context.new_page()
    page.goto(f"{asgi_live_server}/mock/")
    page.locator("form[action$='/mock/start/'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/mock/\d+/$"))
    share = page.evaluate("""() => {
        const bar = document.querySelector('.mock-timer-bar').getBoundingClientRect();
        const track = document.querySelector('.mock-timer').getBoundingClientRect();
        return bar.width / track.width; }""")
    assert share > 0.5, f"the timer bar starts {share:.0%} full with reduced motion"
    duration = page.evaluate("getComputedStyle(document.querySelector('.mock-timer-bar')).animationDuration")
    assert duration not in ("0s", ""), "the countdown does not run with reduced motion"
    context.close()
