"""Turn a walk's raw events into what the page shows: steps, links to animate, the layer
inspector and the waterfall. Pure functions over the stored event dicts, so a live walk and a
replayed one render identically.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_noop

from netlearn.core.diagram import LINK_IDS as KNOWN_LINKS
from netlearn.lab import packets
from netlearn.lab.events import Kind

from . import summaries
from .fragments import gettext as _

CATEGORY_BY_KIND = {
    Kind.QUERY: "dns", Kind.REFERRAL: "dns", Kind.ANSWER: "dns", Kind.CACHE: "dns",
    Kind.CONNECT: "tcp", Kind.ACCEPT: "tcp", Kind.CLOSE: "tcp",
    Kind.REQUEST: "http", Kind.RESPONSE: "http", Kind.FORWARD: "lb", Kind.CHOOSE: "lb", Kind.HEALTH_CHECK: "lb",
    Kind.HANDLER: "server", Kind.ERROR: "error", Kind.CONTROL: "lab", Kind.STEP: "browser",
    Kind.TLS_RECORD: "tls", Kind.FRAME: "http", Kind.PACKET: "quic",
}

LAYER_NAMES = {7: "Application", 6: "Presentation", 5: "Session", 4: "Transport", 3: "Network", 2: "Data link",
               1: "Physical"}


@dataclass
class StepView:
    seq: int
    event: dict[str, Any]
    kind: str
    layer: int
    component: str
    category: str
    title: str
    summary: str
    t_ms: float
    src_node: str | None
    dst_node: str | None
    link: str | None
    direction: str  # "fwd" | "back" | ""
    is_error: bool
    has_bytes: bool
    layers: list[dict[str, Any]] = field(default_factory=list)
    phase: str = ""
    #: Set on the first step of each phase, so the list can show a heading there.
    phase_start: bool = False

    @property
    def dom_id(self) -> str:
        return f"step-{self.seq}"


def node_for(endpoint: list | None, topology: dict[str, str]) -> str | None:
    if not endpoint:
        return None
    return topology.get(endpoint[0])


def link_for(src: str | None, dst: str | None) -> tuple[str | None, str]:
    if not src or not dst or src == dst:
        return None, ""
    if f"{src}-{dst}" in KNOWN_LINKS:
        return f"{src}-{dst}", "fwd"
    if f"{dst}-{src}" in KNOWN_LINKS:
        return f"{dst}-{src}", "back"
    return None, ""


def build_steps(events: list[dict[str, Any]], topology: dict[str, str]) -> list[StepView]:
    """Every event as a step, in time order; ``t_ms`` relative to the walk's first event."""
    if not events:
        return []
    events = sorted(events, key=lambda e: e["ts"])
    t0 = events[0]["ts"]
    steps = []
    phase = ""
    for seq, event in enumerate(events):
        step = step_view(event, topology, seq=seq, t0=t0)
        step.phase = next_phase(phase, step)
        step.phase_start = step.phase != phase
        phase = step.phase
        steps.append(step)
    return steps


#: The chapters of a walk, in order. A walk only moves forward through them, so a late DNS
#: event (a server's own close) stays in the chapter where it happened rather than jumping back.
PHASES = ("url", "dns", "connect", "request", "subresources", "render", "close")


#: Source strings, translated only when chosen: a walk has ~70 steps, and building every
#: translated table for each of them was most of the time spent rendering a walk.
PHASE_TITLES = {
    "url": gettext_noop("1 · The URL and the caches"), "dns": gettext_noop("2 · DNS: root → TLD → authoritative"),
    "connect": gettext_noop("3 · TCP to the virtual IP, the balancer chooses"),
    "request": gettext_noop("4 · HTTP request and response"),
    "subresources": gettext_noop("5 · Sub-resources on the same connection"), "render": gettext_noop("6 · Render"),
    "close": gettext_noop("7 · Close the connection"),
}


def phase_title(phase: str) -> str:
    title = PHASE_TITLES.get(phase)
    return _(title) if title else phase


#: The chapter a browser step opens, by the walker's step name.
PHASE_OF_STEP = {
    "url": "url", "browser_cache": "url", "refused": "url", "resolved": "dns", "nxdomain": "dns",
    "dns_failed": "dns", "port_map": "connect", "parse_html": "subresources", "render": "render",
}


def next_phase(current: str, step: StepView) -> str:
    detail = step.event.get("detail", {})
    candidate = PHASE_OF_STEP.get(detail.get("step", ""))
    if candidate is None:
        if step.category == "dns":
            candidate = "dns"
        elif step.kind in (Kind.CONNECT, Kind.ACCEPT, Kind.CHOOSE, Kind.TLS_RECORD, Kind.PACKET) and current in (
                "", "url", "dns"):
            candidate = "connect"
        elif step.kind in (Kind.REQUEST, Kind.RESPONSE, Kind.HANDLER, Kind.FRAME) and current in (
                "", "url", "dns", "connect"):
            candidate = "request"
        elif step.kind == Kind.CLOSE and step.component == "client":
            candidate = "close"
        else:
            candidate = current or "url"
    if current and PHASES.index(candidate) < PHASES.index(current):
        return current
    return candidate


def step_view(event: dict[str, Any], topology: dict[str, str], *, seq: int, t0: float) -> StepView:
    src_node = node_for(event.get("src"), topology)
    dst_node = node_for(event.get("dst"), topology)
    link, direction = link_for(src_node, dst_node)
    kind = event["kind"]
    return StepView(
        seq=event.get("seq", seq), event=event, kind=kind, layer=event["layer"], component=event["component"],
        category=CATEGORY_BY_KIND.get(kind, "lab"), title=title_for(event), summary=summaries.summary_for(event),
        t_ms=round((event["ts"] - t0) * 1000, 3), src_node=src_node, dst_node=dst_node, link=link,
        direction=direction, is_error=kind == Kind.ERROR or event.get("detail", {}).get("step") in ERROR_STEPS,
        has_bytes=bool(event.get("data_hex")),
    )


ERROR_STEPS = {"refused", "nxdomain", "dns_failed", "connection_failed", "server_error", "no_address", "cert_failed"}


BROWSER_STEP_TITLES = {
    "url": gettext_noop("Parse the URL"), "browser_cache": gettext_noop("Check the browser and OS caches"),
    "resolved": gettext_noop("The name is resolved"), "port_map": gettext_noop("Map the port to the lab's port"),
    "parse_html": gettext_noop("Parse the HTML, find sub-resources"), "render": gettext_noop("Render the page"),
    "refused": gettext_noop("The lab does not go there"), "nxdomain": gettext_noop("NXDOMAIN: no such name"),
    "dns_failed": gettext_noop("DNS failed"), "connection_failed": gettext_noop("The connection failed"),
    "server_error": gettext_noop("The server side failed"), "reconnect": gettext_noop("Open a new connection"),
    "skip_subresource": gettext_noop("Skip a resource from another origin"),
    "dns_tcp_retry": gettext_noop("Truncated answer: retry over TCP"),
    "no_address": gettext_noop("No address in the answer"),
    "tls_trust": gettext_noop("Which certificates does the browser trust?"),
    "tls_established": gettext_noop("TLS 1.3 handshake complete"), "cert_failed": gettext_noop("Certificate rejected"),
    "alt_svc": gettext_noop("Alt-Svc: the server offers HTTP/3"),
    "multiplexed": gettext_noop("Requests multiplexed on one connection"),
    "h3_attempt": gettext_noop("Try HTTP/3 over QUIC"), "quic_established": gettext_noop("QUIC connection ready"),
    "round_trips": gettext_noop("Count the round trips"),
}
ROLE_EVENT_TITLES = {
    "connect": gettext_noop("%(role)s opens a TCP connection"),
    "accept": gettext_noop("%(role)s accepts a TCP connection"),
    "close": gettext_noop("%(role)s: connection closed"), "request": gettext_noop("%(role)s: HTTP request"),
    "response": gettext_noop("%(role)s: HTTP response"), "forward": gettext_noop("%(role)s forwards the bytes"),
    "choose": gettext_noop("%(role)s chooses a backend"), "health_check": gettext_noop("%(role)s: health check"),
    "error": gettext_noop("%(role)s: error"), "control": gettext_noop("%(role)s: control"),
}


def title_for(event: dict[str, Any]) -> str:
    """A short localised title; the lab's own English sentence stays as the detail line."""
    kind, component, detail = event["kind"], event["component"], event.get("detail", {})
    step = detail.get("step")
    if kind == Kind.STEP and component != "client":
        return _("%(role)s: next move") % {"role": _role(component)}
    if kind == Kind.STEP:
        return _(BROWSER_STEP_TITLES.get(step, gettext_noop("Browser step")))
    if kind == Kind.TLS_RECORD:
        direction = _("browser → server") if detail.get("direction") == "client" else _("server → browser")
        if detail.get("encrypted"):
            return _("TLS record, encrypted (%(dir)s)") % {"dir": direction}
        names = " + ".join(m.get("message", "") for m in detail.get("messages", [])) or detail.get("content_type", "")
        return _("TLS %(what)s (%(dir)s)") % {"what": names, "dir": direction}
    if kind == Kind.FRAME:
        return _("%(proto)s frame: %(frame)s") % {"proto": "HTTP/3" if detail.get("protocol") == "h3" else "HTTP/2",
                                                   "frame": detail.get("frame", "")}
    if kind == Kind.PACKET:
        types = " + ".join(p.get("type", "") for p in detail.get("packets", [])) or "QUIC"
        return _("QUIC datagram: %(types)s") % {"types": types}
    role = _role(component)
    if kind == Kind.QUERY:
        if component == "client":
            return _("Stub resolver → recursive resolver: %(q)s?") % {"q": _q(detail)}
        if component == "resolver" and detail.get("server_role") not in (None, "", "resolver"):
            return _("Resolver → %(server)s server: %(q)s?") % {"server": _role(detail.get("server_role", "")),
                                                               "q": _q(detail)}
        return _("%(role)s server receives the query %(q)s") % {"role": role, "q": _q(detail)}
    if kind == Kind.REFERRAL:
        return _("%(role)s: referral to the next zone") % {"role": role}
    if kind == Kind.ANSWER:
        return _("%(role)s: answer (%(rcode)s)") % {"role": role, "rcode": detail.get("rcode", "")}
    if kind == Kind.CACHE:
        return _("Resolver cache: %(q)s") % {"q": _q(detail)}
    if kind == Kind.HANDLER:
        return _("%(role)s pipeline: %(handler)s") % {"role": role, "handler": detail.get("handler", "")}
    title = ROLE_EVENT_TITLES.get(kind)
    return _(title) % {"role": role} if title else kind


def _q(detail: dict[str, Any]) -> str:
    return f"{detail.get('qname', '')} {detail.get('qtype', '')}".strip()


ROLE_NAMES = {
    "client": gettext_noop("Browser"), "resolver": gettext_noop("Resolver"), "root": gettext_noop("Root"),
    "tld": gettext_noop("TLD"), "authoritative": gettext_noop("Authoritative"), "l4": gettext_noop("L4 balancer"),
    "l7": gettext_noop("L7 balancer"), "lab": gettext_noop("Lab"),
    "tls-front": gettext_noop("TLS front (in front of the L7)"), "quic-l4": gettext_noop("HTTP/3 front (shop)"),
    "quic-l7": gettext_noop("HTTP/3 front (www)"),
    "lb-active": gettext_noop("Active balancer"), "lb-standby": gettext_noop("Standby balancer"),
    "availability": gettext_noop("The demo"), "iomodels": gettext_noop("I/O models comparison"),
    "oio": gettext_noop("OIO server"), "nio": gettext_noop("NIO server"),
    "local": gettext_noop("In-process transport"), "ft-client": gettext_noop("Fault-tolerant client"),
    "registry": gettext_noop("Registry"),
}


def _role(component: str) -> str:
    if component.startswith("backend-"):
        return _("Backend %(n)s") % {"n": component.split("-", 1)[1]}
    name = ROLE_NAMES.get(component)
    return _(name) if name else component


def inspector_layers(event: dict[str, Any], frames: list[dict[str, Any]] | None = None,
                     earlier: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The OSI stack 7 → 1 for one event: what each layer adds, from the real values.

    ``frames``: the walk's frames this step caused (``None`` for a walk stored without frames).
    Layers 4 → 2 then come straight from the first frame's bytes (captured, or rebuilt and said
    so); ``earlier`` frames of its conversation give Wireshark's relative sequence numbers."""
    payload = bytes.fromhex(event.get("data_hex", ""))
    src, dst, transport = event.get("src"), event.get("dst"), event.get("transport")
    kind = event["kind"]
    is_dns = event["component"] in ("root", "tld", "authoritative", "resolver") or kind in (
        Kind.QUERY, Kind.ANSWER, Kind.REFERRAL)
    layers: list[dict[str, Any]] = []
    if kind in (Kind.TLS_RECORD, Kind.FRAME, Kind.PACKET) and payload:
        return _modern_layers(event, payload) + (_frame_layers(frames[0], earlier) if frames else [])
    if payload:
        fields = packets.dns_fields(payload) if is_dns else packets.http_fields(payload)
        text = packets.decode_dns(payload) if is_dns else payload.decode("latin-1")
        layers.append(_layer(7, "DNS" if is_dns else "HTTP/1.1", payload, fields, text=text,
                             truncated=event.get("data_len", 0) > len(payload), total=event.get("data_len", 0)))
    else:
        layers.append({"layer": 7, "name": _(LAYER_NAMES[7]), "protocol": "—",
                       "note": _("No application bytes in this step.")})
    layers.append({"layer": 6, "name": _(LAYER_NAMES[6]), "protocol": "—",
                   "note": _("Plain text: no TLS here. With HTTPS, TLS would encrypt the layer above.")})
    layers.append({"layer": 5, "name": _(LAYER_NAMES[5]), "protocol": "—",
                   "note": _("No separate session protocol: the TCP connection (or the DNS ID) ties messages "
                             "together.")})
    if frames:
        layers += _frame_layers(frames[0], earlier)
    elif frames is not None or not payload:  # the walk has frames, none of them this step's; or no bytes at all
        for n in (4, 3, 2):
            layers.append({"layer": n, "name": _(LAYER_NAMES[n]), "protocol": "—",
                           "note": _("No packet of its own: this step happened inside a program. The packets "
                                     "around it are in the steps before and after.") if frames is not None
                           else _("This step did not cross the network.")})
    elif src and dst and transport in ("udp", "tcp") and _ipv4(src[0]) and _ipv4(dst[0]):
        # A walk stored before capture existed: rebuild from the event's real values.
        header = (packets.udp_header((src[0], src[1]), (dst[0], dst[1]), payload) if transport == "udp"
                  else packets.tcp_header((src[0], src[1]), (dst[0], dst[1]), payload))
        layers.append(_header_layer(header))
        ip = packets.ipv4_header(src[0], dst[0], 17 if transport == "udp" else 6, len(header.data) + len(payload))
        layers.append(_header_layer(ip))
        layers.append(_header_layer(packets.ethernet_header()))
    else:
        for n in (4, 3, 2):
            layers.append({"layer": n, "name": _(LAYER_NAMES[n]), "protocol": "—",
                           "note": _("This step did not cross the network.")})
    layers.append({"layer": 1, "name": _(LAYER_NAMES[1]), "protocol": "loopback",
                   "note": _("On loopback the bits never reach a wire: the kernel copies the frame in memory. "
                             "On a LAN this is where they become electrical or optical signals.")})
    return layers


def _frame_layers(frame: dict[str, Any], earlier: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    from netlearn.lab.capture.dissect import Conversation, dissect

    data = bytes.fromhex(frame["hex"])
    unknown = frozenset(frame.get("unknown", ()))
    conversation = Conversation()
    for before in earlier or []:
        dissect(bytes.fromhex(before["hex"]), conversation=conversation, unknown=unknown)
    result = dissect(data, app=frame.get("app"), conversation=conversation, unknown=unknown)
    captured = bool(frame.get("captured"))
    layers = []
    for layer in result.layers:
        if layer.layer not in (2, 3, 4) or layer.short == "QUIC":
            continue
        header = data[layer.start:layer.end]
        fields = [packets.Field(node.name, node.start - layer.start, node.end - layer.start,
                                node.value + (" — " + _("unknown: user space cannot see it") if node.unknown else ""))
                  for node in layer.fields if node.end <= layer.end]
        shown = _layer(layer.layer, "Ethernet II" if layer.short == "Ethernet" else layer.short, header, fields)
        shown["observed"] = captured
        shown["frame_no"] = frame.get("no")
        if captured:
            shown["note"] = _("Captured on lo: frame %(no)s, exactly as the kernel sent it.") % {"no": frame.get("no")}
        else:
            shown["reconstructed"] = True
            shown["note"] = _("Rebuilt from real values (addresses, ports, lengths, payload): capture needs "
                              "CAP_NET_RAW. Values marked unknown are not the kernel's.")
        layers.append(shown)
    return layers[::-1]  # the inspector lists the stack top down: 4, 3, 2


def _modern_layers(event: dict[str, Any], payload: bytes) -> list[dict[str, Any]]:
    """TLS records, HTTP/2 frames and QUIC datagrams: what each layer holds, from the real bytes.

    TLS sits between TCP and HTTP: TCP carries records, records carry (encrypted) HTTP. QUIC
    moves TLS inside the transport and runs over UDP, so its datagrams are layer 4 here."""
    detail, kind = event.get("detail", {}), event["kind"]
    total = event.get("data_len", 0)
    rows = packets.hexdump_rows(payload, [])
    layers: list[dict[str, Any]] = []
    if kind == Kind.FRAME:
        fields = [{"name": k, "value": str(detail[k]), "index": i} for i, k in enumerate(
            ("frame", "stream_id", "flags", "length", "hpack_bytes", "plain_bytes")) if k in detail]
        headers = "\n".join(f"{k}: {v}" for k, v in detail.get("headers", []))
        layers.append({"layer": 7, "name": _(LAYER_NAMES[7]), "protocol": "HTTP/2", "length": len(payload),
                       "fields": fields, "rows": rows, "observed": True, "text": headers or None,
                       "note": _("A 9-byte frame header (length, type, flags, stream) and its payload. Headers are "
                                 "HPACK-compressed: the decoded list is shown as text.")})
        layers.append({"layer": 6, "name": _(LAYER_NAMES[6]), "protocol": "TLS 1.3",
                       "note": _("These bytes travelled encrypted inside TLS records (see the records around this "
                                 "step): only the two ends can read them.")})
    elif kind == Kind.TLS_RECORD:
        layers.append({"layer": 7, "name": _(LAYER_NAMES[7]), "protocol": "—" if not detail.get("encrypted") else "?",
                       "note": _("Inside an encrypted record: HTTP, or the rest of the handshake. Nobody on the path "
                                 "can tell which.") if detail.get("encrypted") else
                       _("Handshake messages: no HTTP yet.")})
        fields = [{"name": _("content type"), "value": detail.get("content_type", ""), "index": 0},
                  {"name": _("record version"), "value": detail.get("record_version", ""), "index": 1},
                  {"name": _("length"), "value": str(detail.get("length", "")), "index": 2}]
        for message in detail.get("messages", []):
            for key in ("message", "sni", "alpn", "cipher_suite", "selected_version", "key_share_group",
                        "supported_versions", "supported_groups", "key_shares", "cipher_suites"):
                if message.get(key):
                    fields.append({"name": key, "value": str(message[key]), "index": len(fields)})
        layers.append({"layer": 6, "name": _(LAYER_NAMES[6]), "protocol": "TLS record", "length": len(payload),
                       "fields": fields, "rows": rows, "observed": True, "truncated": total > len(payload),
                       "total": total,
                       "note": _("TLS sits between TCP and HTTP: a 5-byte header (type, version, length), then the "
                                 "fragment. From ServerHello on, TLS 1.3 encrypts everything and labels each record "
                                 "application_data; the real type is inside.")})
    else:
        fields = [{"name": _("packet"), "value": f"{p.get('type')} #{p.get('number')}, {p.get('length')} B: "
                                               + ", ".join(str(f) for f in p.get("frames", [])), "index": i}
                  for i, p in enumerate(detail.get("packets", []))]
        fields.append({"name": _("padding"), "value": f"{detail.get('padding', 0)} B", "index": len(fields)})
        layers.append({"layer": 7, "name": _(LAYER_NAMES[7]), "protocol": "HTTP/3",
                       "note": _("HTTP/3 frames ride in QUIC STREAM frames, encrypted like everything else.")})
        layers.append({"layer": 6, "name": _(LAYER_NAMES[6]), "protocol": "TLS 1.3 (inside QUIC)",
                       "note": _("QUIC carries the TLS handshake in CRYPTO frames and encrypts its own packets: "
                                 "there are no TLS records.")})
        layers.append({"layer": 4, "name": _(LAYER_NAMES[4]), "protocol": "QUIC over UDP", "length": len(payload),
                       "fields": fields, "rows": rows, "observed": True, "truncated": total > len(payload),
                       "total": total,
                       "note": _("One UDP datagram; Initial and Handshake packets may be coalesced into it. A "
                                 "client's first datagram is padded to at least 1200 bytes.")})
    return layers


def _ipv4(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv4Address)
    except ValueError:
        return False


def _layer(n: int, protocol: str, data: bytes, fields: list[packets.Field], **extra: Any) -> dict[str, Any]:
    return {"layer": n, "name": _(LAYER_NAMES[n]), "protocol": protocol, "length": len(data),
            "fields": [{"name": _(f.name), "value": summaries.field_value(f.value), "index": i}
                       for i, f in enumerate(fields)],
            "rows": packets.hexdump_rows(data, fields), "observed": True, **extra}


def _header_layer(header: packets.Header) -> dict[str, Any]:
    layer = _layer(header.layer, header.protocol, header.data, header.fields)
    layer["observed"] = header.observed
    layer["reconstructed"] = True
    layer["note"] = _(header.note) if header.note else ""
    return layer


def waterfall(steps: list[StepView]) -> list[dict[str, Any]]:
    """Bars like a browser's network panel, from the client's own events."""
    bars: list[dict[str, Any]] = []
    client = [s for s in steps if s.component == "client"]
    queries = [s for s in client if s.kind == Kind.QUERY]
    answers = [s for s in client if s.kind == Kind.ANSWER]
    if queries and answers:
        bars.append({"label": _("DNS lookup"), "start": queries[0].t_ms, "end": answers[-1].t_ms, "kind": "dns"})
    for s in client:
        if s.kind == Kind.CONNECT:
            connect_ms = float(s.event.get("detail", {}).get("connect_ms", 0))
            if s.event.get("ts") != s.event.get("ts_emitted", s.event.get("ts")):  # placed at its SYN
                start, end = s.t_ms, s.t_ms + connect_ms
            else:  # reported when connect() returned
                start, end = max(0.0, s.t_ms - connect_ms), s.t_ms
            bars.append({"label": _("TCP connect"), "start": start, "end": end, "kind": "tcp"})
    pending: dict[str, StepView] = {}
    for s in client:
        target = s.event.get("detail", {}).get("target")
        if s.kind == Kind.REQUEST:
            pending[target] = s
        elif s.kind == Kind.RESPONSE and target in pending:
            req = pending.pop(target)
            ttfb = float(s.event.get("detail", {}).get("ttfb_ms", 0))
            bars.append({"label": target, "start": req.t_ms, "wait_end": req.t_ms + ttfb, "end": s.t_ms,
                         "kind": "http", "status": s.event["detail"].get("status")})
    total = max([b["end"] for b in bars] + [steps[-1].t_ms if steps else 0, 0.001])
    for bar in bars:
        bar["left_pct"] = round(bar["start"] / total * 100, 2)
        bar["width_pct"] = max(round((bar["end"] - bar["start"]) / total * 100, 2), 0.5)
        if "wait_end" in bar:
            bar["wait_pct"] = round((bar["wait_end"] - bar["start"]) / max(bar["end"] - bar["start"], 1e-6) * 100, 1)
        bar["ms"] = round(bar["end"] - bar["start"], 2)
    return bars
