"""A whole walk, as a browser does it: URL → caches → DNS → TCP → HTTP → balancer → backend
→ response → sub-resources → close. Every step is an event on the lab's stream.

Failures are steps too: NXDOMAIN, a refused connection, a 502 from the balancer or a name that
points outside the lab each end the walk with an explanation, never with an exception.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from ..events import Kind
from ..stream import EventStream
from .directory import LabDirectory
from .dns_client import stub_query
from .html import find_subresources
from .http_client import BrowserConnection, FetchError
from .url import ParsedUrl, Refusal, parse_lab_url

if TYPE_CHECKING:
    from .secure import SecureServices

COMPONENT = "client"
MAX_SUBRESOURCES = 8


@dataclass
class WalkOutcome:
    status: str  # "done" | "refused" | "failed"
    code: str = ""  # refusal or failure code, for the page's explanation
    detail: dict[str, object] = field(default_factory=dict)
    parsed: ParsedUrl | None = None
    backends: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


def _step(stream: EventStream, cid: str, summary: str, *, layer: int = 7, step: str, **detail: object) -> None:
    stream.emit(component=COMPONENT, layer=layer, kind=Kind.STEP, correlation_id=cid, summary=summary,
                detail={"step": step, **detail})


async def run_walk(url: str, *, stream: EventStream, directory: LabDirectory, correlation_id: str,
                   fetch_subresources: bool = True, timeout: float = 5.0, protocol: str | None = None,
                   secure: SecureServices | None = None, added_rtt: float = 0.0) -> WalkOutcome:
    cid = correlation_id
    started = time.perf_counter()
    parsed = parse_lab_url(url)
    if isinstance(parsed, Refusal):
        refusal: dict[str, Any] = dict(parsed.detail)
        _step(stream, cid, f"The lab will not walk this URL ({parsed.code}); no connection was made",
              step="refused", code=parsed.code, **refusal)
        return WalkOutcome("refused", parsed.code, dict(parsed.detail), started=started, finished=time.perf_counter())
    outcome = WalkOutcome("done", parsed=parsed, started=started)
    _step(stream, cid, f"Parse the URL: scheme {parsed.scheme}, host {parsed.host}, port {parsed.port}, "
          f"path {parsed.target}" + (f" (IDNA: {parsed.ascii_host})" if parsed.is_idna else ""),
          step="url", **dict[str, Any](parsed.as_dict()))
    if parsed.scheme != "http" and secure is None:
        _step(stream, cid, "HTTPS walks need the lab's TLS servers, which are not running in this lab yet",
              step="refused", code="scheme_unavailable", scheme=parsed.scheme)
        outcome.status, outcome.code = "refused", "scheme_unavailable"
        return _finish(outcome)
    _step(stream, cid, "Look in the browser's DNS cache and the OS's: empty (this walk starts with a fresh browser)",
          step="browser_cache", hit=False, layer=7)

    answer = await stub_query(stream=stream, resolver=directory.resolver, client_host=directory.client_host,
                              name=parsed.ascii_host, correlation_id=cid, timeout=min(timeout, 2.0))
    if answer.error:
        _step(stream, cid, "DNS failed: the resolver did not answer, so the browser cannot find the server",
              step="dns_failed", code=answer.error)
        outcome.status, outcome.code = "failed", f"dns_{answer.error}"
        return _finish(outcome)
    if answer.rcode == "NXDOMAIN":
        _step(stream, cid, f"NXDOMAIN: {parsed.ascii_host} does not exist, so there is nothing to connect to",
              step="nxdomain", name=parsed.ascii_host)
        outcome.status, outcome.code = "failed", "nxdomain"
        return _finish(outcome)
    if not answer.addresses:
        _step(stream, cid, f"The resolver answered {answer.rcode} without an address", step="no_address",
              rcode=answer.rcode)
        outcome.status, outcome.code = "failed", "no_address"
        return _finish(outcome)
    address = answer.addresses[0]
    target = directory.target_for(address, parsed.port)
    _step(stream, cid, f"{parsed.ascii_host} is {address}" + (
        f" (via CNAME {' → '.join(answer.cname_chain)})" if answer.cname_chain else "") + f", TTL {answer.ttl} s",
          step="resolved", address=address, cname_chain=answer.cname_chain, ttl=answer.ttl,
          dns_ms=round(answer.elapsed_ms, 3))
    if target is None:
        _step(stream, cid, f"{address} is not one of the lab's servers: the walk stops here and no packet is sent",
              step="refused", code="address_outside_lab", address=address)
        outcome.status, outcome.code = "refused", "address_outside_lab"
        outcome.detail = {"address": address}
        return _finish(outcome)
    if target.port != parsed.port:
        _step(stream, cid, f"In the lab, port {parsed.port} of {address} is served on port {target.port} "
              f"(ports below 1024 need root)", step="port_map", url_port=parsed.port, lab_port=target.port, layer=4)

    if secure is not None and (parsed.scheme == "https" or protocol is not None):
        from .secure import run_secure  # TLS, HTTP/2 and HTTP/3: netlearn/lab/walker/secure.py

        await run_secure(stream=stream, cid=cid, parsed=parsed, address=address, target=target, directory=directory,
                         secure=secure, outcome=outcome, protocol=protocol, fetch_subresources=fetch_subresources,
                         timeout=timeout, added_rtt=added_rtt)
        return _finish(outcome)
    host_header = parsed.ascii_host if not parsed.port_explicit else f"{parsed.ascii_host}:{parsed.port}"
    conn = BrowserConnection(stream=stream, correlation_id=cid, target=target, client_host=directory.client_host,
                             host_header=host_header, timeout=timeout)
    try:
        await conn.open()
        page = await conn.fetch(parsed.target, purpose="document")
        if page.backend:
            outcome.backends.append(page.backend)
        if page.status >= 500:
            _step(stream, cid, f"The server side failed with {page.status}: the browser shows an error page",
                  step="server_error", status=page.status)
            outcome.status, outcome.code = "failed", f"http_{page.status}"
        elif fetch_subresources and "html" in page.headers.get("content-type", ""):
            await _subresources(stream, cid, conn, parsed, page.body, directory, outcome)
            _step(stream, cid, "Render: DOM + CSSOM → render tree → layout → paint. The page is on screen.",
                  step="render")
    except FetchError as exc:
        _step(stream, cid, str(exc), step="connection_failed", code=exc.code, layer=4)
        outcome.status, outcome.code = "failed", exc.code
    finally:
        await conn.close()
    return _finish(outcome)


async def _subresources(stream: EventStream, cid: str, conn: BrowserConnection, parsed: ParsedUrl, body: bytes,
                        directory: LabDirectory, outcome: WalkOutcome) -> None:
    title, found = find_subresources(body.decode("utf-8", "replace"))
    _step(stream, cid, f"Parse the HTML ({len(body)} bytes, title “{title}”): found {len(found)} sub-resources",
          step="parse_html", title=title, subresources=[{"kind": k, "url": u} for k, u in found])
    base = f"{parsed.scheme}://{parsed.ascii_host}{parsed.target}"
    for kind, ref in found[:MAX_SUBRESOURCES]:
        absolute = urlsplit(urljoin(base, ref))
        if (absolute.hostname or "") != parsed.ascii_host or absolute.scheme != parsed.scheme:
            _step(stream, cid, f"Skip {ref}: another origin, which the lab does not dial", step="skip_subresource",
                  url=ref)
            continue
        path = absolute.path + (f"?{absolute.query}" if absolute.query else "")
        if not conn.is_open:
            _step(stream, cid, "The server closed the connection: open a new one", step="reconnect", layer=4)
            await conn.open()
        result = await conn.fetch(path, purpose=kind)
        if result.backend and result.backend not in outcome.backends:
            outcome.backends.append(result.backend)
        if not result.keep_alive:
            await conn.close()


def _finish(outcome: WalkOutcome) -> WalkOutcome:
    outcome.finished = time.perf_counter()
    return outcome
