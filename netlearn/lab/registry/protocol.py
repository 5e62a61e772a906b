"""The service registry, sans-I/O: strict JSON messages and the table of leases they act on.

Theory of operation (Eureka's, scaled down)
-------------------------------------------
An instance *registers* (service, instance id, address, zone) and gets a lease; it *renews* the
lease with a heartbeat every ``interval``; a lease not renewed for ``interval × missed`` is
*evicted* by a periodic sweep; a clean shutdown *cancels* it. Clients *fetch* a service's live
instances and cache them; the table's ``version`` rises on every change, so a client can tell
whether its cache is stale.

Everything here is pure: messages are parsed from bytes (:func:`parse_message`, which rejects
anything malformed with a :class:`RegistryError` carrying a stable code), and :class:`LeaseTable`
takes ``now`` as an argument — the shell owns the clock. Bounded: payload size, number of
instances, name lengths; addresses must be on loopback.
"""
from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
ZONE = re.compile(r"^[a-z0-9-]{1,32}$")


class RegistryError(ValueError):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

    def as_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": str(self)}


@dataclass(frozen=True)
class Register:
    service: str
    instance_id: str
    host: str
    port: int
    zone: str = "default"


@dataclass(frozen=True)
class Renew:
    service: str
    instance_id: str


@dataclass(frozen=True)
class Cancel:
    service: str
    instance_id: str


@dataclass(frozen=True)
class Fetch:
    service: str


Message = Register | Renew | Cancel | Fetch
_FIELDS = {"register": {"op", "service", "instance_id", "host", "port", "zone"},
           "renew": {"op", "service", "instance_id"}, "cancel": {"op", "service", "instance_id"},
           "fetch": {"op", "service"}}


def parse_message(body: bytes, *, max_payload: int = 4096) -> Message:
    """Bytes → one message, or :class:`RegistryError`. Unknown fields are errors, not ignored."""
    if len(body) > max_payload:
        raise RegistryError("payload_too_large", f"messages are limited to {max_payload} bytes", 413)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RegistryError("malformed_json", "the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise RegistryError("not_an_object", "a message is a JSON object")
    op = doc.get("op")
    if op not in _FIELDS:
        raise RegistryError("unknown_op", f"op must be one of {sorted(_FIELDS)}, not {str(op)[:32]!r}")
    extra = set(doc) - _FIELDS[op]
    if extra:
        raise RegistryError("unknown_field", f"{op} does not take {sorted(extra)}")
    service = _name(doc, "service")
    if op == "fetch":
        return Fetch(service)
    instance_id = _name(doc, "instance_id")
    if op == "renew":
        return Renew(service, instance_id)
    if op == "cancel":
        return Cancel(service, instance_id)
    host = doc.get("host")
    try:
        if not isinstance(host, str) or not ipaddress.IPv4Address(host).is_loopback:
            raise ValueError
    except ValueError:
        raise RegistryError("bad_address", "host must be an IPv4 loopback address (127.0.0.0/8)") from None
    port = doc.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise RegistryError("bad_port", "port must be an integer from 1 to 65535")
    zone = doc.get("zone", "default")
    if not isinstance(zone, str) or not ZONE.match(zone):
        raise RegistryError("bad_zone", "zone must be 1-32 characters of a-z, 0-9 and '-'")
    return Register(service, instance_id, host, port, zone)


def _name(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not NAME.match(value):
        raise RegistryError(f"bad_{key}", f"{key} must be 1-64 characters of a-z, 0-9, '.' and '-'")
    return value


@dataclass
class Lease:
    registration: Register
    registered_at: float
    last_renewal: float
    renewals: int = 0

    def as_dict(self, now: float) -> dict[str, Any]:
        r = self.registration
        return {"instance_id": r.instance_id, "host": r.host, "port": r.port, "zone": r.zone,
                "renewals": self.renewals, "age_ms": round((now - self.registered_at) * 1000, 1),
                "since_renewal_ms": round((now - self.last_renewal) * 1000, 1)}


@dataclass
class LeaseTable:
    lease_duration: float
    max_instances: int = 64
    version: int = 0
    leases: dict[tuple[str, str], Lease] = field(default_factory=dict)

    def register(self, message: Register, now: float) -> Lease:
        key = (message.service, message.instance_id)
        if key not in self.leases and len(self.leases) >= self.max_instances:
            raise RegistryError("registry_full", f"the registry holds at most {self.max_instances} instances", 503)
        lease = Lease(message, now, now)
        self.leases[key] = lease
        self.version += 1
        return lease

    def renew(self, message: Renew, now: float) -> Lease:
        lease = self.leases.get((message.service, message.instance_id))
        if lease is None:
            # Eureka answers 404 too: the instance must register again (it was evicted, or never was).
            raise RegistryError("unknown_instance",
                                f"{message.service}/{message.instance_id} is not registered: register first", 404)
        lease.last_renewal = now
        lease.renewals += 1
        return lease

    def cancel(self, message: Cancel) -> Lease:
        lease = self.leases.pop((message.service, message.instance_id), None)
        if lease is None:
            raise RegistryError("unknown_instance", f"{message.service}/{message.instance_id} is not registered", 404)
        self.version += 1
        return lease

    def expired(self, now: float) -> list[Lease]:
        """Remove and return every lease older than its duration: the eviction sweep."""
        gone = [k for k, lease in self.leases.items() if now - lease.last_renewal > self.lease_duration]
        evicted = [self.leases.pop(k) for k in gone]
        if evicted:
            self.version += 1
        return evicted

    def snapshot(self, service: str, now: float) -> dict[str, Any]:
        instances = [lease.as_dict(now) for (svc, _), lease in sorted(self.leases.items()) if svc == service]
        return {"service": service, "version": self.version, "instances": instances}
