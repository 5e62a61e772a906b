"""The resolver's memory: RRsets and negative answers, each kept for as long as its TTL allows.

Why a cache is the whole point of a recursive resolver: the second visitor to a name gets the
answer without any of the root → TLD → authoritative round trips, and even a name never asked
before skips the root and the TLD when the zone cut above it (its NS records and their
addresses) is remembered.

Negative caching follows RFC 2308: NXDOMAIN means "no records of any type at this name" and is
stored once for the name; NODATA ("the name exists, not this type") is stored per type. Both
live for the TTL of the SOA record the authority sent along (which it already set to
min(SOA TTL, MINIMUM)).

Time comes from an injected ``clock`` (monotonic seconds) so tests can make a TTL expire without
sleeping. The cache is bounded: when full, the least recently used entry goes.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from dnslib import QTYPE, RR, DNSLabel

#: Stands for "any type" in the key of an NXDOMAIN entry (no real type has this number).
_NAME_GONE = -1


@dataclass(frozen=True)
class CacheHit:
    """What the cache knows, with TTLs already lowered to what remains."""

    rrs: tuple[RR, ...]
    remaining_ttl: int
    negative: str | None = None  # None | "nxdomain" | "nodata"


@dataclass
class _Entry:
    rrs: tuple[RR, ...]
    expires: float
    negative: str | None


class DnsCache:
    def __init__(
        self, *, clock: Callable[[], float], max_entries: int = 10_000, max_ttl: int = 86_400
    ) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._max_ttl = max_ttl
        self._entries: OrderedDict[tuple[DNSLabel, int], _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def put_rrset(self, name: DNSLabel, qtype: int, rrs: list[RR]) -> None:
        if rrs:
            self._put((DNSLabel(name), qtype), tuple(rrs), min(rr.ttl for rr in rrs), None)

    def put_negative(self, name: DNSLabel, qtype: int, kind: str, soa: RR) -> None:
        """Remember a "no" (``kind`` is "nxdomain" or "nodata") for the SOA's TTL."""
        key = (DNSLabel(name), _NAME_GONE if kind == "nxdomain" else qtype)
        self._put(key, (soa,), soa.ttl, kind)

    def get(self, name: DNSLabel, qtype: int) -> CacheHit | None:
        """The RRset (or the remembered "no") for ``name``/``qtype``, if still alive."""
        name = DNSLabel(name)
        for key in ((name, qtype), (name, _NAME_GONE)):
            hit = self._alive(key)
            if hit is not None:
                self.hits += 1
                return hit
        self.misses += 1
        return None

    def peek(self, name: DNSLabel, qtype: int) -> CacheHit | None:
        """Like :meth:`get` for positive data, without counting a hit or miss (zone-cut search)."""
        hit = self._alive((DNSLabel(name), qtype))
        return hit if hit is not None and hit.negative is None else None

    def closest_cut(self, name: DNSLabel) -> tuple[DNSLabel, list[str], int] | None:
        """The deepest remembered zone cut at or above ``name`` whose servers have addresses.

        Returns (zone, server addresses, remaining TTL of the NS set), or None: start at the root.
        """
        labels = DNSLabel(name).label
        for i in range(len(labels)):
            zone = DNSLabel(labels[i:])
            ns = self.peek(zone, QTYPE.NS)
            if ns is None:
                continue
            addresses = []
            for rr in ns.rrs:
                glue = self.peek(DNSLabel(rr.rdata.label), QTYPE.A)
                addresses += [str(a.rdata) for a in glue.rrs] if glue else []
            if addresses:
                return zone, addresses, ns.remaining_ttl
        return None

    # -- internals -----------------------------------------------------------------------------
    def _put(self, key: tuple[DNSLabel, int], rrs: tuple[RR, ...], ttl: int, negative: str | None) -> None:
        ttl = max(0, min(int(ttl), self._max_ttl))
        if ttl == 0:
            return  # TTL 0 means "use once, never store" (RFC 1035 3.2.1)
        self._entries[key] = _Entry(rrs, self._clock() + ttl, negative)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _alive(self, key: tuple[DNSLabel, int]) -> CacheHit | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        remaining = math.floor(entry.expires - self._clock())
        if remaining <= 0:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        rrs = tuple(RR(rr.rname, rr.rtype, rr.rclass, ttl=remaining, rdata=rr.rdata) for rr in entry.rrs)
        return CacheHit(rrs=rrs, remaining_ttl=remaining, negative=entry.negative)
