"""One parse per DNS message, however many parts of the lab read it.

A datagram of a walk used to be parsed up to five times: by the server that checks it, by the
resolver matching it to its query, describing it and learning from it, by the stub that reads
it, and once more by the capture's dissector when the walk is collected. The same bytes give the
same record, so :func:`parsed` parses them once. Its own module (not ``dns/``) so that the
dissector and the walker's stub can use it without importing the DNS servers.
"""
from __future__ import annotations

import functools

from dnslib import DNSRecord

#: How many recently parsed messages :func:`parsed` remembers: a cold walk's 8 datagrams, for
#: every walk that may be in flight at once, with room to spare.
PARSED_MESSAGES = 512


@functools.lru_cache(maxsize=PARSED_MESSAGES)
def parsed(wire: bytes) -> DNSRecord:
    """``DNSRecord.parse(wire)``, remembered for the last :data:`PARSED_MESSAGES` messages.

    The record is *shared* by everyone who parses the same bytes: read it, never change it
    (build a new record to answer with, as the servers do). Raises whatever dnslib raises
    (failures are not remembered); the servers call ``dns.wire.safe_parse``.
    """
    return DNSRecord.parse(wire)

