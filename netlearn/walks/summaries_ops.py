"""Summaries of the lab's operational events in the learner's language: what the try-it actions
cause (a backend stopped or slowed, health checks, an active/standby pair trading the virtual
address, the I/O-models comparison), the resolver's cache and retries, and the TLS, HTTP/2 and
HTTP/3 fronts. Kept apart from :mod:`.summaries` (the common walk) so each table stays readable;
``summaries`` merges these into its own by the same rules: a message key from the event's
structured ``detail``, a ``gettext`` source string, the event's own values.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_noop as N_
from django.utils.translation import ngettext

from .fragments import gettext as _

Event = dict[str, Any]


def _role(component: str) -> str:
    from .presenters import _role as role  # one table of role names

    return role(component)


def _ep(endpoint: Any) -> str:
    return f"{endpoint[0]}:{endpoint[1]}" if endpoint else "?"


def _n(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _ms(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


# --- Steps (detail.step) ------------------------------------------------------------------------

def _dns_tcp_retry(e: Event, d: dict[str, Any]) -> str:
    return _("The answer was truncated (TC=1): the browser asks again over TCP, as RFC 7766 requires")


def _h3_attempt(e: Event, d: dict[str, Any]) -> str:
    return _("The browser remembers “Alt-Svc: h3” from an earlier answer, so it tries HTTP/3: QUIC on UDP "
             "port 443 (the lab's %(port)s)") % {"port": d.get("udp_port", "?")}


def _quic_established(e: Event, d: dict[str, Any]) -> str:
    return _("QUIC connection ready after one round trip (%(ms).1f ms): the transport and TLS 1.3 handshakes "
             "happen together, with no separate TCP handshake") % {"ms": _ms(d.get("handshake_ms"))}


def _dns_cname(e: Event, d: dict[str, Any]) -> str:
    return _("Resolver: %(name)s is an alias (CNAME) of %(target)s; it follows the alias") % {
        "name": d.get("from", ""), "target": d.get("to", "")}


def _dns_retry(e: Event, d: dict[str, Any]) -> str:
    if d.get("reason") == "truncated":
        return _("Resolver: %(server)s truncated its answer (TC=1), so it asks again over TCP") % {
            "server": d.get("server", "")}
    return _("Resolver: no answer from %(server)s, so it tries once more") % {"server": d.get("server", "")}


def _ha_kill(e: Event, d: dict[str, Any]) -> str:
    return _("The demo kills the active load balancer")


def _ha_return(e: Event, d: dict[str, Any]) -> str:
    return _("The old active load balancer comes back")


def _queued(e: Event, d: dict[str, Any]) -> str:
    n = _n(d.get("queue_position"))
    return ngettext("Waiting: %(n)d comparison is ahead of this one",
                    "Waiting: %(n)d comparisons are ahead of this one", n) % {"n": n}


def _instance_kill(e: Event, d: dict[str, Any]) -> str:
    return _("The demo kills %(instance)s: watch its heartbeats stop") % {"instance": d.get("instance_id", "")}


def _comparison_start(e: Event, d: dict[str, Any]) -> str:
    return _("The comparison starts")


OPS_STEP_SUMMARIES: dict[str, Callable[[Event, dict[str, Any]], str]] = {
    "dns_tcp_retry": _dns_tcp_retry, "h3_attempt": _h3_attempt, "quic_established": _quic_established,
    "dns_cname": _dns_cname, "dns_retry": _dns_retry, "ha_kill": _ha_kill, "ha_return": _ha_return,
    "queued": _queued, "comparison_start": _comparison_start, "instance_kill": _instance_kill,
}

#: The I/O models, as the comparison names them.
MODELS = {"oio": "OIO", "nio": "NIO", "local": "local", "embedded": "embedded"}


def _model(d: dict[str, Any]) -> str:
    name = str(d.get("model", ""))
    if name == "local":
        return _("in-process transport")
    return MODELS.get(name, name)


def io_model_step(e: Event, d: dict[str, Any]) -> str:
    """The I/O-models comparison's steps: one when a model starts, one with its figures."""
    if "throughput_rps" in d:
        threads = _n(d.get("server_threads"))
        return ngettext("%(model)s: %(rps)s requests/s, p99 %(p99)s ms, %(threads)d server thread",
                        "%(model)s: %(rps)s requests/s, p99 %(p99)s ms, %(threads)d server threads", threads) % {
            "model": _model(d), "rps": d.get("throughput_rps"), "p99": d.get("p99_ms"), "threads": threads}
    if "clients" in d:
        return _("%(model)s: %(clients)s slow clients and %(idle)s idle connections for %(s)s s") % {
            "model": _model(d), "clients": d.get("clients"), "idle": d.get("idle"), "s": d.get("duration_s")}
    return _("%(model)s: the run starts") % {"model": _model(d)}


#: Steps told by a component rather than by a key (their detail has no ``step``).
COMPONENT_STEPS: dict[str, Callable[[Event, dict[str, Any]], str]] = {"iomodels": io_model_step}


# --- Events by kind ------------------------------------------------------------------------------

HA_STATES = {"master": "MASTER", "backup": "BACKUP"}
#: The service registry's own events (``netlearn.lab.registry.server``).
REGISTRY_EVENTS = {
    "registered": N_("The registry registers %(instance)s (zone %(zone)s); its list is now version %(version)s"),
    "cancelled": N_("%(instance)s leaves the registry; its list is now version %(version)s"),
    "evicted": N_("The registry evicts %(instance)s: no heartbeat for %(ms)s ms (version %(version)s)"),
    "instance_killed": N_("%(instance)s is killed: its heartbeats stop, and the registry is not told"),
}


def _control(e: Event, d: dict[str, Any]) -> str:
    role = _role(e["component"])
    action, event = d.get("action"), d.get("event")
    if action == "stopped":
        return (_("%(role)s stops, letting open connections finish") if d.get("drain") else
                _("%(role)s stopped: it accepts no more connections")) % {"role": role}
    if action == "set_latency":
        return _("%(role)s now adds %(ms).0f ms to every answer") % {"role": role, "ms": _ms(d.get("latency_ms"))}
    if action == "set_mode":
        modes = {"error": _("%(role)s answers 500 to everything"),
                 "close": _("%(role)s closes connections in the middle of responses")}
        return modes.get(str(d.get("mode")), _("%(role)s answers normally again")) % {"role": role}
    if event == "state":
        state = HA_STATES.get(str(d.get("state")), str(d.get("state", "")).upper())
        if d.get("cause") == "master_down":
            return _("%(role)s becomes %(state)s: no advertisement for the master-down interval") % {
                "role": role, "state": state}
        if d.get("cause") == "preempted":
            return _("%(role)s becomes %(state)s: it heard priority %(p)s, higher than its own") % {
                "role": role, "state": state, "p": d.get("heard")}
        return _("%(role)s starts as %(state)s") % {"role": role, "state": state}
    if event == "takeover":
        return _("%(role)s takes over the virtual address %(vip)s") % {"role": role, "vip": _ep(e.get("dst"))}
    if event == "release":
        return _("%(role)s releases the virtual address") % {"role": role}
    if event == "killed":
        return _("%(role)s is killed: its advertisements stop") % {"role": role}
    if event in REGISTRY_EVENTS:
        return _(REGISTRY_EVENTS[event]) % {"instance": d.get("instance_id", ""), "zone": d.get("zone", ""),
                                            "ms": d.get("silent_ms", ""), "version": d.get("version", "")}
    if "lease_ms" in d:
        return _("The service registry is listening; a lease lasts %(ms).0f ms") % {"ms": _ms(d.get("lease_ms"))}
    if "max_threads" in d:
        return _("OIO server listening: one thread per connection (at most %(n)s)") % {"n": d["max_threads"]}
    if "selector" in d:
        return _("NIO server listening: 1 boss and %(n)s worker event loops (%(selector)s)") % {
            "n": d.get("workers"), "selector": d.get("selector")}
    if e["component"] == "local":
        return _("In-process transport: queues in memory, no sockets")
    return ""


def _health_check(e: Event, d: dict[str, Any]) -> str:
    if d.get("event") == "renewed":
        return _("Heartbeat from %(instance)s: its lease is renewed") % {"instance": d.get("instance_id", "")}
    if "priority" in d:
        return _("%(role)s hears an advertisement at priority %(p)s") % {"role": _role(e["component"]),
                                                                        "p": d.get("priority")}
    if "backend" not in d:
        return ""
    values = {"backend": _role(str(d.get("backend"))), "status": d.get("status"), "ms": _ms(d.get("rtt_ms")),
              "error": d.get("error") or d.get("status") or "?"}
    text = (_("Health check of %(backend)s: HTTP %(status)s in %(ms).1f ms") if d.get("ok") else
            _("Health check of %(backend)s failed (%(error)s)")) % values
    if d.get("changed"):
        text += " " + (_("→ marked UP") if d.get("healthy") else _("→ marked DOWN"))
    return text


def _error(e: Event, d: dict[str, Any]) -> str:
    role = _role(e["component"])
    if "backend" in d:
        return _("%(role)s could not reach %(backend)s: %(error)s") % {
            "role": role, "backend": _role(str(d["backend"])), "error": d.get("error", "")}
    if "instance_id" in d:
        return _("%(role)s: %(instance)s failed, so it retries another instance") % {
            "role": role, "instance": d["instance_id"]}
    if "error" in d and "status" in d:
        return _("The registry refused a message (%(error)s, HTTP %(status)s)") % d
    if d.get("reason") == "upstream":
        return _("Resolver: a server of %(zone)s failed, so it asks the next one") % {"zone": d.get("zone", "")}
    return ""


def _cache(e: Event, d: dict[str, Any]) -> str:
    values = {"name": d.get("qname", ""), "type": d.get("qtype", ""), "ttl": d.get("remaining_ttl", "?"),
              "version": d.get("version"), "instances": ", ".join(d.get("instances") or [])}
    if "version" in d:
        return _("%(role)s: cache now at version %(version)s: %(instances)s") % {**values,
                                                                                "role": _role(e["component"])}
    if d.get("zone_cut"):
        return _("Resolver's cache knows the servers of %(name)s (%(ttl)s s left): it skips the servers "
                 "above that zone") % values
    if d.get("negative"):
        return _("Resolver's cache: %(name)s %(type)s does not exist (%(ttl)s s left)") % values
    return _("Resolver's cache answers %(name)s %(type)s (%(ttl)s s left)") % values


def handler_of_a_front(e: Event, d: dict[str, Any]) -> str:
    """The TLS, HTTP/2 and HTTP/3 fronts' answers (``handler`` h2 or h3)."""
    values = {"role": _role(e["component"]), "line": f"GET {d.get('target', '')}", "status": d.get("status", ""),
              "sid": d.get("stream_id", "")}
    if d.get("handler") == "h3":
        return _("%(role)s answers %(line)s over HTTP/3 (stream %(sid)s): %(status)s") % values
    if d.get("handler") == "h2":
        return _("%(role)s answers %(line)s over HTTP/2: %(status)s") % values
    return ""


def accept_of_a_front(e: Event, d: dict[str, Any]) -> str:
    """The TLS and QUIC fronts accept after a handshake: say which one."""
    values = {"role": _role(e["component"]), "peer": _ep(e.get("src")), "alpn": d.get("alpn") or "—",
              "version": d.get("tls_version") or "TLS", "sni": d.get("sni") or "—"}
    if e.get("transport") == "udp":
        return _("%(role)s finishes the QUIC handshake with %(peer)s: ALPN %(alpn)s, TLS 1.3 inside QUIC's "
                 "CRYPTO frames") % values
    return _("%(role)s finishes a TLS handshake with %(peer)s: %(version)s, SNI %(sni)s, ALPN %(alpn)s") % values


def choose_an_instance(e: Event, d: dict[str, Any]) -> str:
    """A client-side balancer picks an instance from its cached copy of the registry."""
    return _("%(role)s picks %(instance)s (zone %(zone)s) from its cached list") % {
        "role": _role(e["component"]), "instance": d.get("instance_id", ""), "zone": d.get("zone", "")}


def close_of_quic(e: Event, d: dict[str, Any]) -> str:
    datagrams = d.get("datagrams") or {}
    return _("The browser closes the QUIC connection (CONNECTION_CLOSE): %(sent)s datagrams sent, "
             "%(received)s received; no FIN and no TIME_WAIT, QUIC runs over UDP") % {
        "sent": datagrams.get("client", "?"), "received": datagrams.get("server", "?")}


def forward_of_a_front(e: Event, d: dict[str, Any]) -> str:
    return _("%(role)s decrypted %(target)s (%(proto)s) and forwards it as plain HTTP/1.1 to %(upstream)s") % {
        "role": _role(e["component"]), "target": d.get("target", ""), "proto": d.get("from_protocol", ""),
        "upstream": d.get("upstream", "")}


OPS_KIND_SUMMARIES: dict[str, Callable[[Event, dict[str, Any]], str]] = {
    "control": _control, "health_check": _health_check, "error": _error, "cache": _cache,
}
