"""XSS: payloads in every field an instructor or a learner can write, rendered in real Chromium.

Each payload would set ``window.__xss`` (and most would open a dialog) if it ran. The test writes
them into a course (lesson, steps, glossary, questions, a quiz) through the real importer, then
as a learner types them into a walk URL, a short answer, the search box and the sign-up form, and
visits every page that shows them. Nothing may run: no dialog, ``window.__xss`` stays undefined,
no CSP violation is reported (that would mean markup got through and only the CSP stopped it),
and no element carries an event-handler attribute or a ``javascript:`` link.
"""
from __future__ import annotations

import re

import pytest

from netlearn.core.content import import_document

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOADS = [
    "<script>window.__xss='script';alert('script')</script>",
    "<img src=x onerror=\"window.__xss='img';alert('img')\">",
    "<svg onload=\"window.__xss='svg';alert('svg')\"><circle r=1 /></svg>",
    "\"><img src=x onerror=window.__xss='dq-breakout'>",
    "'><svg/onload=window.__xss='sq-breakout'>",
    "\" autofocus onfocus=\"window.__xss='attr'",
    "<a href=\"javascript:window.__xss='js-link';alert('js-link')\">html link</a>",
    "[md link](javascript:window.__xss='md-link')",
    "<iframe srcdoc=\"<script>parent.__xss='iframe'</script>\"></iframe>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss='mxss'>",
]
ALL = " ".join(PAYLOADS)
TERM = "XSSTERM"


def _t(text: str, limit: int | None = None) -> dict[str, str]:
    """Both languages; ``limit`` cuts to a column's length (PostgreSQL enforces it, SQLite does not)."""
    text = text[:limit] if limit else text
    return {"en": text, "ko": text}


def _course() -> dict:
    body = f"Text before.\n\n{ALL}\n\n- {PAYLOADS[1]}\n\n`{PAYLOADS[0]}`\n\nSee [[{TERM}]].\n\n" + \
        "\n".join(f"{p}\n" for p in PAYLOADS)
    return {
        "format": "netlearn-content", "version": 1,
        "tracks": [{"slug": "xss-track", "order": 1, "title": _t("Track " + ALL, 200)}],
        "glossary": [{"term": TERM, "title": _t("Term " + ALL, 200), "body": _t(body), "layers": [7]}],
        "lessons": [{"slug": "xss-lesson", "track": "xss-track", "order": 1, "published": True,
                     "title": _t("Lesson " + ALL, 200), "summary": _t("Summary " + ALL),
                     "steps": [{"title": _t("Step " + ALL, 200), "body": _t(body), "layers": [7],
                                "diagram": {"nodes": ["client"], "links": []}, "lab_action": None}]}],
        "questions": [
            {"key": "xss-single", "type": "single", "topics": ["tcp"], "layers": [4], "difficulty": 1,
             "prompt": _t("Prompt " + ALL), "explanation": _t("Explanation " + body),
             "walk_url": "http://shop.netlearn.test/\"><script>window.__xss='walk_url'</script>",
             "choices": [{"text": _t("Right " + ALL, 500), "correct": True},
                         {"text": _t("Wrong " + PAYLOADS[3]), "correct": False}]},
            {"key": "xss-short", "type": "short", "topics": ["tcp"], "layers": [4], "difficulty": 1,
             "prompt": _t("Short " + ALL), "explanation": _t(body), "accepted": [_t("TIME_WAIT")]},
        ],
        "quizzes": [{"slug": "xss-quiz", "title": _t("Quiz " + ALL, 200), "topics": ["tcp"],
                     "questions": ["xss-single", "xss-short"]}],
    }


class Guard:
    """Collects what would betray a script that ran."""

    def __init__(self, page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.csp: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", self._console)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp.append(message.text)

    def check(self, where: str) -> None:
        page = self.page
        page.wait_for_timeout(150)  # let onload/onerror handlers (if any got in) fire
        assert page.evaluate("typeof window.__xss") == "undefined", (where, page.evaluate("window.__xss"))
        assert self.dialogs == [], (where, self.dialogs)
        assert self.csp == [], (where, self.csp)
        handlers = page.evaluate("""() => [...document.querySelectorAll('*')].flatMap(el =>
            [...el.attributes].filter(a => /^on/i.test(a.name) || /^\\s*javascript:/i.test(a.value))
              .map(a => el.tagName + ' ' + a.name + '=' + a.value))""")
        assert handlers == [], (where, handlers)
        assert page.locator("iframe").count() == 0, where


def _visit(page, guard: Guard, url: str, must_show: str = "window.__xss") -> None:
    response = page.goto(url)
    assert response is not None and response.status < 500, (url, response and response.status)
    guard.check(url)
    # The payload is on the page as text: it was escaped (or sanitised), not dropped silently.
    assert must_show in page.content() or must_show in page.inner_text("body"), url


def test_instructor_content_with_script_payloads_never_runs(asgi_live_server, page) -> None:
    import_document(_course(), mode="replace")
    guard = Guard(page)
    base = asgi_live_server
    for path in ("/", "/lessons/", "/lessons/xss-lesson/", "/lessons/xss-lesson/1/", "/glossary/",
                 f"/glossary/{TERM}/", "/quizzes/", "/quizzes/xss-quiz/", "/quizzes/q/xss-single/",
                 "/quizzes/q/xss-short/"):
        _visit(page, guard, base + path, must_show="__xss")
    # The htmx swap of a step (fragment rendering) and the Korean pages too.
    page.goto(base + "/lessons/xss-lesson/1/")
    page.set_extra_http_headers({"Accept-Language": "ko"})
    for path in ("/lessons/xss-lesson/1/", f"/glossary/{TERM}/", "/quizzes/xss-quiz/"):
        _visit(page, guard, base + path, must_show="__xss")
    # Answering shows the explanation and the choices again.
    page.goto(base + "/quizzes/q/xss-single/")
    page.locator("input[type=radio]").first.check()
    page.locator("form button[type=submit]").first.click()
    page.wait_for_selector(".q-answered, .q-verdict")
    guard.check("after answering")


def test_learner_input_with_script_payloads_never_runs(asgi_live_server, page) -> None:
    import_document(_course(), mode="replace")
    guard = Guard(page)
    base = asgi_live_server
    # A walk URL: refused, and the refusal page shows what was typed.
    for payload in (PAYLOADS[0], PAYLOADS[3], "javascript:window.__xss='walk'",
                    "http://shop.netlearn.test/<script>window.__xss='path'</script>"):
        page.goto(base + "/walk/")
        page.fill("#walk-url", payload)
        page.click("form.walk-form button[type=submit]")
        page.wait_for_load_state()
        guard.check(f"walk {payload}")
    # A short answer, shown back in the feedback.
    page.goto(base + "/quizzes/q/xss-short/")
    page.locator("input[name=text]").fill(ALL[:900])
    page.keyboard.press("Enter")
    page.wait_for_selector(".q-answered, .q-verdict")
    guard.check("short answer")
    # Search reflects the query.
    _visit(page, guard, base + "/search/?q=" + re.sub(r"[#&]", "", PAYLOADS[1]), must_show="__xss")
    # A username: the sign-up form refuses it and shows it back.
    page.goto(base + "/accounts/signup/")
    page.fill("input[name=username]", PAYLOADS[3][:150])
    page.fill("input[name=email]", "x@example.com")
    page.fill("input[name=password1]", "a-long-Passw0rd-xss")
    page.fill("input[name=password2]", "a-long-Passw0rd-xss")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()
    guard.check("signup")
    assert page.locator("input[name=username]").input_value() == PAYLOADS[3][:150]
