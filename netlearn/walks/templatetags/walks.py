"""Template helpers for lab actions: a translated sentence for each fixed action."""
from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

register = template.Library()

ALGORITHM_NAMES = {
    "round_robin": "round robin", "weighted_round_robin": "weighted round robin",
    "least_connections": "least connections", "source_hash": "source-IP hash", "source_ip_hash": "source-IP hash",
    "peak_ewma": "Peak EWMA",
}


#: The DNS servers a ``dns_query`` try-it can ask, as a sentence names them.
DNS_SERVERS = {"resolver": _lazy("the recursive resolver"), "root": _lazy("a root server"),
               "tld": _lazy("the TLD server"), "authoritative": _lazy("the authoritative server")}


@register.filter
def lab_action_label(spec: Any) -> str:
    if not isinstance(spec, dict):
        return ""
    kind = spec.get("kind")
    if kind == "walk":
        return _("Walk %(url)s through the real lab, step by step.") % {"url": spec.get("url", "")}
    if kind == "dns_query":
        server = spec.get("server", "resolver")
        return _("Ask %(server)s for %(name)s %(type)s and read its real answer.") % {
            "server": DNS_SERVERS.get(server, server), "name": spec.get("name", ""), "type": spec.get("type", "A")}
    if kind == "lb_distribution":
        return _("Send %(n)s requests through a real %(lb)s balancer using %(algo)s and chart where they went.") % {
            "n": spec.get("requests", 40), "lb": str(spec.get("balancer", "l4")).upper(),
            "algo": ALGORITHM_NAMES.get(spec.get("algorithm", ""), spec.get("algorithm", ""))}
    if kind == "backend_fault":
        faults = {"stop": _("Stop"), "slow": _("Slow down"), "error": _("Break (HTTP 500)")}
        fault = faults.get(str(spec.get("fault")), "")
        return _("%(fault)s backend %(n)s behind a balancer and watch its health checks react.") % {
            "fault": fault, "n": spec.get("backend", 1)}
    if kind == "ha_failover":
        return _("Kill the active node of an active/standby pair and measure the failover.")
    if kind == "io_models":
        return _("Serve the same clients, and many idle connections, with threads (OIO) and with event loops (NIO) "
                 "and compare.")
    if kind == "http_exchange":
        return str(HTTP_SCENARIOS.get(str(spec.get("scenario")), kind))
    return str(kind)


#: What each ``http_exchange`` scenario shows (the action's label on the step).
HTTP_SCENARIOS = {
    "caching": _lazy("Fetch a resource, then revalidate it with its ETag and get a real 304 Not Modified."),
    "cookies": _lazy("Log in: watch Set-Cookie, the cookie sent back, and 401 vs 403."),
    "cors": _lazy("Send a CORS preflight (OPTIONS) and cross-origin requests, and read the Access-Control headers."),
    "status": _lazy("Send requests that get 301, 308, 405 and 404, and read the status lines and Location."),
    "websocket": _lazy("Upgrade a connection to a WebSocket (101) through the L7 balancer and exchange frames."),
}

#: What one scripted request of an ``http_exchange`` shows (``netlearn.lab.http_exchange``).
EXCHANGE_NOTES = {
    "first_fetch": _lazy("First fetch: 200 with the body, an ETag validator and Cache-Control: no-cache."),
    "revalidate": _lazy("Revalidation: If-None-Match carries the ETag; it still matches, so 304 and no body."),
    "stale_validator": _lazy("A validator that no longer matches: the server sends the full 200 again."),
    "no_cookie_401": _lazy("No session cookie: 401 Unauthorized (who are you?)."),
    "login_sets_cookie": _lazy("Login: the response sets the session cookie with Set-Cookie (HttpOnly, SameSite)."),
    "cookie_sent_back": _lazy("The browser sends the cookie back in the Cookie header: now 200."),
    "authenticated_403": _lazy("Logged in but not an admin: 403 Forbidden (known, but not allowed)."),
    "preflight": _lazy("Preflight: OPTIONS asks whether PUT with Content-Type is allowed from this origin."),
    "allowed_origin": _lazy("An allowed origin: the response carries Access-Control-Allow-Origin."),
    "other_origin": _lazy("Another origin: no Access-Control-Allow-Origin, so a browser hides the response."),
    "moved_301": _lazy("301 Moved Permanently with a Location: clients may change POST to GET when following it."),
    "moved_308": _lazy("308 Permanent Redirect: the client must repeat the same method and body."),
    "method_405": _lazy("405 Method Not Allowed: the Allow header lists what this resource accepts."),
    "missing_404": _lazy("404 Not Found: no such resource."),
    "websocket_upgrade": _lazy("GET with Upgrade: websocket; 101 Switching Protocols; then frames both ways."),
}


@register.filter
def exchange_note(note: Any) -> str:
    return str(EXCHANGE_NOTES.get(str(note), ""))


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


@register.simple_tag
def packet_rows_html(view: Any, packets_url: str) -> Any:
    """The packet list's rows (``wireshark.packet_rows_html``)."""
    from netlearn.walks.wireshark import packet_rows_html as rows

    return rows(view, packets_url)


@register.filter
def role_names(components: Any) -> str:
    """["backend-1", "l4"] -> "Backend 1, L4 balancer" in the learner's language (not the lab's ids)."""
    from netlearn.walks.presenters import _role

    return ", ".join(_role(str(c)) for c in components or [])


@register.simple_tag(takes_context=True)
def walk_result_body(context: Any) -> Any:
    """``_result_body.html``, built in Python (``walks.resultpage``)."""
    from netlearn.walks.resultpage import result_body_html

    return result_body_html(context)


@register.simple_tag(takes_context=True)
def walk_more(context: Any) -> Any:
    """``_walk_more.html``, built in Python (``walks.resultpage``)."""
    from netlearn.walks.resultpage import walk_more_html

    return walk_more_html(context)


@register.simple_tag
def walk_timeline(timeline: Any) -> Any:
    """``_timeline.html``, built in Python (``walks.resultpage``)."""
    from netlearn.walks.resultpage import timeline_html

    return timeline_html(timeline)
