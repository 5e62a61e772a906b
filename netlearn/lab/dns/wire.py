"""Wire-format helpers shared by the authority, the resolver and their servers.

dnslib does the packing and unpacking; what lives here is the *policy* every DNS role shares, so
it is written once: which bytes deserve an answer at all (a datagram shorter than a header, or a
response sent to us, gets none: answering those is how reflection loops start), which deserve
FORMERR/NOTIMP/REFUSED, how big a UDP answer may be (512 bytes, or what the client advertised in
EDNS), and how a message is turned into the short texts the event stream shows a learner.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from dnslib import CLASS, EDNS0, OPCODE, QTYPE, RCODE, RR, DNSHeader, DNSLabel, DNSQuestion, DNSRecord

from ..dnsparse import parsed

#: RFC 1035 4.2.1: the UDP limit when the client says nothing else.
UDP_LIMIT = 512
#: What we advertise and the most we honour from a client (RFC 6891 leaves it to us).
EDNS_LIMIT = 4096
HEADER_LEN = 12

_HEADER = struct.Struct("!HHHHHH")


class DnsMessageError(Exception):
    """A message that dnslib (or our checks) could not make sense of."""


def safe_parse(wire: bytes) -> DNSRecord:
    """Parse any bytes, raising only :class:`DnsMessageError`.

    dnslib reports most damage as ``DNSError`` but some mutated packets surface as other
    exceptions from deep inside its buffer code; callers (servers facing the network) must
    have exactly one thing to catch. The record is shared (see :func:`parsed`): read only.
    """
    try:
        return parsed(bytes(wire))
    except Exception as exc:
        raise DnsMessageError(str(exc) or type(exc).__name__) from exc


@dataclass(frozen=True)
class Query:
    """A query that passed the checks every server makes before looking at its data."""

    record: DNSRecord
    qname: DNSLabel
    qtype: int
    id: int
    rd: bool
    #: The largest UDP answer this client accepts (512, or its EDNS size within our limit).
    udp_limit: int
    edns: bool

    def detail(self, role: str) -> dict[str, Any]:
        return {
            "qname": str(self.qname),
            "qtype": qtype_text(self.qtype),
            "id": self.id,
            "rd": self.rd,
            "server_role": role,
        }


@dataclass(frozen=True)
class Rejection:
    """Why a message is not answered normally; ``response`` is ``None`` for a silent drop."""

    reason: str
    response: bytes | None
    rcode: str | None


def check_query(wire: bytes) -> Query | Rejection:
    """Decide whether ``wire`` is a query we answer, and if not, what (if anything) to send."""
    if len(wire) < HEADER_LEN:
        return Rejection(f"{len(wire)} bytes is shorter than a DNS header: dropped", None, None)
    ident, flags, qdcount, *_ = _HEADER.unpack_from(wire)
    if flags & 0x8000:
        return Rejection("a response arrived where queries are expected: dropped", None, None)
    opcode = (flags >> 11) & 0xF
    try:
        record = safe_parse(wire)
    except DnsMessageError as exc:
        return Rejection(f"malformed message: {exc}", error_reply(wire, RCODE.FORMERR), "FORMERR")
    if opcode != OPCODE.QUERY:
        return Rejection(
            f"opcode {OPCODE.get(opcode)} is not implemented", error_reply(wire, RCODE.NOTIMP), "NOTIMP"
        )
    if qdcount != 1 or len(record.questions) != 1:
        return Rejection(
            f"{qdcount} questions (exactly one is allowed)", error_reply(wire, RCODE.FORMERR), "FORMERR"
        )
    question = record.questions[0]
    if question.qclass not in (1, 255):  # IN, ANY
        return Rejection(
            f"class {CLASS.get(question.qclass)} is not served here",
            error_reply(wire, RCODE.REFUSED, question),
            "REFUSED",
        )
    udp_limit, edns = UDP_LIMIT, False
    for rr in record.ar:
        if rr.rtype == QTYPE.OPT:
            edns = True
            udp_limit = min(max(int(rr.rclass), UDP_LIMIT), EDNS_LIMIT)
    return Query(
        record=record,
        qname=question.qname,
        qtype=question.qtype,
        id=record.header.id,
        rd=bool(record.header.rd),
        udp_limit=udp_limit,
        edns=edns,
    )


def error_reply(query_wire: bytes, rcode: int, question: DNSQuestion | None = None) -> bytes:
    """An answer carrying only an error code, built from the query's header bytes.

    Built by hand because a FORMERR query may be exactly the message dnslib cannot parse.
    """
    ident, flags, *_ = _HEADER.unpack_from(query_wire)
    reply_flags = 0x8000 | (flags & 0x7900) | (rcode & 0xF)  # QR, opcode and RD copied
    header = _HEADER.pack(ident, reply_flags, 1 if question else 0, 0, 0, 0)
    if question is None:
        return header
    return header + DNSRecord(header=DNSHeader(), questions=[question]).pack()[HEADER_LEN:]


def new_reply(query: Query, *, aa: bool, ra: bool) -> DNSRecord:
    reply = DNSRecord(
        DNSHeader(id=query.id, qr=1, aa=int(aa), ra=int(ra), rd=int(query.rd)), q=query.record.questions[0]
    )
    if query.edns:
        reply.add_ar(EDNS0(udp_len=EDNS_LIMIT))
    return reply


def pack_for(reply: DNSRecord, *, transport: str, limit: int) -> tuple[bytes, bool]:
    """Pack ``reply``; over UDP, if it is bigger than ``limit``, send only the header + TC=1.

    Sending an empty truncated answer (rather than the records that fit) is what BIND does and
    what RFC 2181 9 recommends: a partial RRset must never be cached as if it were whole.
    """
    wire = reply.pack()
    if transport != "udp" or len(wire) <= limit:
        return wire, False
    cut = DNSRecord(
        DNSHeader(
            id=reply.header.id,
            qr=1,
            aa=reply.header.aa,
            ra=reply.header.ra,
            rd=reply.header.rd,
            tc=1,
            rcode=reply.header.rcode,
        ),
        questions=list(reply.questions),
    )
    for rr in reply.ar:
        if rr.rtype == QTYPE.OPT:
            cut.add_ar(rr)
    return cut.pack(), True


def qtype_text(qtype: int) -> str:
    return str(QTYPE.get(qtype, f"TYPE{qtype}"))


def rr_text(rr: RR) -> str:
    """One record as a zone-file line, the way a learner reads it in a textbook."""
    if rr.rtype == QTYPE.OPT:
        return f"OPT udp={rr.rclass}"
    return f"{rr.rname} {rr.ttl} {CLASS.get(rr.rclass)} {qtype_text(rr.rtype)} {rr.rdata.toZone()}"


def describe(record: DNSRecord) -> dict[str, Any]:
    """The parts of a response an event shows: code, the three sections as text, the TC bit."""
    return {
        "rcode": str(RCODE.get(record.header.rcode)),
        "answers": [rr_text(rr) for rr in record.rr],
        "authority": [rr_text(rr) for rr in record.auth],
        "additional": [rr_text(rr) for rr in record.ar],
        "truncated": bool(record.header.tc),
        "aa": bool(record.header.aa),
    }


def describe_wire(wire: bytes) -> dict[str, Any]:
    try:
        return describe(safe_parse(wire))
    except DnsMessageError as exc:
        return {
            "rcode": "?",
            "answers": [],
            "authority": [],
            "additional": [],
            "truncated": False,
            "aa": False,
            "error": str(exc),
        }
