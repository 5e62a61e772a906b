"""An https:// walk: TLS 1.3 with HTTP/2 or HTTP/1.1 over TCP, or HTTP/3 over QUIC.

:func:`run_secure` picks up where the plain walk has resolved the name and found the lab
service for port 443. It reports each stage as a step (trust, handshake, ALPN's choice, Alt-Svc,
render, round trips) while the connections below report every record, frame and datagram.

``protocol``: ``None`` lets ALPN decide (the client offers h2 and http/1.1, as browsers do),
``"h1"`` offers only http/1.1, ``"h2"`` requires h2, ``"h3"`` goes straight to QUIC on UDP (the
browser has met ``Alt-Svc: h3`` before). A certificate that does not name the host is a failed
step, exactly where a browser would stop with NET::ERR_CERT_COMMON_NAME_INVALID.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..tls.ca import LabPki, client_context
from .directory import LabDirectory
from .h2_client import H2Client
from .h3_client import H3Client
from .html import find_subresources
from .tls_client import RoundTrips, TlsClientConnection, TlsFailure
from .url import LabTarget, ParsedUrl

COMPONENT = "client"
MAX_SUBRESOURCES = 8
PROTOCOLS = ("h1", "h2", "h3")


@dataclass(frozen=True)
class SecureServices:
    """What an https walk may dial beyond the directory: the lab CA and the QUIC listeners."""

    pki: LabPki
    quic: dict[tuple[str, int], LabTarget] = field(default_factory=dict)


class _Outcome(Protocol):
    status: str
    code: str
    detail: dict[str, object]
    backends: list[str]


def _step(stream: EventStream, cid: str, summary: str, *, layer: int = 7, step: str, **detail: object) -> None:
    stream.emit(component=COMPONENT, layer=layer, kind=Kind.STEP, correlation_id=cid, summary=summary,
                detail={"step": step, **detail})


def _fail(outcome: _Outcome, code: str, **detail: object) -> None:
    outcome.status, outcome.code = "failed", code
    outcome.detail = {**outcome.detail, **{k: str(v) for k, v in detail.items()}}


async def run_secure(*, stream: EventStream, cid: str, parsed: ParsedUrl, address: str, target: LabTarget,
                     directory: LabDirectory, secure: SecureServices, outcome: _Outcome, protocol: str | None = None,
                     fetch_subresources: bool = True, timeout: float = 5.0, added_rtt: float = 0.0) -> None:
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS} or None, not {protocol!r}")
    rtt = RoundTrips(delay=max(0.0, min(added_rtt, 1.0)))
    if parsed.scheme == "http":  # compare mode's plain row: same client, same link delay, no TLS
        try:
            await _plain(stream, cid, parsed, target, directory, outcome, rtt, fetch_subresources, timeout)
        except TlsFailure as exc:
            _step(stream, cid, str(exc), step="connection_failed", code=exc.code, layer=4)
            _fail(outcome, exc.code, reason=str(exc))
        _round_trips(stream, cid, rtt, outcome)
        return
    _step(stream, cid, "The browser will check the server's certificate against its trust store. This walk's "
          "browser trusts only the lab's own CA; a real browser trusts ~150 public roots and would reject "
          "the lab's certificates, since no public CA certifies a .test name", step="tls_trust",
          ca=str(secure.pki.ca_cert.name), layer=6)
    try:
        if protocol == "h3":
            quic = secure.quic.get((address, parsed.port))
            if quic is None:
                _step(stream, cid, f"{address} has no QUIC listener in the lab", step="refused",
                      code="no_quic", address=address)
                outcome.status, outcome.code = "refused", "no_quic"
                return
            await _over_quic(stream, cid, parsed, quic, directory, secure, outcome, rtt, fetch_subresources, timeout)
        else:
            await _over_tcp(stream, cid, parsed, target, directory, secure, outcome, rtt, protocol,
                            fetch_subresources, timeout)
    except TlsFailure as exc:
        if exc.code == "cert_invalid":
            _step(stream, cid, f"Certificate rejected: {exc} — the browser stops here and shows a full-page "
                  f"warning (NET::ERR_CERT_COMMON_NAME_INVALID); no HTTP request is sent",
                  step="cert_failed", layer=6, **{k: str(v) for k, v in exc.detail.items()}, reason=str(exc))
        else:
            _step(stream, cid, str(exc), step="connection_failed", code=exc.code, layer=4)
        _fail(outcome, exc.code, reason=str(exc), **exc.detail)
    finally:
        _round_trips(stream, cid, rtt, outcome)


def _round_trips(stream: EventStream, cid: str, rtt: RoundTrips, outcome: _Outcome) -> None:
    outcome.detail = {**outcome.detail, "round_trips": rtt.count, "protocol": outcome.detail.get("protocol")}
    _step(stream, cid, f"{rtt.count} round trip(s) from the first SYN or Initial to the last answer: "
              + "; ".join(f"{t['label']} ({t['ms']:.1f} ms)" for t in rtt.as_list()),
              step="round_trips", count=rtt.count, trips=rtt.as_list(), added_rtt_ms=round(rtt.delay * 1000, 1))


async def _plain(stream: EventStream, cid: str, parsed: ParsedUrl, target: LabTarget, directory: LabDirectory,
                 outcome: _Outcome, rtt: RoundTrips, fetch_subresources: bool, timeout: float) -> None:
    conn = TlsClientConnection(stream=stream, correlation_id=cid, remote=Endpoint(target.host, target.port),
                               role=target.role, client_host=directory.client_host, server_name=parsed.ascii_host,
                               context=None, rtt=rtt, timeout=timeout)
    outcome.detail = {**outcome.detail, "protocol": "http/1.1"}
    try:
        await conn.connect()
        await _h1_pages(stream, cid, parsed, conn, outcome, fetch_subresources, timeout)
    finally:
        await conn.close()


def _logging_context(pki: object, alpn: tuple[str, ...], cid: str) -> ssl.SSLContext:
    """The browser's TLS context, logging its keys for the walk's pcapng (netlearn/lab/capture)."""
    from ..capture.keylog import keylog_path

    context = client_context(pki, alpn=alpn)  # type: ignore[arg-type]
    context.keylog_filename = keylog_path(cid)
    return context


async def _over_tcp(stream: EventStream, cid: str, parsed: ParsedUrl, target: LabTarget, directory: LabDirectory,
                    secure: SecureServices, outcome: _Outcome, rtt: RoundTrips, protocol: str | None,
                    fetch_subresources: bool, timeout: float) -> None:
    alpn = ("http/1.1",) if protocol == "h1" else ("h2", "http/1.1")
    conn = TlsClientConnection(stream=stream, correlation_id=cid, remote=Endpoint(target.host, target.port),
                               role=target.role, client_host=directory.client_host, server_name=parsed.ascii_host,
                               context=_logging_context(secure.pki, alpn, cid), rtt=rtt, timeout=timeout)
    try:
        await conn.connect()
        info = await conn.handshake()
        chosen = info["alpn"] or "http/1.1"
        outcome.detail = {**outcome.detail, "protocol": chosen, "tls": info}
        passthrough = target.role == "l4"
        _step(stream, cid, f"TLS established in {info['handshake_ms']:.1f} ms: {info['version']}, {info['cipher']}; "
              f"the certificate names {', '.join(info['subject_alt_names'][:3])}… and is signed by the lab CA. "
              f"ALPN chose {chosen}. " + ("The L4 balancer passed the encrypted bytes through: the backend "
                                          "holds the key" if passthrough else
                                          f"{target.role} terminates TLS and reads the HTTP inside"),
              step="tls_established", layer=6, **info, role=target.role, passthrough=passthrough)
        if protocol == "h2" and chosen != "h2":
            raise TlsFailure("no_h2", "The server did not agree to HTTP/2 in ALPN")
        if chosen == "h2":
            await _h2_pages(stream, cid, parsed, conn, outcome, fetch_subresources)
        else:
            await _h1_pages(stream, cid, parsed, conn, outcome, fetch_subresources, timeout)
    finally:
        await conn.close()


async def _h2_pages(stream: EventStream, cid: str, parsed: ParsedUrl, conn: TlsClientConnection,
                    outcome: _Outcome, fetch_subresources: bool) -> None:
    client = H2Client(conn=conn, stream=stream, correlation_id=cid, authority=parsed.ascii_host)
    try:
        [page] = await client.fetch_many([(parsed.target, "document")])
        _record(outcome, page)
        _alt_svc(stream, cid, page["headers"].get("alt-svc"))
        subs = _page_subresources(stream, cid, parsed, page, outcome, fetch_subresources)
        if subs:
            await client.fetch_many(subs)
            _step(stream, cid, f"All {len(subs)} sub-resources went out at once on one connection, each on its own "
                  "stream: no waiting for one answer before asking the next", step="multiplexed", count=len(subs))
            _render(stream, cid)
    finally:
        client.goaway()


async def _h1_pages(stream: EventStream, cid: str, parsed: ParsedUrl, conn: TlsClientConnection,
                    outcome: _Outcome, fetch_subresources: bool, timeout: float) -> None:
    from .tls_h1 import fetch_h1

    page = await fetch_h1(stream, cid, conn, parsed.ascii_host, parsed.target, "document")
    _record(outcome, page)
    _alt_svc(stream, cid, page["headers"].get("alt-svc"))
    subs = _page_subresources(stream, cid, parsed, page, outcome, fetch_subresources)
    for path, purpose in subs:
        _record(outcome, await fetch_h1(stream, cid, conn, parsed.ascii_host, path, purpose))
    if subs:
        _render(stream, cid)


async def _over_quic(stream: EventStream, cid: str, parsed: ParsedUrl, quic: LabTarget, directory: LabDirectory,
                     secure: SecureServices, outcome: _Outcome, rtt: RoundTrips, fetch_subresources: bool,
                     timeout: float) -> None:
    _step(stream, cid, f"The browser remembers “Alt-Svc: h3” from an earlier answer, so it tries HTTP/3: QUIC on "
          f"UDP port {parsed.port} (the lab's {quic.port})", step="h3_attempt", layer=4, udp_port=quic.port)
    client = H3Client(stream=stream, correlation_id=cid, remote=Endpoint(quic.host, quic.port),
                      client_host=directory.client_host, server_name=parsed.ascii_host, pki=secure.pki, rtt=rtt,
                      timeout=timeout)
    try:
        handshake_ms = await client.connect()
        outcome.detail = {**outcome.detail, "protocol": "h3"}
        _step(stream, cid, f"QUIC connection ready after one round trip ({handshake_ms:.1f} ms): transport and "
              "TLS 1.3 handshakes happen together, so no separate TCP handshake is needed", step="quic_established",
              layer=4, handshake_ms=round(handshake_ms, 3))
        [page] = await client.fetch_many([(parsed.target, "document")], parsed.ascii_host)
        _record(outcome, page)
        subs = _page_subresources(stream, cid, parsed, page, outcome, fetch_subresources)
        if subs:
            await client.fetch_many(subs, parsed.ascii_host)
            _step(stream, cid, f"All {len(subs)} sub-resources on independent QUIC streams: a lost packet delays "
                  "only its own stream (no head-of-line blocking across streams, unlike HTTP/2 over TCP)",
                  step="multiplexed", count=len(subs))
            _render(stream, cid)
    finally:
        await client.close()


def _record(outcome: _Outcome, item: dict[str, Any]) -> None:
    backend = item["headers"].get("x-backend")
    if backend and backend not in outcome.backends:
        outcome.backends.append(backend)
    if item["status"] >= 500:
        outcome.status, outcome.code = "failed", f"http_{item['status']}"


def _alt_svc(stream: EventStream, cid: str, value: str | None) -> None:
    if value:
        _step(stream, cid, f"The answer carries “Alt-Svc: {value}”: the server also speaks HTTP/3 on UDP. A browser "
              "remembers this and may use QUIC next time", step="alt_svc", alt_svc=value)


def _render(stream: EventStream, cid: str) -> None:
    _step(stream, cid, "Render: DOM + CSSOM → render tree → layout → paint. The page is on screen.", step="render")


def _page_subresources(stream: EventStream, cid: str, parsed: ParsedUrl, page: dict[str, Any], outcome: _Outcome,
                       fetch_subresources: bool) -> list[tuple[str, str]]:
    if page["status"] >= 500:
        _step(stream, cid, f"The server side failed with {page['status']}", step="server_error", status=page["status"])
        return []
    if not fetch_subresources or "html" not in page["headers"].get("content-type", ""):
        return []
    title, found = find_subresources(page["body"].decode("utf-8", "replace"))
    _step(stream, cid, f"Parse the HTML ({len(page['body'])} bytes, title “{title}”): found {len(found)} sub-resources",
          step="parse_html", title=title, subresources=[{"kind": k, "url": u} for k, u in found])
    base = f"https://{parsed.ascii_host}{parsed.target}"
    wanted = []
    for kind, ref in found[:MAX_SUBRESOURCES]:
        absolute = urlsplit(urljoin(base, ref))
        if (absolute.hostname or "") != parsed.ascii_host or absolute.scheme != "https":
            _step(stream, cid, f"Skip {ref}: another origin, which the lab does not dial", step="skip_subresource",
                  url=ref)
            continue
        wanted.append((absolute.path + (f"?{absolute.query}" if absolute.query else ""), kind))
    return wanted
