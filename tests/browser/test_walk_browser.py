"""A real walk in real Chromium: packets animate, the inspector shows a DNS answer's bytes,
the keyboard steps back, and the page reads on a phone."""
from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _walk(page, base: str, url: str) -> None:
    page.goto(f"{base}/walk/")
    page.fill("#walk-url", url)
    page.click("form.walk-form button[type=submit]")
    page.wait_for_url(re.compile(r"/walk/[0-9a-f-]{36}/$"))
    page.wait_for_selector("#walk-result .walk-step", timeout=15000)


def test_walk_animates_inspects_and_steps_back_with_the_keyboard(page, asgi_live_server_with_lab, artifacts_dir):
    base = asgi_live_server_with_lab
    _walk(page, base, "http://shop.netlearn.test/")
    # Playback moves a packet along a diagram link.
    page.wait_for_selector("svg.topology circle.packet", state="attached", timeout=10000)
    page.wait_for_selector("svg.topology path.topo-link.lit", state="attached")
    page.screenshot(path=str(artifacts_dir / "walk-playing-desktop.png"), full_page=True)
    # Inspect the resolver's answer to the browser: hex dump and decoded DNS.
    answer = page.locator(".walk-step[data-kind=answer][data-src=resolver][data-dst=client]").first
    answer.locator(".inspect-btn").click()
    page.wait_for_selector("#inspector .hexdump")
    inspector = page.locator("#inspector")
    assert "DNS" in inspector.inner_text()
    assert "127.0.2.1" in inspector.inner_text()
    hex_bytes = page.locator("#inspector .hexdump").first.locator(".hexrow span:not(.offset)").all_inner_texts()
    assert len(hex_bytes) > 12 and all(re.fullmatch(r"[0-9a-f]{2}", b) for b in hex_bytes)
    page.screenshot(path=str(artifacts_dir / "walk-inspector-desktop.png"), full_page=True)
    # Keyboard: ArrowLeft steps back one step.
    current = int(page.locator(".walk-step.current").get_attribute("data-seq"))
    page.locator("body").press("ArrowLeft")
    page.wait_for_function(f"document.querySelector('.walk-step.current').dataset.seq == '{current - 1}'")
    counter = page.locator(".step-counter").inner_text()
    assert counter.startswith(f"{current} /")


def test_refused_url_is_explained_and_nothing_is_walked(page, asgi_live_server_with_lab, artifacts_dir):
    base = asgi_live_server_with_lab
    page.goto(f"{base}/walk/")
    page.fill("#walk-url", "http://169.254.169.254/latest/meta-data/")
    page.click("form.walk-form button[type=submit]")
    page.wait_for_selector(".walk-explanation")
    assert "IP address" in page.locator(".walk-explanation").inner_text()
    page.screenshot(path=str(artifacts_dir / "walk-refused-desktop.png"), full_page=True)


def test_walk_reads_on_a_phone_in_korean(phone_page, asgi_live_server_with_lab, artifacts_dir):
    page = phone_page
    page.context.set_extra_http_headers({"Accept-Language": "ko"})
    _walk(page, asgi_live_server_with_lab, "http://www.netlearn.test/api/hello")
    assert page.locator("html").get_attribute("lang") == "ko"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the page scrolls sideways on a phone ({width}px)"
    page.screenshot(path=str(artifacts_dir / "walk-phone-ko.png"), full_page=True)
