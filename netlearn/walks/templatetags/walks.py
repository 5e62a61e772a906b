"""Template helpers for lab actions: a translated sentence for each fixed action."""
from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

register = template.Library()

ALGORITHM_NAMES = {
    "round_robin": "round robin", "weighted_round_robin": "weighted round robin",
    "least_connections": "least connections", "source_hash": "source-IP hash", "source_ip_hash": "source-IP hash",
    "peak_ewma": "Peak EWMA",
}


@register.filter
def lab_action_label(spec: Any) -> str:
    if not isinstance(spec, dict):
        return ""
    kind = spec.get("kind")
    if kind == "walk":
        return _("Walk %(url)s through the real lab, step by step.") % {"url": spec.get("url", "")}
    if kind == "dns_query":
        return _("Ask the %(server)s server for %(name)s %(type)s and read its real answer.") % {
            "server": spec.get("server", "resolver"), "name": spec.get("name", ""), "type": spec.get("type", "A")}
    if kind == "lb_distribution":
        return _("Send %(n)s requests through a real %(lb)s balancer using %(algo)s and chart where they went.") % {
            "n": spec.get("requests", 40), "lb": str(spec.get("balancer", "l4")).upper(),
            "algo": ALGORITHM_NAMES.get(spec.get("algorithm", ""), spec.get("algorithm", ""))}
    if kind == "backend_fault":
        fault = {"stop": _("Stop"), "slow": _("Slow down"), "error": _("Break (HTTP 500)")}.get(spec.get("fault"), "")
        return _("%(fault)s backend %(n)s behind a balancer and watch its health checks react.") % {
            "fault": fault, "n": spec.get("backend", 1)}
    if kind == "ha_failover":
        return _("Kill the active node of an active/standby pair and measure the failover.")
    if kind == "io_models":
        return _("Serve the same clients, and many idle connections, with threads (OIO) and with event loops (NIO) and compare.")
    return str(kind)


@register.filter
def percent_of(value: Any, total: Any) -> float:
    try:
        return round(float(value) / float(total) * 100, 1) if float(total) else 0.0
    except (TypeError, ValueError):
        return 0.0


@register.filter
def backend_index(name: Any) -> str:
    """"backend-3" -> "3" (for colour classes); anything else -> "x"."""
    text = str(name or "")
    return text.rsplit("-", 1)[1] if text.startswith("backend-") else "x"
