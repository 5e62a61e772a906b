"""Every kind of "try it" step, run from a real lesson page in real Chromium."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from netlearn.lessons.models import Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KINDS = ("walk", "dns_query", "lb_distribution", "backend_fault", "ha_failover", "io_models", "http_exchange")
RESULT_MARKERS = {
    "walk": ".try-walk-result a.button[href^='/walk/']", "dns_query": ".dns-result", "lb_distribution": ".bar-chart",
    "backend_fault": ".fault-result", "ha_failover": ".ha-result", "io_models": ".io-table",
    "http_exchange": ".http-exchange-result",
}


def test_each_kind_of_try_it_step_runs_from_the_lesson_page(page, asgi_live_server_with_lab, artifacts_dir):
    call_command("seed_content", verbosity=0)
    steps = {}
    for step in Step.objects.select_related("lesson").filter(lesson__published=True).exclude(lab_action=None):
        steps.setdefault(step.lab_action["kind"], step)
    assert set(KINDS) <= set(steps), f"the shipped course lacks a try-it step of kind {set(KINDS) - set(steps)}"
    for kind in KINDS:
        step = steps[kind]
        page.goto(asgi_live_server_with_lab + step.get_absolute_url())
        panel = page.locator(".try-it")
        panel.locator("button[type=submit]").click()
        page.wait_for_selector(f".try-it {RESULT_MARKERS[kind]}, .try-it .error", timeout=60000)
        errors = page.locator(".try-it .error")
        assert errors.count() == 0, f"{kind}: {errors.first.inner_text()}"
        if kind == "http_exchange":  # the real heads are shown, not just a status
            assert "HTTP/1.1" in panel.locator(".http-exchange-result").inner_text()
        panel.scroll_into_view_if_needed()
        panel.screenshot(path=str(artifacts_dir / f"try-it-{kind}.png"))
