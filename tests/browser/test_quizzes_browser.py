"""A learner takes a quiz in real Chromium: keyboard only for a choice question, drag and drop
plus keyboard for an ordering question, typing for a short answer; feedback appears in place."""
from __future__ import annotations

import pytest

from netlearn.core.content import import_document
from tests.quizzes.conftest import BANK

pytestmark = pytest.mark.browser

EXPECTED = ["SYN", "SYN-ACK", "ACK"]


def order_texts(card) -> list[str]:
    return [t.strip() for t in card.locator(".q-order-text").all_inner_texts()]


def test_take_a_quiz_with_keyboard_and_drag(asgi_live_server, page, phone_page, artifacts_dir):
    import_document(BANK, mode="replace")
    page.goto(f"{asgi_live_server}/quizzes/tcp-basics/")

    # 1. Single choice with the keyboard: focus the first choice, Space selects, Tab, Enter submits.
    first = page.locator("#q-tcp-first-segment")
    first.locator("input[type=radio]").first.focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.locator("#q-tcp-first-segment.q-answered").wait_for()
    assert "Correct!" in page.locator("#q-tcp-first-segment .q-verdict").inner_text()

    # 2. Ordering: the script replaced the selects by drag handles and move buttons.
    card = page.locator("#q-tcp-handshake-order")
    assert card.locator("select").first.is_hidden()
    syn = card.locator(".q-order-item", has=page.locator(".q-order-text", has_text="SYN")).filter(
        has_not_text="ACK")
    top = card.locator(".q-order-item").first
    if order_texts(card)[0] != "SYN":
        syn.drag_to(top, target_position={"x": 20, "y": 3})
    assert order_texts(card)[0] == "SYN"
    page.screenshot(path=str(artifacts_dir / "quizzes-ordering-dragged.png"), full_page=False)
    # Finish with the keyboard: Alt+ArrowUp moves the focused item up.
    for i, text in enumerate(EXPECTED):
        current = order_texts(card).index(text)
        item = card.locator(".q-order-item").nth(current)
        item.focus()
        for _ in range(current - i):
            page.keyboard.press("Alt+ArrowUp")
    assert order_texts(card) == EXPECTED
    card.locator("button[type=submit]").click()
    page.locator("#q-tcp-handshake-order.q-answered").wait_for()
    assert "Correct!" in page.locator("#q-tcp-handshake-order .q-verdict").inner_text()

    # 3. Short answer, typed, with different case and punctuation; Enter submits.
    page.locator("#q-time-wait-state input[name=text]").fill("time-wait")
    page.keyboard.press("Enter")
    page.locator("#q-time-wait-state.q-answered").wait_for()
    assert "Correct!" in page.locator("#q-time-wait-state").inner_text()
    page.screenshot(path=str(artifacts_dir / "quizzes-desktop-feedback.png"), full_page=True)

    # The answers are now in the review schedule and on the progress page.
    page.goto(f"{asgi_live_server}/accounts/progress/")
    assert "3" in page.locator(".stat .big-number").first.inner_text()
    page.screenshot(path=str(artifacts_dir / "quizzes-progress-desktop.png"), full_page=True)

    # Phone: the same quiz, a wrong answer, and the feedback.
    phone_page.goto(f"{asgi_live_server}/quizzes/tcp-basics/")
    phone_page.screenshot(path=str(artifacts_dir / "quizzes-phone.png"), full_page=True)
    phone = phone_page.locator("#q-tcp-first-segment")
    phone.locator(".q-choice").nth(1).tap()
    phone.locator("button[type=submit]").tap()
    phone_page.locator("#q-tcp-first-segment.q-answered").wait_for()
    assert "Not quite" in phone_page.locator("#q-tcp-first-segment .q-verdict").inner_text()
    phone_page.locator("#q-tcp-first-segment").screenshot(path=str(artifacts_dir / "quizzes-phone-feedback.png"))


def test_mock_interview_in_the_browser(asgi_live_server, page, artifacts_dir):
    import_document(BANK, mode="replace")
    page.goto(f"{asgi_live_server}/mock/")
    page.get_by_role("button", name="Start the interview").click()
    page.locator(".mock-timer").wait_for()
    page.screenshot(path=str(artifacts_dir / "quizzes-mock.png"), full_page=True)
    for _ in range(12):
        if page.locator("h1", has_text="Interview summary").count():
            break
        page.get_by_role("button", name="Pass").click()
        page.locator(".q-answered").wait_for()
        page.locator(".q-answered .button").first.click()
    assert page.locator(".summary-score").is_visible()
    page.screenshot(path=str(artifacts_dir / "quizzes-mock-summary.png"), full_page=True)
