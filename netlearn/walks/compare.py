"""The compare page (/walk/compare/): one click walks a page over four protocols, side by side.

Thin on purpose: the URL is vetted by the lab's own parser (nothing outside the lab is walked),
the lab does the work on its own loop (:func:`netlearn.lab.compare.compare_protocols`), and the
view only scales the rows for the template. Nothing is stored: each comparison is a fresh,
real measurement, and the four walks are ordinary lab walks.
"""
from __future__ import annotations

import asyncio
from typing import Any

from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from netlearn.core import labstate
from netlearn.core.htmx import HtmxHttpRequest
from netlearn.lab.compare import MAX_ADDED_RTT_MS, compare_protocols
from netlearn.lab.walker.url import Refusal, parse_lab_url

from .explanations import explain

DEFAULT_URL = "https://shop.netlearn.test/"
LATENCIES = (0, 20, 50, 100)
COMPARE_DEADLINE_SECONDS = 40.0


def _latency(raw: str | None) -> int:
    try:
        value = int(raw or 0)
    except ValueError:
        return 0
    return max(0, min(value, MAX_ADDED_RTT_MS))


def rows_context(rows: list[Any]) -> dict[str, Any]:
    """Share one time axis across the four waterfalls, so bar lengths compare across rows."""
    dicts = [row.as_dict() for row in rows]
    longest = max([r["total_ms"] for r in dicts] + [0.001])
    fewest = min([r["round_trips"] for r in dicts if r["status"] == "done"] or [0])
    for row in dicts:
        for bar in row["bars"]:
            bar["left_pct"] = round(bar["start"] / longest * 100, 2)
            bar["width_pct"] = max(round((bar["end"] - bar["start"]) / longest * 100, 2), 0.6)
        row["scale_pct"] = round(row["total_ms"] / longest * 100, 1)
        row["fewest"] = row["status"] == "done" and row["round_trips"] == fewest
        row["explanation"] = explain(row["code"], {}) if row["status"] != "done" else None
    return {"rows": dicts, "longest_ms": round(longest, 2)}


@require_http_methods(["GET", "POST"])
async def compare_view(request: HtmxHttpRequest) -> HttpResponse:
    url = DEFAULT_URL
    latency = 20
    context: dict[str, Any] = {}
    if request.method == "POST":
        url = (request.POST.get("url") or DEFAULT_URL).strip()
        latency = _latency(request.POST.get("latency"))
        context = await _compare(url, latency)
    template = "walks/_compare_results.html" if request.htmx and request.method == "POST" else "walks/compare.html"
    status = 200 if "error" not in context else context.pop("status", 400)
    return TemplateResponse(request, template, {"url": url, "latency": latency, "latencies": LATENCIES, **context},
                            status=status)


async def _compare(url: str, latency: int) -> dict[str, Any]:
    parsed = parse_lab_url(url)
    if isinstance(parsed, Refusal):
        return {"error": explain(parsed.code, parsed.detail), "status": 400}
    lab = labstate.get_lab()
    if lab is None or not lab.is_alive():
        return {"error": {"title": _("The lab is starting"), "why": _("Try again in a few seconds."), "internet": ""},
                "status": 503}

    async def run(the_lab: Any) -> list[Any]:
        return await compare_protocols(the_lab, url, added_rtt_ms=latency)

    try:
        rows = await asyncio.wait_for(asyncio.wrap_future(lab.submit(run)), COMPARE_DEADLINE_SECONDS)
    except (TimeoutError, RuntimeError):
        return {"error": {"title": _("The comparison took too long"), "why": _("Try again with less added latency."),
                          "internet": ""}, "status": 504}
    return {**rows_context(rows), "ran": True, "host": parsed.ascii_host, "path": parsed.target}
