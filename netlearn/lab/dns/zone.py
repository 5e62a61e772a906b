"""Zones: the data an authoritative server answers from, loaded from BIND zone-file text.

The lab's three servers are one program with three different zones (see
:mod:`netlearn.lab.dns.authority`): the authoritative zone ``netlearn.test.`` comes from the
fixture file a teacher can read and edit; the root zone ``.`` and the TLD zone ``test.`` are built
here from the lab's addresses, because all they hold is the delegation chain (NS records plus
*glue*, the addresses of name servers that live inside the zone they serve, without which a
resolver could never reach them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dnslib import NS, QTYPE, RR, SOA, A, DNSLabel

#: The name servers the lab's delegation chain names (the root's and the TLD's).
ROOT_NS = "a.root-servers.test."
TLD_NS = "ns1.nic.test."


def labels(name: DNSLabel | str) -> tuple[bytes, ...]:
    """Lower-cased labels: DNS names compare case-insensitively (RFC 4343)."""
    return tuple(label.lower() for label in DNSLabel(name).label)


def is_within(name: DNSLabel | str, zone: DNSLabel | str) -> bool:
    """True if ``name`` equals ``zone`` or lies below it (every name lies within the root)."""
    inner, outer = labels(name), labels(zone)
    return len(inner) >= len(outer) and (not outer or inner[-len(outer) :] == outer)


def parent(name: DNSLabel) -> DNSLabel:
    return DNSLabel(name.label[1:])


@dataclass
class Zone:
    """The records of one zone, by owner name and type, plus where it delegates."""

    origin: DNSLabel
    records: dict[DNSLabel, dict[int, list[RR]]] = field(default_factory=dict)

    @classmethod
    def from_records(cls, origin: str | DNSLabel, rrs: list[RR]) -> Zone:
        zone = cls(DNSLabel(origin))
        for rr in rrs:
            if not is_within(rr.rname, zone.origin):
                raise ValueError(f"{rr.rname} lies outside the zone {zone.origin}")
            zone.records.setdefault(rr.rname, {}).setdefault(rr.rtype, []).append(rr)
        if not zone.rrset(zone.origin, QTYPE.SOA):
            raise ValueError(f"zone {zone.origin} has no SOA record")
        return zone

    @classmethod
    def from_text(cls, text: str, origin: str) -> Zone:
        return cls.from_records(origin, list(RR.fromZone(text)))

    @classmethod
    def from_file(cls, path: Path, origin: str) -> Zone:
        return cls.from_text(path.read_text(encoding="utf-8"), origin)

    def rrset(self, name: DNSLabel, qtype: int) -> list[RR]:
        return list(self.records.get(name, {}).get(qtype, []))

    @property
    def soa(self) -> RR:
        return self.rrset(self.origin, QTYPE.SOA)[0]

    def negative_ttl(self) -> int:
        """RFC 2308 5: how long a "no such name" may be cached: min(SOA TTL, SOA MINIMUM)."""
        return min(self.soa.ttl, self.soa.rdata.times[4])

    def cut_above(self, name: DNSLabel) -> DNSLabel | None:
        """The delegation point at or above ``name`` (below the apex), if any.

        Walks from the apex downwards so that the *highest* cut wins: data below it belongs to
        the child zone, even if (like glue) we happen to hold some of it.
        """
        depth = len(self.origin.label)
        for i in range(len(name.label) - depth - 1, -1, -1):
            candidate = DNSLabel(name.label[i:])
            if candidate != self.origin and self.rrset(candidate, QTYPE.NS):
                return candidate
        return None

    def has_descendants(self, name: DNSLabel) -> bool:
        """An "empty non-terminal" exists (NODATA, not NXDOMAIN) if some name lies below it."""
        return any(owner != name and is_within(owner, name) for owner in self.records)

    def glue_for(self, ns_records: list[RR]) -> list[RR]:
        glue: list[RR] = []
        for ns in ns_records:
            target = ns.rdata.label
            glue += self.rrset(target, QTYPE.A) + self.rrset(target, QTYPE.AAAA)
        return glue


def _soa(origin: str, mname: str) -> RR:
    return RR(
        origin,
        QTYPE.SOA,
        ttl=86400,
        rdata=SOA(mname, f"hostmaster.{mname}", (2024060101, 1800, 900, 604800, 3600)),
    )


def root_zone(*, root_ip: str, tld_ip: str) -> Zone:
    """``.``: knows itself and delegates ``test.`` to the TLD server (with glue)."""
    return Zone.from_records(
        ".",
        [
            _soa(".", ROOT_NS),
            RR(".", QTYPE.NS, ttl=518400, rdata=NS(ROOT_NS)),
            RR("test.", QTYPE.NS, ttl=172800, rdata=NS(TLD_NS)),
            RR(TLD_NS, QTYPE.A, ttl=172800, rdata=A(tld_ip)),
            RR(ROOT_NS, QTYPE.A, ttl=518400, rdata=A(root_ip)),
        ],
    )


def tld_zone(
    *,
    root_ip: str,
    tld_ip: str,
    authoritative_ip: str,
    child: str = "netlearn.test.",
    child_ns: str = "ns1.netlearn.test.",
) -> Zone:
    """``test.``: delegates ``netlearn.test.`` to the authoritative server (with glue)."""
    return Zone.from_records(
        "test.",
        [
            _soa("test.", TLD_NS),
            RR("test.", QTYPE.NS, ttl=172800, rdata=NS(TLD_NS)),
            RR(TLD_NS, QTYPE.A, ttl=172800, rdata=A(tld_ip)),
            RR(ROOT_NS, QTYPE.A, ttl=518400, rdata=A(root_ip)),
            RR(child, QTYPE.NS, ttl=86400, rdata=NS(child_ns)),
            RR(child_ns, QTYPE.A, ttl=86400, rdata=A(authoritative_ip)),
        ],
    )
