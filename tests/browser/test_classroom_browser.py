"""A live class in real Chromium: one instructor and three participants (a laptop, a phone at
390×844, a laptop in Korean). The instructor pushes a step, runs a real walk, asks a question,
watches the live histogram and reveals the answer; a participant drops and rejoins."""
from __future__ import annotations

import pytest
from django.test import Client

from netlearn.classroom import services
from netlearn.classroom.models import LiveAnswer
from tests.classroom.conftest import load_course, make_instructor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 30_000


def _join(page, base: str, code: str, name: str) -> None:
    page.goto(f"{base}/join/?code={code}")
    page.fill("#join-name", name)
    page.click("form.join-form button[type=submit]")
    page.wait_for_url(f"{base}/join/{code.upper()}/")
    page.wait_for_selector("#live-stage[data-kind=lobby]", timeout=WAIT)


def test_a_live_class_with_three_participants(browser, asgi_live_server_with_lab, artifacts_dir) -> None:
    base = asgi_live_server_with_lab
    load_course()
    teacher = make_instructor()
    room = services.session_open(user=teacher, title="Networking 101")
    client = Client()
    client.force_login(teacher)
    teach_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    teach_ctx.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}])
    console = teach_ctx.new_page()
    console.goto(f"{base}/teach/{room.code}/")
    console.wait_for_selector("#console-answers h2", timeout=WAIT)
    assert console.locator(".console-qr svg").count() == 1

    laptop_ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    phone_ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                    has_touch=True)
    korean_ctx = browser.new_context(viewport={"width": 1024, "height": 800}, locale="ko-KR",
                                     extra_http_headers={"Accept-Language": "ko"})
    laptop, phone, korean = laptop_ctx.new_page(), phone_ctx.new_page(), korean_ctx.new_page()
    _join(laptop, base, room.code, "Ana")
    _join(phone, base, room.code.lower(), "Bo (phone)")
    _join(korean, base, room.code, "민수")
    console.wait_for_selector("#console-people li[data-participant]:nth-child(3)", timeout=WAIT)
    assert korean.locator("html").get_attribute("lang") == "ko"

    # 1. A lesson step: every screen switches to it.
    console.select_option("#push-lesson", "sample-lesson")
    console.fill("#push-number", "2")
    console.click("#push-step-form button[type=submit]")
    for page in (laptop, phone, korean):
        page.wait_for_selector("#live-stage[data-kind=step] .prose", timeout=WAIT)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 391
    phone.screenshot(path=str(artifacts_dir / "classroom-step-phone.png"), full_page=True)

    # 2. A real walk: every participant watches the same walk's steps arrive.
    console.fill("#walk-url-live", "http://shop.netlearn.test/")
    console.click("#walk-form button[type=submit]")
    for page in (laptop, phone, korean):
        page.wait_for_selector("#live-stage[data-kind=walk] #walk-result .walk-step", timeout=WAIT)
    walk_ids = {p.locator(".walk-panel").get_attribute("data-walk-id") for p in (laptop, phone, korean)}
    assert len(walk_ids) == 1
    laptop.screenshot(path=str(artifacts_dir / "classroom-walk-laptop.png"), full_page=True)

    # 3. A question: three answers (two right, one wrong) arrive on the console's histogram.
    console.select_option("#question-key", "tcp-first-segment")
    console.click("#question-form button[type=submit]")
    for page in (laptop, phone, korean):
        page.wait_for_selector("#live-answer-form", timeout=WAIT)
    assert korean.locator("#live-answer-form button[type=submit]").inner_text() == "답 보내기"
    korean.screenshot(path=str(artifacts_dir / "classroom-question-ko.png"), full_page=True)
    for page, choice in ((laptop, "SYN"), (phone, "SYN"), (korean, "ACK")):
        page.locator("#live-answer-form label.q-choice", has_text=choice).first.click()
        page.click("#live-answer-form button[type=submit]")
        page.wait_for_selector("#live-mine .live-mine-answer", timeout=WAIT)
    console.wait_for_selector("#console-answers [data-total='3']", timeout=WAIT)
    bars = console.locator("#console-answers .live-bar-count").evaluate_all("els => els.map(e => e.dataset.count)")
    assert bars == ["2", "1", "0"]
    console.screenshot(path=str(artifacts_dir / "classroom-console-histogram.png"), full_page=True)

    # 4. The phone drops (the tab is gone) and comes back: same place, answer kept, nothing doubled.
    phone.close()
    phone = phone_ctx.new_page()
    phone.goto(f"{base}/join/{room.code}/")
    phone.wait_for_selector("#live-stage[data-kind=question] #live-mine .live-mine-answer", timeout=WAIT)
    assert "SYN" in phone.locator("#live-mine").inner_text()
    assert phone.locator("#live-answer-form").count() == 0
    assert LiveAnswer.objects.filter(run__session=room).count() == 3

    # 5. Reveal: the answer and its explanation on every screen, each learner's own verdict.
    console.click("form:has(input[value=reveal]) button")
    for page in (laptop, phone, korean):
        page.wait_for_selector("#live-stage[data-kind=question] .live-question[data-state=revealed] .q-explanation",
                               timeout=WAIT)
        page.wait_for_selector("#live-mine .is-right, #live-mine .is-picked-wrong", timeout=WAIT)
    assert phone.locator("#live-mine .is-right").count() == 1
    assert korean.locator("#live-mine .is-picked-wrong").count() == 1
    assert "SYN" in laptop.locator(".q-result-choices .is-right").inner_text()
    phone.screenshot(path=str(artifacts_dir / "classroom-reveal-phone.png"), full_page=True)
    korean.screenshot(path=str(artifacts_dir / "classroom-reveal-ko.png"), full_page=True)
    console.screenshot(path=str(artifacts_dir / "classroom-console-reveal.png"), full_page=True)
    for ctx in (teach_ctx, laptop_ctx, phone_ctx, korean_ctx):
        ctx.close()
