"""The authoritative-server logic: query bytes in, response bytes and a description out.

Theory of operation
-------------------
One class plays all three roles of the lab's hierarchy; only the zone differs (root ``.``,
TLD ``test.``, authoritative ``netlearn.test.``). For each query, in order (RFC 1034 4.3.2,
simplified to what the lab needs — no DNSSEC, no wildcards):

    check                     outcome          rcode     AA  sections
    ------------------------  ---------------  --------  --  ---------------------------------
    bytes unusable            drop / formerr   FORMERR   0   (none; see wire.check_query)
    name outside our zone     refused          REFUSED   0   (none: we are not a resolver)
    a delegation at/above it  referral         NOERROR   0   authority: child NS; additional: glue
    name has the type         answer           NOERROR   1   answer: the RRset (+ MX/NS targets)
    name has a CNAME          answer (chain)   NOERROR   1   answer: CNAME, then restart at target
                                                             while the target is ours
    name exists, no such type nodata           NOERROR   1   authority: SOA (negative caching)
    name does not exist       nxdomain         NXDOMAIN  1   authority: SOA (negative caching)

The SOA in negative answers carries TTL = min(SOA TTL, MINIMUM) (RFC 2308 3), which is how long a
resolver may remember the "no". Over UDP an answer bigger than the client's limit (512 bytes, or
its EDNS size) goes out as header + question with TC=1, so the client retries over TCP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RCODE, RR, DNSLabel, DNSRecord

from .wire import Query, Rejection, check_query, describe, new_reply, pack_for
from .zone import Zone, is_within

#: An in-zone CNAME chain longer than this is answered as far as it got (the resolver decides).
MAX_ZONE_CNAME_HOPS = 8


@dataclass(frozen=True)
class Outcome:
    """What the authority decided. ``response is None`` means: send nothing."""

    kind: str  # answer | referral | nodata | nxdomain | refused | formerr | notimp | drop
    response: bytes | None
    query: Query | None = None
    truncated: bool = False
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class Authority:
    """Answers from one zone. Pure: no sockets, no clock; safe to call with any bytes."""

    def __init__(self, zone: Zone, *, role: str) -> None:
        self.zone = zone
        self.role = role

    def respond(self, wire: bytes, *, transport: str = "udp") -> Outcome:
        checked = check_query(wire)
        if isinstance(checked, Rejection):
            kind = (checked.rcode or "drop").lower()
            return Outcome(
                kind=kind,
                response=checked.response,
                reason=checked.reason,
                detail={"rcode": checked.rcode, "reason": checked.reason},
            )
        kind, reply = self._lookup(checked)
        packed, truncated = pack_for(
            reply, transport=transport, limit=checked.udp_limit if transport == "udp" else 65535
        )
        detail = describe(reply)
        detail["truncated"] = truncated
        return Outcome(kind=kind, response=packed, query=checked, truncated=truncated, detail=detail)

    # -- the table above, top to bottom -------------------------------------------------------
    def _lookup(self, query: Query) -> tuple[str, DNSRecord]:
        zone, qname, qtype = self.zone, query.qname, query.qtype
        if not is_within(qname, zone.origin):
            reply = new_reply(query, aa=False, ra=False)
            reply.header.rcode = RCODE.REFUSED
            return "refused", reply
        cut = zone.cut_above(qname)
        if cut is not None and not (cut == qname and qtype == QTYPE.DS):
            return "referral", self._referral(query, cut)

        reply = new_reply(query, aa=True, ra=False)
        current, seen = qname, set()
        for _ in range(MAX_ZONE_CNAME_HOPS):
            seen.add(current)
            node = zone.records.get(current)
            if node is None:
                if zone.has_descendants(current):
                    return self._negative(reply, "nodata")
                return self._negative(reply, "nxdomain")
            if qtype == QTYPE.ANY:
                for rrset in node.values():
                    self._add_answers(reply, rrset)
                return "answer", reply
            if qtype in node:
                self._add_answers(reply, node[qtype])
                return "answer", reply
            cnames = node.get(QTYPE.CNAME)
            if not cnames:
                return self._negative(reply, "nodata")
            reply.add_answer(*cnames)
            current = cnames[0].rdata.label
            # Stop where our knowledge ends: the resolver chases targets in other zones.
            if current in seen or not is_within(current, zone.origin) or zone.cut_above(current):
                break
        return "answer", reply

    def _referral(self, query: Query, cut: DNSLabel) -> DNSRecord:
        reply = new_reply(query, aa=False, ra=False)
        ns_records = self.zone.rrset(cut, QTYPE.NS)
        reply.add_auth(*ns_records)
        glue = self.zone.glue_for(ns_records)
        if glue:
            _insert_before_opt(reply, glue)
        return reply

    def _add_answers(self, reply: DNSRecord, rrset: list[RR]) -> None:
        reply.add_answer(*rrset)
        targets = [rr for rr in rrset if rr.rtype in (QTYPE.NS, QTYPE.MX)]
        extra = []
        for rr in targets:
            name = DNSLabel(rr.rdata.label)  # NS and MX both name their target in .label
            extra += self.zone.rrset(name, QTYPE.A) + self.zone.rrset(name, QTYPE.AAAA)
        if extra:
            _insert_before_opt(reply, extra)

    def _negative(self, reply: DNSRecord, kind: str) -> tuple[str, DNSRecord]:
        soa = self.zone.soa
        reply.add_auth(RR(soa.rname, QTYPE.SOA, ttl=self.zone.negative_ttl(), rdata=soa.rdata))
        if kind == "nxdomain":
            reply.header.rcode = RCODE.NXDOMAIN
        return kind, reply


def _insert_before_opt(reply: DNSRecord, rrs: list[RR]) -> None:
    """Additional records go before the OPT pseudo-record, as dig and most servers show them."""
    opts = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    reply.ar = [rr for rr in reply.ar if rr.rtype != QTYPE.OPT] + list(rrs) + opts
    reply.set_header_qa()
