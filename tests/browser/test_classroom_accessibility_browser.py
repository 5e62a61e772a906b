"""The accessibility gate on the classroom pages: the instructor's console (a session open, a step
and then a question pushed), the join page and a participant's screen (in the lobby, with the
pushed step, with the question, after answering), in light and dark mode, on a laptop and a phone."""
from __future__ import annotations

import pytest
from django.test import Client

from netlearn.classroom import services
from tests.browser import axe
from tests.classroom.conftest import load_course, make_instructor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 30_000


@pytest.mark.parametrize("scheme", axe.SCHEMES)
def test_classroom_pages_have_no_serious_violations(browser, asgi_live_server, scheme) -> None:
    base, results = asgi_live_server, {}

    def check(page, where: str) -> None:
        found = axe.violations(page)
        results[f"{where} ({scheme})"] = axe.describe(found) if found else ""

    load_course()
    teacher = make_instructor()
    client = Client()
    client.force_login(teacher)
    teach_ctx = axe.new_context(browser, color_scheme=scheme)
    teach_ctx.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}])
    console = teach_ctx.new_page()
    console.goto(f"{base}/teach/")
    check(console, "/teach/")
    room = services.session_open(user=teacher, title="Networking 101")
    console.goto(f"{base}/teach/{room.code}/")
    console.wait_for_selector("#console-answers h2", timeout=WAIT)
    check(console, "console, session open")

    laptop_ctx = axe.new_context(browser, color_scheme=scheme)
    phone_ctx = axe.new_context(browser, color_scheme=scheme, phone=True, locale="ko")
    laptop, phone = laptop_ctx.new_page(), phone_ctx.new_page()
    laptop.goto(f"{base}/join/")
    check(laptop, "/join/")
    for page, name in ((laptop, "Ana"), (phone, "민수")):
        page.goto(f"{base}/join/?code={room.code}")
        page.fill("#join-name", name)
        page.click("form.join-form button[type=submit]")
        page.wait_for_selector("#live-stage[data-kind=lobby]", timeout=WAIT)
    check(laptop, "participant in the lobby")
    check(phone, "participant in the lobby, phone, Korean")

    console.select_option("#push-lesson", "sample-lesson")
    console.fill("#push-number", "2")
    console.click("#push-step-form button[type=submit]")
    for page in (laptop, phone):
        page.wait_for_selector("#live-stage[data-kind=step] .prose", timeout=WAIT)
    check(console, "console, step pushed")
    check(laptop, "participant, pushed step")
    check(phone, "participant, pushed step, phone, Korean")

    console.select_option("#question-key", "tcp-first-segment")
    console.click("#question-form button[type=submit]")
    for page in (laptop, phone):
        page.wait_for_selector("#live-answer-form", timeout=WAIT)
    check(laptop, "participant, question")
    check(phone, "participant, question, phone, Korean")
    laptop.locator("#live-answer-form label.q-choice", has_text="SYN").first.click()
    laptop.click("#live-answer-form button[type=submit]")
    laptop.wait_for_selector("#live-mine .live-mine-answer", timeout=WAIT)
    console.wait_for_selector("#console-answers [data-total='1']", timeout=WAIT)
    check(laptop, "participant, answered")
    check(console, "console, question pushed and answered")
    console.click("form:has(input[value=reveal]) button")
    laptop.wait_for_selector("#live-mine .is-right", timeout=WAIT)
    check(laptop, "participant, answer revealed")
    check(console, "console, answer revealed")
    for ctx in (teach_ctx, laptop_ctx, phone_ctx):
        ctx.close()

    assert len(results) == 14
    failures = {where: text for where, text in results.items() if text}
    assert not failures, "\n".join(f"axe on {where}:\n{text}" for where, text in failures.items())
