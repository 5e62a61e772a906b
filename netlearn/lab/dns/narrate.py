"""One-line summaries of DNS events, written for a learner reading the walk as it happens.

Kept apart from the protocol code so that wording can change without touching behaviour, and
so that the servers and the resolver describe the same thing in the same words.
"""

from __future__ import annotations

from typing import Any

from dnslib import DNSLabel

from .wire import qtype_text


def query_summary(role: str, qname: DNSLabel | str, qtype: int | str, transport: str) -> str:
    qtype_name = qtype if isinstance(qtype, str) else qtype_text(qtype)
    return f"{role} received a query over {transport.upper()}: {qname} {qtype_name}?"


def outcome_summary(role: str, kind: str, qname: DNSLabel | str, detail: dict[str, Any]) -> str:
    """What a server's (or an upstream's) response says, in one sentence."""
    if detail.get("truncated"):
        return f"{role}: the answer for {qname} is too big for UDP, sent with TC=1 (retry over TCP)"
    if kind == "referral":
        servers = ", ".join(_rdata(rr) for rr in detail.get("authority", []))
        glue = ", ".join(_rdata(rr) for rr in detail.get("additional", []) if not rr.startswith("OPT"))
        return f"{role}: I don't know {qname}; ask {servers}" + (f" (at {glue})" if glue else "")
    if kind == "nxdomain":
        return f"{role}: {qname} does not exist (NXDOMAIN)"
    if kind == "nodata":
        return f"{role}: {qname} exists but has no record of that type (NODATA)"
    if kind == "refused":
        return f"{role}: {qname} is not in my zone (REFUSED)"
    answers = detail.get("answers", [])
    if answers:
        return (
            f"{role}: {qname} → "
            + ", ".join(_short(rr) for rr in answers[:4])
            + (" …" if len(answers) > 4 else "")
        )
    return f"{role}: {detail.get('rcode', '?')} for {qname}"


def _rdata(rr_text: str) -> str:
    parts = rr_text.split(" ", 4)
    return parts[4] if len(parts) == 5 else rr_text


def _short(rr_text: str) -> str:
    parts = rr_text.split(" ", 4)
    if len(parts) < 5:
        return rr_text
    rdata = parts[4] if len(parts[4]) <= 40 else parts[4][:37] + "..."
    return f"{parts[3]} {rdata}"
