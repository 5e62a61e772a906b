"""A walk's waterfall as a browser's network panel draws it: one row per DNS lookup, connection
and request, coloured by phase (DNS, connect, TLS, waiting, transfer) on one time axis.

Built from the browser's own steps (their times are on the capture's clock when frames anchor
them): a DNS row from the stub's query to its answer; a connection row from its SYN (connect_ms
long), followed by the TLS handshake when one completes on it; a request row from the request to
the first byte (waiting: server time) and on to the last byte (transfer).
"""
from __future__ import annotations

import math
from html import escape
from typing import Any

from django.template.defaultfilters import floatformat
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_noop as N_

from .fragments import gettext as _
from .fragments import number
from .presenters import StepView, _role

PHASES = {"dns": N_("DNS"), "connect": N_("Connect"), "tls": N_("TLS"), "wait": N_("Waiting"),
          "transfer": N_("Transfer")}


def _nice_step(total: float, ticks: int = 6) -> float:
    raw = max(total, 1e-3) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def waterfall_rows(steps: list[StepView]) -> dict[str, Any]:
    client = [s for s in steps if s.component == "client"]
    rows: list[dict[str, Any]] = []
    query = None
    for s in client:
        d = s.event.get("detail", {})
        if s.kind == "query":
            query = query or s
        elif s.kind == "answer" and query is not None:
            rows.append({"label": f"{_('DNS')} {query.event.get('detail', {}).get('qname', '')}",
                         "segments": [("dns", query.t_ms, s.t_ms)]})
            query = None
        elif s.kind == "connect":
            start = s.t_ms
            end = start + float(d.get("connect_ms") or 0)
            rows.append({"label": _("Connect to %(peer)s") % {"peer": _role(str(d.get("role", "")))},
                         "segments": [("connect", start, end)]})
        elif s.kind == "step" and d.get("step") == "tls_established" and rows:
            conn = next((r for r in reversed(rows) if r["segments"][0][0] == "connect"), None)
            if conn is not None:
                tls_start = max(conn["segments"][-1][2], s.t_ms - float(d.get("handshake_ms") or 0))
                conn["segments"].append(("tls", tls_start, s.t_ms))
    pending: dict[str, StepView] = {}
    for s in client:
        d = s.event.get("detail", {})
        if s.kind == "request":
            pending[d.get("target")] = s
        elif s.kind == "response" and d.get("target") in pending:
            req = pending.pop(d.get("target"))
            first = min(s.t_ms, req.t_ms + float(d.get("ttfb_ms") or 0))
            rows.append({"label": f"{req.event.get('detail', {}).get('method', 'GET')} {d.get('target', '')}",
                         "segments": [("wait", req.t_ms, first), ("transfer", first, max(s.t_ms, first))],
                         "status": d.get("status")})
    total = max([seg[2] for r in rows for seg in r["segments"]] + [0.001])
    for r in rows:
        r["start_ms"] = r["segments"][0][1]
        r["ms"] = round(r["segments"][-1][2] - r["segments"][0][1], 2)
        r["bars"] = [{"phase": p, "name": _(PHASES[p]), "left": round(a / total * 100, 2),
                      "width": max(round((b - a) / total * 100, 2), 0.4), "ms": round(b - a, 2)}
                     for p, a, b in r["segments"]]
    rows.sort(key=lambda r: r["start_ms"])
    step = _nice_step(total)
    ticks = [{"ms": round(t * step, 3), "left": round(t * step / total * 100, 2)}
             for t in range(int(total // step) + 1)]
    return {"rows": rows, "ticks": ticks, "total_ms": round(total, 2),
            "legend": [(p, _(name)) for p, name in PHASES.items()], "ticks_html": ticks_html(ticks),
            "rows_html": rows_html(rows, ticks)}


def ticks_html(ticks: list[dict[str, Any]]) -> SafeString:
    """The time axis's ticks, as ``_timeline.html`` printed them in a loop."""
    return mark_safe("".join(f'<span class="tl-tick" style="left: {number(t["left"])}%">'
                             f'{floatformat(t["ms"], "-2")} ms</span>' for t in ticks))


def rows_html(rows: list[dict[str, Any]], ticks: list[dict[str, Any]]) -> SafeString:
    """The waterfall's rows: built here rather than in ``_timeline.html`` (a row repeats every
    tick's grid line, and each value through the template engine cost more than the row);
    byte for byte what the template's loop printed, every value escaped."""
    grid = "".join(f'<span class="tl-grid" style="left: {number(t["left"])}%"></span>' for t in ticks)
    out = []
    for r in rows:
        label = escape(str(r["label"]))
        bars = []
        for b in r["bars"]:
            name, ms = escape(str(b["name"])), number(b["ms"])
            bars.append(f'<span class="tl-bar tl-{escape(str(b["phase"]))}" style="left: {number(b["left"])}%; '
                        f'width: {number(b["width"])}%" title="{name} {ms} ms"><span class="visually-hidden">'
                        f'{name} {ms} ms</span></span>')
        out.append(f'\n    <li class="tl-row"><span class="tl-label" title="{label}" translate="no">{label}</span>\n'
                   f'      <span class="tl-track">{grid}{"".join(bars)}</span>\n'
                   f'      <span class="tl-ms">{floatformat(r["ms"], 2)} ms</span></li>\n    ')
    return mark_safe("".join(out))
