"""Compare mode in real Chromium: one click, four waterfalls, round-trip counts, on a desktop."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compare_mode_shows_four_waterfalls_and_round_trips(page, asgi_live_server_with_lab, artifacts_dir):
    base = asgi_live_server_with_lab
    page.goto(f"{base}/walk/compare/")
    page.select_option("select[name=latency]", "20")
    page.click("form.compare-form button[type=submit]")
    page.wait_for_selector(".compare-row[data-protocol=h3] .wf-row", timeout=40000)
    rows = page.locator(".compare-row")
    assert rows.count() == 4
    counts = {row.get_attribute("data-protocol"): int(row.locator("[data-rtt]").get_attribute("data-rtt"))
              for row in rows.all()}
    assert counts == {"h1": 5, "h1tls": 6, "h2": 4, "h3": 3}
    assert page.locator(".compare-row.fewest").get_attribute("data-protocol") == "h3"
    assert page.locator(".compare-row[data-protocol=h2] .wf-tls").count() == 1
    page.screenshot(path=str(artifacts_dir / "compare-desktop.png"), full_page=True)
    page.locator(".compare-row[data-protocol=h2] details summary").click()
    assert "request" in page.locator(".compare-row[data-protocol=h2] details").inner_text()
    page.screenshot(path=str(artifacts_dir / "compare-trips-open.png"), full_page=True)


def test_a_refused_url_and_a_second_comparison_are_explained_in_place(page, asgi_live_server_with_lab,
                                                                     artifacts_dir) -> None:
    """An error answer (400) carries its explanation: htmx must swap it in, not drop it. Asking
    again while a comparison runs shows that one, which then finishes."""
    base = asgi_live_server_with_lab
    page.goto(f"{base}/walk/compare/")
    page.fill("form.compare-form input[name=url]", "https://example.com/")
    page.click("form.compare-form button[type=submit]")
    page.locator("#compare-results [role=alert]").wait_for(timeout=20000)
    assert "outside the lab" in page.locator("#compare-results").inner_text()
    page.fill("form.compare-form input[name=url]", "https://shop.netlearn.test/")
    page.select_option("select[name=latency]", "100")
    page.click("form.compare-form button[type=submit]")
    page.locator("#compare-results .compare-pending").wait_for(timeout=20000)
    page.screenshot(path=str(artifacts_dir / "compare-pending.png"))
    page.click("form.compare-form button[type=submit]")  # again, while the first still runs
    page.locator("#compare-results .compare-pending", has_text="still running").wait_for(timeout=20000)
    page.screenshot(path=str(artifacts_dir / "compare-still-running.png"))
    page.wait_for_selector(".compare-row[data-protocol=h3] .wf-row", timeout=40000)  # and its result arrives
