"""A walk step's one-line summary in the learner's language.

The lab stays Django-free and keeps its English ``summary`` (the CLI, logs and the JSON export
read it), but every event also carries structured ``detail``: a message key (the walker's
``detail.step``, else the event's kind and the role that emitted it) and the parameters. Here those
keys map to translatable source strings (``gettext_noop``, translated only when chosen) filled
with the event's own values. An event this table does not know keeps the lab's sentence, and the
Korean-page test lists it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_noop as N_
from django.utils.translation import ngettext

from . import summaries_ops as ops
from .fragments import gettext as _

Event = dict[str, Any]

#: Load-balancing algorithms, as the lab names them.
ALGORITHMS = {
    "round_robin": N_("round robin"), "weighted_round_robin": N_("weighted round robin"),
    "least_connections": N_("least connections"), "source_hash": N_("source-IP hash"),
    "ip_hash": N_("source-IP hash"), "peak_ewma": N_("Peak EWMA"), "random": N_("random"),
    "sticky_cookie": N_("the session cookie"),
}

#: What the browser fetched a resource for.
PURPOSES = {"document": N_("the page"), "stylesheet": N_("a stylesheet"), "script": N_("a script"),
            "image": N_("an image")}


def algorithm_name(name: str) -> str:
    source = ALGORITHMS.get(name)
    return _(source) if source else name


def _ep(endpoint: Any) -> str:
    return f"{endpoint[0]}:{endpoint[1]}" if endpoint else "?"


def _role(component: str) -> str:
    from .presenters import _role as role  # one table of role names

    return role(component)


def _purpose(detail: dict[str, Any]) -> str:
    source = PURPOSES.get(detail.get("purpose", ""))
    return _(source) if source else str(detail.get("purpose", ""))


def _first_record(records: list[str] | None) -> str:
    """``www.netlearn.test. 300 IN A 127.0.2.2`` → ``A 127.0.2.2`` (type and value: the useful part)."""
    if not records:
        return ""
    parts = str(records[0]).split()
    if len(parts) >= 5 and parts[3] in ("TXT", "SOA"):  # a value with spaces: its type and its size, not its words
        return f"{parts[3]} ({len(' '.join(parts[4:]))} B)"
    return " ".join(parts[-2:]) if len(parts) >= 2 else str(records[0])


def _ns(records: list[str] | None) -> str:
    return str(records[0]).split()[-1] if records else "?"


def _glue(records: list[str] | None) -> str:
    return str(records[0]).split()[-1] if records else "?"


# --- The walker's own steps (detail.step) -------------------------------------------------------

def _url(e: Event, d: dict[str, Any]) -> str:
    return _("Parse the URL: scheme %(scheme)s, host %(host)s, port %(port)s, path %(path)s") % d


def _browser_cache(e: Event, d: dict[str, Any]) -> str:
    return (_("The browser's and the OS's DNS caches already know the name") if d.get("hit") else
            _("Look in the browser's DNS cache and the OS's: empty (this walk starts with a fresh browser)"))


def _resolved(e: Event, d: dict[str, Any]) -> str:
    return _("The name resolves to %(address)s (TTL %(ttl)s s, found in %(ms).2f ms)") % {
        "address": d.get("address"), "ttl": d.get("ttl"), "ms": float(d.get("dns_ms") or 0)}


def _port_map(e: Event, d: dict[str, Any]) -> str:
    return _("In the lab, port %(url_port)s is served on port %(lab_port)s (ports below 1024 need root)") % d


def _parse_html(e: Event, d: dict[str, Any]) -> str:
    n = len(d.get("subresources") or [])
    return ngettext("Parse the HTML (title “%(title)s”): %(n)d sub-resource found",
                    "Parse the HTML (title “%(title)s”): %(n)d sub-resources found", n) % {
        "title": d.get("title", ""), "n": n}


def _render(e: Event, d: dict[str, Any]) -> str:
    return _("Render: DOM + CSSOM → render tree → layout → paint. The page is on screen.")


def _nxdomain(e: Event, d: dict[str, Any]) -> str:
    return _("NXDOMAIN: %(name)s does not exist, so there is nothing to connect to") % {"name": d.get("name", "")}


def _tls_trust(e: Event, d: dict[str, Any]) -> str:
    return _("The browser will check the server's certificate against its trust store; this walk's browser "
             "trusts only the lab's own CA")


def _tls_established(e: Event, d: dict[str, Any]) -> str:
    return _("TLS established in %(ms).1f ms: %(version)s, %(cipher)s, ALPN %(alpn)s") % {
        "ms": float(d.get("handshake_ms") or 0), "version": d.get("version", ""), "cipher": d.get("cipher", ""),
        "alpn": d.get("alpn") or "—"}


def _alt_svc(e: Event, d: dict[str, Any]) -> str:
    return _("The answer carries “Alt-Svc: %(value)s”: the server also speaks HTTP/3 over UDP") % {
        "value": d.get("alt_svc", "")}


def _multiplexed(e: Event, d: dict[str, Any]) -> str:
    n = int(d.get("count") or 0)
    return ngettext("%(n)d sub-resource went out on the same connection, on its own stream",
                    "All %(n)d sub-resources went out at once on one connection, each on its own stream", n) % {"n": n}


def _round_trips(e: Event, d: dict[str, Any]) -> str:
    n = int(d.get("count") or 0)
    return ngettext("%(n)d round trip from the first packet to the last answer",
                    "%(n)d round trips from the first packet to the last answer", n) % {"n": n}


def _dns_referral(e: Event, d: dict[str, Any]) -> str:
    return _("Resolver: referred to %(zone)s, asks %(server)s next") % {
        "zone": d.get("zone", ""), "server": ", ".join(d.get("servers") or [])}


def _reconnect(e: Event, d: dict[str, Any]) -> str:
    return _("Open a new connection")


STEP_SUMMARIES: dict[str, Callable[[Event, dict[str, Any]], str]] = {
    "url": _url, "browser_cache": _browser_cache, "resolved": _resolved, "port_map": _port_map,
    "parse_html": _parse_html, "render": _render, "nxdomain": _nxdomain, "tls_trust": _tls_trust,
    "tls_established": _tls_established, "alt_svc": _alt_svc, "multiplexed": _multiplexed,
    "round_trips": _round_trips, "dns_referral": _dns_referral,
}


# --- Events of the servers and the browser (kind, emitted by whom) --------------------------------

def _query(e: Event, d: dict[str, Any]) -> str:
    q = {"q": f"{d.get('qname', '')} {d.get('qtype', '')}".strip(), "role": _role(e["component"])}
    if e["component"] == "client":
        return _("Stub resolver asks the recursive resolver for %(q)s (recursion desired)") % q
    transport = (e.get("transport") or "udp").upper()
    return _("%(role)s receives the query %(q)s over %(transport)s") % {**q, "transport": transport}


def _referral(e: Event, d: dict[str, Any]) -> str:
    values = {"role": _role(e["component"]), "server": _role(d.get("server_role", "")),
              "ns": _ns(d.get("authority")), "glue": _glue(d.get("additional"))}
    if e["component"] == "resolver":
        return _("%(server)s refers the resolver to %(ns)s (at %(glue)s)") % values
    return _("%(role)s does not know the name: ask %(ns)s (at %(glue)s)") % values


def _answer(e: Event, d: dict[str, Any]) -> str:
    values = {"role": _role(e["component"]), "server": _role(d.get("server_role", "")),
              "record": _first_record(d.get("answers")) or d.get("rcode", ""), "rcode": d.get("rcode", "")}
    if e["component"] == "client":
        return _("The resolver answers %(rcode)s: %(record)s") % values
    if e["component"] == "resolver":
        return _("Answer from %(server)s: %(record)s") % values
    return _("%(role)s answers: %(record)s") % values


def _accept(e: Event, d: dict[str, Any]) -> str:
    if d.get("terminates_tls"):
        return ops.accept_of_a_front(e, d)
    return _("%(role)s accepts a connection from %(peer)s") % {"role": _role(e["component"]), "peer": _ep(e.get("src"))}


def _connect(e: Event, d: dict[str, Any]) -> str:
    if e["component"] == "client":
        return _("TCP three-way handshake with %(peer)s (%(role)s) in %(ms).2f ms") % {
            "peer": _ep(e.get("dst")), "role": _role(d.get("role", "")), "ms": float(d.get("connect_ms") or 0)}
    return _("%(role)s opens its own connection to %(backend)s (%(peer)s)") % {
        "role": _role(e["component"]), "backend": _role(d.get("backend", "")), "peer": _ep(e.get("dst"))}


def _request(e: Event, d: dict[str, Any]) -> str:
    line = f"{d.get('method', '')} {d.get('target', '')}"
    if e["component"] == "client":
        return (_("%(line)s (%(purpose)s) on the kept-alive connection") if d.get("reused")
                else _("%(line)s (%(purpose)s)")) % {"line": line, "purpose": _purpose(d)}
    if d.get("pool"):
        return _("%(line)s for host %(host)s → pool %(pool)s") % {"line": line, "host": d.get("host", ""),
                                                                  "pool": d.get("pool")}
    return _("%(role)s receives %(line)s") % {"role": _role(e["component"]), "line": line}


def _response(e: Event, d: dict[str, Any]) -> str:
    values = {"status": d.get("status", ""), "target": d.get("target", ""), "backend": _role(d.get("backend", "")),
              "size": d.get("body_len", 0), "role": _role(e["component"])}
    if e["component"] == "client":
        return _("%(status)s for %(target)s from %(backend)s, %(size)s bytes") % values
    return _("%(role)s answers %(status)s (%(size)s bytes)") % values


def _choose(e: Event, d: dict[str, Any]) -> str:
    if "instance_id" in d:
        return ops.choose_an_instance(e, d)
    return _("%(algorithm)s chooses %(backend)s") % {"algorithm": algorithm_name(d.get("algorithm", "")),
                                                     "backend": _role(d.get("chosen", "") or "")}


def _forward(e: Event, d: dict[str, Any]) -> str:
    if "from_protocol" in d:
        return ops.forward_of_a_front(e, d)
    return _("%(role)s forwards the request to %(backend)s") % {"role": _role(e["component"]),
                                                               "backend": _role(d.get("backend", ""))}


def _close(e: Event, d: dict[str, Any]) -> str:
    if "datagrams" in d:
        return ops.close_of_quic(e, d)
    n = int(d.get("requests") or 0)
    if e["component"] == "client":
        return ngettext("The browser closes the connection: FIN, ACK, FIN, ACK (%(n)d request on it); "
                        "its side waits in TIME_WAIT",
                        "The browser closes the connection: FIN, ACK, FIN, ACK (%(n)d requests on it); "
                        "its side waits in TIME_WAIT", n) % {"n": n}
    if "bytes_in" in d:
        return _("%(role)s closes the relayed connection: %(in)s B in, %(out)s B out") % {
            "role": _role(e["component"]), "in": d.get("bytes_in"), "out": d.get("bytes_out")}
    return ngettext("%(role)s closes the connection after %(n)d request",
                    "%(role)s closes the connection after %(n)d requests", n) % {"role": _role(e["component"]), "n": n}


def _handler(e: Event, d: dict[str, Any]) -> str:
    handler = d.get("handler", "")
    if handler in ("h2", "h3"):
        return ops.handler_of_a_front(e, d)
    line = f"{d.get('method', '')} {d.get('target', '')}".strip()
    text = {
        "decoder": N_("%(handler)s: %(bytes)s bytes of request head decoded into %(line)s"),
        "logger": N_("%(handler)s: the request is logged"),
        "router": N_("%(handler)s: the request is routed to its handler"),
        "application": N_("%(handler)s: the application builds the answer"),
        "encoder": N_("%(handler)s: the answer is encoded into bytes"),
    }.get(handler)
    return _(text) % {"handler": handler, "bytes": d.get("bytes", ""), "line": line} if text else ""


def _tls_record(e: Event, d: dict[str, Any]) -> str:
    arrow = "→" if d.get("direction") == "client" else "←"
    if d.get("encrypted"):
        return _("TLS %(arrow)s encrypted record (%(n)s bytes)") % {"arrow": arrow, "n": int(d.get("length") or 0) + 5}
    return _("TLS %(arrow)s %(what)s (%(n)s bytes)") % {"arrow": arrow, "what": d.get("content_type", ""),
                                                         "n": int(d.get("length") or 0) + 5}


def _frame(e: Event, d: dict[str, Any]) -> str:
    proto = "HTTP/3" if d.get("protocol") == "h3" else "HTTP/2"
    arrow = "→" if d.get("direction") == "client" else "←"
    if "stream_id" in d:
        return _("%(proto)s %(arrow)s %(frame)s on stream %(sid)s") % {
            "proto": proto, "arrow": arrow, "frame": d.get("frame", ""), "sid": d["stream_id"]}
    return _("%(proto)s %(arrow)s %(frame)s") % {"proto": proto, "arrow": arrow, "frame": d.get("frame", "")}


def _packet(e: Event, d: dict[str, Any]) -> str:
    arrow = "→" if e["component"] == "client" and d.get("direction", "client") == "client" else "←"
    types = " + ".join(str(p.get("type", "")) for p in d.get("packets", []) or []) or "QUIC"
    return _("QUIC %(arrow)s UDP datagram: %(types)s") % {"arrow": arrow, "types": types}


KIND_SUMMARIES: dict[str, Callable[[Event, dict[str, Any]], str]] = {
    "query": _query, "referral": _referral, "answer": _answer, "accept": _accept, "connect": _connect,
    "request": _request, "response": _response, "choose": _choose, "forward": _forward, "close": _close,
    "handler": _handler, "tls_record": _tls_record, "frame": _frame, "packet": _packet,
    **ops.OPS_KIND_SUMMARIES,
}
STEP_SUMMARIES.update(ops.OPS_STEP_SUMMARIES)


def summary_for(event: Event) -> str:
    """The event's summary in the active language; the lab's own sentence when no key matches."""
    detail = event.get("detail") or {}
    if event["kind"] == "step":
        build = STEP_SUMMARIES.get(detail.get("step", "")) or ops.COMPONENT_STEPS.get(event["component"])
    else:
        build = KIND_SUMMARIES.get(event["kind"])
    if build is None:
        return event.get("summary", "")
    try:
        text = build(event, detail)
    except (KeyError, TypeError, ValueError, IndexError):  # a detail of another shape: keep the lab's words
        return event.get("summary", "")
    return text or event.get("summary", "")


#: Why a balancer chose the backend it chose, per algorithm (the lab's own reason as a fallback).
REASONS = {
    "round_robin": N_("Round robin takes the healthy backends in turn; it was %(chosen)s's turn."),
    "weighted_round_robin": N_("Weighted round robin (smooth, as nginx) gives each healthy backend turns in "
                               "proportion to its weight; this turn went to %(chosen)s."),
    "least_connections": N_("Least connections picks the healthy backend with the fewest active connections: "
                            "%(chosen)s."),
    "source_hash": N_("Source-IP hash maps the client's address to the same healthy backend every time: %(chosen)s."),
    "ip_hash": N_("Source-IP hash maps the client's address to the same healthy backend every time: %(chosen)s."),
    "peak_ewma": N_("Peak EWMA picks the healthy backend with the lowest recent latency weighted by its load: "
                    "%(chosen)s."),
}


def choice_reason(detail: dict[str, Any]) -> str:
    """Why the balancer chose this backend. An L7 pool with session cookies says first what it
    did with the cookie the request carried (``detail.cookie``: the backend it names)."""
    chosen, cookie = _role(str(detail.get("chosen") or "")), detail.get("cookie")
    if detail.get("algorithm") == "sticky_cookie":
        return _("The request carried a session cookie naming %(chosen)s, which is healthy, so it goes back "
                 "there (session stickiness).") % {"chosen": chosen}
    source = REASONS.get(detail.get("algorithm", ""))
    if not source:
        return str(detail.get("reason", ""))
    reason = _(source) % {"chosen": chosen}
    if cookie:
        return _("The session cookie named %(backend)s was ignored: that backend is down or not in this pool.") % {
            "backend": _role(str(cookie))} + " " + reason
    return reason


#: Field values of rebuilt headers that are words rather than numbers (lab.packets writes them).
FIELD_VALUES = {
    "chosen randomly by the kernel (not visible to user space)":
        N_("chosen randomly by the kernel (not visible to user space)"),
    "kept by the kernel": N_("kept by the kernel"),
    "Don't Fragment": N_("Don't Fragment"),
}


def field_value(value: str | None) -> str | None:
    """A header field's value in the learner's language: the wordy ones translated, and
    "20 bytes" style sizes localised; numbers, addresses and flags stay as they are."""
    if not value:
        return value
    source = FIELD_VALUES.get(value)
    if source:
        return _(source)
    if value.endswith(" bytes") or " bytes, " in value:
        return value.replace(" bytes", _(" bytes"))
    return value
