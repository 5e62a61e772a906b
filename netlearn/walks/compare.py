"""The compare page (/walk/compare/): one click walks a page over four protocols, side by side.

Thin on purpose: the URL is vetted by the lab's own parser (nothing outside the lab is walked),
the lab does the work on its own loop (:func:`netlearn.lab.compare.compare_protocols`), and the
view only scales the rows for the template. Nothing is stored in the database: each comparison
is a fresh, real measurement, and the four walks are ordinary lab walks.

Why the POST answers at once and the page polls: a comparison can take up to
``COMPARE_DEADLINE_SECONDS`` (40 s) with added latency, and a request holds one of the worker's
few pooled threads (``netlearn.core.asgi_handler``) for its whole life, even while an async view
only awaits the lab. Eight slow comparisons held every thread and the worker answered 503 to
everyone. So the POST vets the URL, starts the comparison as a background task on the site's
loop (no thread at all while it waits) and answers a "comparing…" fragment that asks
``/walk/compare/<token>/`` every second (htmx; without JavaScript the page refreshes itself);
each of those requests is short. The result waits in the cache (shared by the workers with
``REDIS_URL``) for ``RESULT_SECONDS``. A learner runs one comparison at a time (asking again
meanwhile shows the one that runs) and a worker ``MAX_RUNNING`` at once: the lab is shared, and
a client holding many comparisons must not crowd out the walks.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from netlearn.core import labstate
from netlearn.core.htmx import HtmxHttpRequest
from netlearn.lab.compare import MAX_ADDED_RTT_MS, compare_protocols
from netlearn.lab.timeouts import wait_for
from netlearn.lab.walker.url import Refusal, parse_lab_url

from . import bridge
from .explanations import explain
from .services import in_thread

log = logging.getLogger("netlearn.walks")

DEFAULT_URL = "https://shop.netlearn.test/"
LATENCIES = (0, 20, 50, 100)
COMPARE_DEADLINE_SECONDS = 40.0
#: How long a finished comparison can still be fetched by its token.
RESULT_SECONDS = 600
#: Comparisons running at once in this worker; one per learner.
MAX_RUNNING = 4
#: How often the "comparing…" fragment asks for the result.
POLL_SECONDS = 1
#: token → learner, for the comparisons this worker is running.
_running: dict[str, str] = {}


def parse_latency(raw: str | None) -> int:
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
        latency = parse_latency(request.POST.get("latency"))
        context = await _start(request, url, latency)
        if "token" in context and not request.htmx:
            return redirect("walks:compare_result", token=context["token"])
    return _page(request, {"url": url, "latency": latency, **context})


async def compare_result(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """The comparison ``token`` started: still running (poll again), its rows, or its error."""
    state = await cache.aget(_key(token))
    if state is None:  # expired, or its worker stopped before storing it: say so where the result goes
        return _page(request, {"url": DEFAULT_URL, "latency": 20, **_error(
            _("This comparison is no longer here"), _("Results are kept for ten minutes: compare again."), 404)})
    context = {"url": state["url"], "latency": state["latency"], **state.get("result", {})}
    if state["state"] == "running":
        context["token"] = token
    return _page(request, context)


def _page(request: HtmxHttpRequest, context: dict[str, Any]) -> HttpResponse:
    """The results fragment for htmx, else the whole page; a pending one polls for its result."""
    fragment = request.htmx and (request.method == "POST" or "token" in context or "ran" in context
                                 or "error" in context)
    template = "walks/_compare_results.html" if fragment else "walks/compare.html"
    status = 200 if "error" not in context else context.pop("status", 400)
    return TemplateResponse(request, template,
                            {"latencies": LATENCIES, "poll_seconds": POLL_SECONDS, **context}, status=status)


def _key(token: str) -> str:
    return f"netlearn:compare:{token}"


async def _learner(request: HttpRequest) -> str:
    user = await request.auser()
    if user.is_authenticated:
        return f"u{user.pk}"
    if not request.session.session_key:
        await request.session.asave()
    return f"s{request.session.session_key}"


def _error(title: str, why: str, status: int) -> dict[str, Any]:
    return {"error": {"title": title, "why": why, "internet": ""}, "status": status}


async def run_comparison(url: str, latency: int, *, lab: Any = None) -> dict[str, Any]:
    """Walk ``url`` over the four protocols and return the template's context, or an ``_error``
    dict. Awaited on the site's loop, so no request thread waits with it: the compare page's
    background task and the live classroom's console (``netlearn.classroom``) both use it."""
    parsed = parse_lab_url(url)
    if isinstance(parsed, Refusal):
        return {"error": explain(parsed.code, parsed.detail), "status": 400}
    lab = lab if lab is not None else labstate.get_lab()
    if lab is None or not lab.is_alive():
        return _error(_("The lab is starting"), _("Try again in a few seconds."), 503)

    run = functools.partial(compare_protocols, url=url, added_rtt_ms=latency)  # picklable: see netlearn.lab.calls
    try:
        rows = await wait_for(asyncio.wrap_future(lab.submit(run)), COMPARE_DEADLINE_SECONDS)
    except (TimeoutError, RuntimeError):
        return _error(_("The comparison took too long"), _("Try again with less added latency."), 504)
    except Exception as exc:
        log.exception("a comparison of %s failed inside the lab", url)
        return _error(_("The comparison failed"), repr(exc)[:200], 502)
    return {**rows_context(rows), "ran": True, "host": parsed.ascii_host, "path": parsed.target}


async def _start(request: HttpRequest, url: str, latency: int) -> dict[str, Any]:
    """Vet the URL and start the comparison in the background; ``{"token": ...}`` or an error."""
    parsed = parse_lab_url(url)
    if isinstance(parsed, Refusal):
        return {"error": explain(parsed.code, parsed.detail), "status": 400}
    lab = labstate.get_lab()
    if lab is None or not lab.is_alive():
        return _error(_("The lab is starting"), _("Try again in a few seconds."), 503)
    learner = await _learner(request)
    earlier = next((token for token, who in _running.items() if who == learner), None)
    if earlier is not None:  # one at a time: show the one that runs (no second walk through the lab)
        return {"token": earlier, "resumed": True}
    if len(_running) >= MAX_RUNNING:
        return _error(_("The lab is busy comparing"), _("Try again in a few seconds."), 429)
    token = uuid.uuid4().hex
    _running[token] = learner
    try:
        await cache.aset(_key(token), {"state": "running", "url": url, "latency": latency},
                         COMPARE_DEADLINE_SECONDS + 60)
    except BaseException:
        _running.pop(token, None)
        raise
    bridge.spawn(_run(token, lab, url, latency, translation.get_language()))
    return {"token": token}


async def _run(token: str, lab: Any, url: str, latency: int, language: str) -> None:
    """The comparison itself, on the site's loop, awaiting the lab without holding a thread.
    ``language``: the learner's, for the explanations written into the result."""
    try:
        with translation.override(language):  # the learner's language, not the task's default
            result = await run_comparison(url, latency, lab=lab)
        await in_thread(cache.set, _key(token), {"state": "done", "url": url, "latency": latency,
                                                 "result": result}, RESULT_SECONDS)
    finally:
        _running.pop(token, None)
