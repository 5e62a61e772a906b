"""Iterative resolution as a sans-I/O state machine: it says whom to ask, you do the asking.

Theory of operation
-------------------
A recursive resolver answers one client question by asking authoritative servers, starting
from the closest zone cut it knows. This object holds that walk's state and never touches a
socket or a clock: :meth:`Resolution.start` and every later input return the next *action* —
``SendQuery`` (send these bytes to that server, over UDP or TCP) or ``Done`` (here is the reply
for the client). Inputs are :meth:`feed` (the bytes that came back), :meth:`timed_out` and
:meth:`unreachable`. Things worth telling a learner pile up in :attr:`notes`.

    state       input / condition                       next
    ----------  --------------------------------------  ---------------------------------------
    LOOKUP      cache has qname/qtype (or its "no")     DONE (from cache)
    LOOKUP      cache has a CNAME for qname             follow it: qname = target, LOOKUP
    LOOKUP      otherwise                               ASKING the closest cached zone cut
                                                        (root hints if none)
    ASKING      answer TC=1 over UDP                    ASKING same server over TCP
    ASKING      rcode NXDOMAIN                          cache the "no" (SOA TTL); DONE
    ASKING      answer has qtype at qname (in zone)     cache it; DONE
    ASKING      answer has CNAME at qname (in zone)     cache; qname = target (bounded, no loops);
                                                        the rest of the chain if sent, else LOOKUP
    ASKING      authority NS below current zone + glue  cache NS + glue; ASKING child (bounded)
    ASKING      NOERROR, nothing for us, SOA            NODATA: cache the "no"; DONE
    ASKING      timeout                                 same server once more, then next server
    ASKING      REFUSED/SERVFAIL/garbage/unreachable    next server; none left: DONE SERVFAIL

Bailiwick rule: a server may only teach us about names inside the zone we asked it about; a
record for any other name is ignored (this is what stops the classic cache-poisoning trick of
slipping an extra record into an answer). Every loop is bounded: referrals, CNAME hops and the
total number of queries, so a hostile or broken zone cannot keep the resolver busy forever.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RCODE, RR, DNSHeader, DNSLabel, DNSQuestion, DNSRecord

from .cache import DnsCache
from .wire import DnsMessageError, Query, new_reply, qtype_text, rr_text, safe_parse
from .zone import is_within

MAX_REFERRALS = 8
MAX_CNAME_HOPS = 8
MAX_QUERIES = 24
ROOT = DNSLabel(".")


@dataclass(frozen=True)
class SendQuery:
    server_ip: str
    zone: str  # the zone we believe this server answers for (for the learner and bailiwick)
    wire: bytes
    query_id: int
    qname: str
    qtype: str
    transport: str = "udp"


@dataclass(frozen=True)
class Done:
    reply: DNSRecord
    rcode: str
    from_cache: bool
    reason: str = ""


@dataclass(frozen=True)
class Note:
    kind: str  # cache | referral | cname | retry | error
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)


class Resolution:
    def __init__(self, query: Query, *, cache: DnsCache, root_hints: list[str], rng: random.Random) -> None:
        self.query = query
        self.cache = cache
        self.root_hints = list(root_hints)
        self.rng = rng
        self.qname: DNSLabel = query.qname
        self.qtype: int = query.qtype
        self.chain: list[RR] = []
        self.notes: list[Note] = []
        self.queries_sent = 0
        self._seen_names = {self.qname}
        self._cname_hops = 0
        self._referrals = 0
        self._zone = ROOT
        self._servers: list[str] = []
        self._server_index = 0
        self._attempts = 0
        self._pending: SendQuery | None = None
        self._pending_qname = self.qname  # compared as labels: names may hold any bytes
        self._asked_upstream = False

    # -- inputs ----------------------------------------------------------------------------------
    def start(self) -> SendQuery | Done:
        return self._lookup()

    def matches(self, wire: bytes) -> bool:
        """Is this the answer to the query in flight (same id, same question)? Else ignore it."""
        if self._pending is None:
            return False
        try:
            record = safe_parse(wire)
        except DnsMessageError:
            return len(wire) >= 2 and int.from_bytes(wire[:2], "big") == self._pending.query_id
        return (
            record.header.id == self._pending.query_id
            and bool(record.header.qr)
            and len(record.questions) == 1
            and record.questions[0].qname == self._pending_qname
        )

    def feed(self, wire: bytes) -> SendQuery | Done:
        pending = self._require_pending()
        try:
            record = safe_parse(wire)
        except DnsMessageError as exc:
            return self._next_server(f"unparsable answer from {pending.server_ip}: {exc}")
        rcode = record.header.rcode
        if record.header.tc and pending.transport == "udp":
            self.notes.append(
                Note(
                    "retry",
                    f"{pending.server_ip} truncated its answer (TC=1): asking again over TCP",
                    {"server": pending.server_ip, "reason": "truncated"},
                )
            )
            return self._send(transport="tcp")
        if rcode == RCODE.NXDOMAIN:
            return self._negative(record, "nxdomain")
        if rcode != RCODE.NOERROR:
            return self._next_server(f"{pending.server_ip} answered {RCODE.get(rcode)}")
        return self._use_answer(record)

    def timed_out(self) -> SendQuery | Done:
        pending = self._require_pending()
        if self._attempts < 2:
            self.notes.append(
                Note(
                    "retry",
                    f"no answer from {pending.server_ip}: trying once more",
                    {"server": pending.server_ip, "reason": "timeout"},
                )
            )
            return self._send(transport=pending.transport)
        return self._next_server(f"no answer from {pending.server_ip} after {self._attempts} tries")

    def unreachable(self, reason: str) -> SendQuery | Done:
        self._require_pending()
        return self._next_server(reason)

    # -- the table, row by row -------------------------------------------------------------------
    def _lookup(self) -> SendQuery | Done:
        while True:
            hit = self.cache.get(self.qname, self.qtype)
            if hit is not None:
                self._note_cache(self.qname, self.qtype, hit.remaining_ttl, hit.negative)
                if hit.negative is None:
                    self.chain += hit.rrs
                    return self._done(RCODE.NOERROR)
                rcode = RCODE.NXDOMAIN if hit.negative == "nxdomain" else RCODE.NOERROR
                return self._done(rcode, authority=list(hit.rrs))
            cname = self.cache.get(self.qname, QTYPE.CNAME) if self.qtype != QTYPE.CNAME else None
            if cname is None or cname.negative is not None:
                break
            self._note_cache(self.qname, QTYPE.CNAME, cname.remaining_ttl, None)
            self.chain += cname.rrs
            problem = self._follow(DNSLabel(cname.rrs[0].rdata.label))
            if problem:
                return self._done(RCODE.SERVFAIL, reason=problem)
        cut = self.cache.closest_cut(self.qname)
        if cut is None:
            self._zone, self._servers = ROOT, list(self.root_hints)
        else:
            self._zone, self._servers, ttl = cut
            self._note_cache(self._zone, QTYPE.NS, ttl, None, why="zone cut: skipping the servers above it")
        self._server_index, self._attempts = 0, 0
        if not self._servers:
            return self._done(RCODE.SERVFAIL, reason="no server to ask")
        return self._send(transport="udp", fresh=True)

    def _use_answer(self, record: DNSRecord) -> SendQuery | Done:
        asked = self.qname
        outcome = self._absorb_answers(record)
        if outcome is not None:
            return outcome
        if self.qname != asked:
            return self._lookup()  # the chain left this answer: restart at the closest cut
        referral = self._referral(record)
        if referral is not None:
            return referral
        soa = [rr for rr in record.auth if rr.rtype == QTYPE.SOA and is_within(self.qname, rr.rname)]
        if soa:
            return self._negative(record, "nodata")
        server = self._pending.server_ip if self._pending else "?"
        return self._next_server(f"{server} sent neither an answer, a referral nor an SOA (lame server)")

    def _absorb_answers(self, record: DNSRecord) -> Done | None:
        """Cache the in-bailiwick answer records and follow the CNAME chain through them.

        Returns Done when the wanted records (or a broken chain) were found, else None with
        ``self.qname`` moved to the end of whatever chain the answer held.
        """
        in_zone = [rr for rr in record.rr if is_within(rr.rname, self._zone)]
        for owner, rtype in {(rr.rname, rr.rtype) for rr in in_zone}:
            self.cache.put_rrset(
                owner, rtype, [rr for rr in in_zone if (rr.rname, rr.rtype) == (owner, rtype)]
            )
        while True:
            wanted = [
                rr
                for rr in in_zone
                if rr.rname == self.qname and (rr.rtype == self.qtype or self.qtype == QTYPE.ANY)
            ]
            if wanted:
                self.chain += wanted
                return self._done(RCODE.NOERROR)
            cnames = [rr for rr in in_zone if rr.rname == self.qname and rr.rtype == QTYPE.CNAME]
            if not cnames:
                return None
            self.chain += cnames[:1]
            problem = self._follow(DNSLabel(cnames[0].rdata.label))
            if problem:
                return self._done(RCODE.SERVFAIL, reason=problem)

    def _referral(self, record: DNSRecord) -> SendQuery | Done | None:
        ns = [rr for rr in record.auth if rr.rtype == QTYPE.NS]
        if not ns:
            return None
        child = ns[0].rname
        if not (is_within(self.qname, child) and is_within(child, self._zone) and child != self._zone):
            return self._next_server(f"referral to {child} does not lead closer to {self.qname}: ignored")
        self._referrals += 1
        if self._referrals > MAX_REFERRALS:
            return self._done(RCODE.SERVFAIL, reason=f"more than {MAX_REFERRALS} referrals")
        ns = [rr for rr in ns if rr.rname == child]
        targets = {DNSLabel(rr.rdata.label) for rr in ns}
        glue = [
            rr
            for rr in record.ar
            if rr.rtype == QTYPE.A and rr.rname in targets and is_within(rr.rname, self._zone)
        ]
        if not glue:
            return self._done(RCODE.SERVFAIL, reason=f"referral to {child} without glue addresses")
        self.cache.put_rrset(child, QTYPE.NS, ns)
        for target in targets:
            self.cache.put_rrset(target, QTYPE.A, [rr for rr in glue if rr.rname == target])
        self._zone, self._servers = child, [str(rr.rdata) for rr in glue]
        self._server_index, self._attempts = 0, 0
        self.notes.append(
            Note(
                "referral",
                f"referred to {child}: ask {', '.join(self._servers)}",
                {
                    "zone": str(child),
                    "servers": self._servers,
                    "ns": [rr_text(rr) for rr in ns],
                    "glue": [rr_text(rr) for rr in glue],
                },
            )
        )
        return self._send(transport="udp", fresh=True)

    def _negative(self, record: DNSRecord, kind: str) -> Done:
        if kind == "nxdomain":  # RFC 6604: the code is about the last name of any CNAME chain
            chain_end = self._absorb_answers(record)
            if chain_end is not None:
                return chain_end
        soa = [rr for rr in record.auth if rr.rtype == QTYPE.SOA and is_within(self.qname, rr.rname)]
        if soa:
            self.cache.put_negative(self.qname, self.qtype, kind, soa[0])
        rcode = RCODE.NXDOMAIN if kind == "nxdomain" else RCODE.NOERROR
        return self._done(rcode, authority=soa[:1])

    # -- helpers ---------------------------------------------------------------------------------
    def _follow(self, target: DNSLabel) -> str | None:
        """Move to a CNAME's target; returns why not, if the chain is too long or loops."""
        self._cname_hops += 1
        if self._cname_hops > MAX_CNAME_HOPS:
            return f"CNAME chain longer than {MAX_CNAME_HOPS}"
        if target in self._seen_names:
            return f"CNAME loop at {target}"
        self._seen_names.add(target)
        self.notes.append(
            Note(
                "cname", f"{self.qname} is an alias of {target}", {"from": str(self.qname), "to": str(target)}
            )
        )
        self.qname = target
        return None

    def _send(self, *, transport: str, fresh: bool = False) -> SendQuery | Done:
        if self.queries_sent >= MAX_QUERIES:
            return self._done(RCODE.SERVFAIL, reason=f"gave up after {MAX_QUERIES} upstream queries")
        self._attempts = 1 if fresh else self._attempts + 1
        self.queries_sent += 1
        self._asked_upstream = True
        query_id = self.rng.randrange(0, 65536)  # unpredictable ids: the first defence against spoofing
        self._pending_qname = self.qname
        message = DNSRecord(DNSHeader(id=query_id, rd=0), q=DNSQuestion(self.qname, self.qtype))
        self._pending = SendQuery(
            server_ip=self._servers[self._server_index],
            zone=str(self._zone),
            wire=message.pack(),
            query_id=query_id,
            qname=str(self.qname),
            qtype=qtype_text(self.qtype),
            transport=transport,
        )
        return self._pending

    def _next_server(self, reason: str) -> SendQuery | Done:
        self.notes.append(Note("error", reason, {"zone": str(self._zone)}))
        self._server_index += 1
        if self._server_index >= len(self._servers):
            return self._done(RCODE.SERVFAIL, reason=reason)
        return self._send(transport="udp", fresh=True)

    def _note_cache(self, name: DNSLabel, qtype: int, ttl: int, negative: str | None, why: str = "") -> None:
        what = f"{negative.upper()} " if negative else ""
        self.notes.append(
            Note(
                "cache",
                f"cache: {what}{name} {qtype_text(qtype)} ({ttl} s left){' — ' + why if why else ''}",
                {"qname": str(name), "qtype": qtype_text(qtype), "remaining_ttl": ttl, "negative": negative,
                 "zone_cut": bool(why)},
            )
        )

    def _done(self, rcode: int, *, authority: list[RR] | None = None, reason: str = "") -> Done:
        self._pending = None
        reply = new_reply(self.query, aa=False, ra=True)
        reply.header.rcode = rcode
        if rcode != RCODE.SERVFAIL:
            reply.add_answer(*self.chain)
            if authority:
                reply.add_auth(*authority)
        return Done(
            reply=reply, rcode=str(RCODE.get(rcode)), from_cache=not self._asked_upstream, reason=reason
        )

    def _require_pending(self) -> SendQuery:
        if self._pending is None:
            raise RuntimeError("no query in flight")
        return self._pending
