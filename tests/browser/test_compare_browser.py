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
