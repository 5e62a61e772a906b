"""The one vocabulary every lab component reports in.

An event is a small immutable record of something that *really* happened on a socket or inside a
component: which component, which OSI layer, what kind of thing, between which endpoints, with
the real bytes where there are bytes. Events carry a correlation id so that everything one
walk caused can be gathered; components rarely know it themselves, the stream fills it in from
the endpoints (see :class:`~netlearn.lab.stream.Correlator`).
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any, NamedTuple

#: Bodies and other payloads are kept up to this many bytes; ``data_len`` keeps the true size.
MAX_EVENT_BYTES = 4096


class Endpoint(NamedTuple):
    """An IP address and port, as a socket reports it."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def of(cls, sockname: Any) -> Endpoint:
        """Build from ``getsockname()``/``getpeername()`` output (IPv6 tuples have 4 items)."""
        return cls(str(sockname[0]), int(sockname[1]))


class Kind(str, Enum):
    """What sort of thing happened. Values are stable: templates and stored walks use them."""

    QUERY = "query"
    REFERRAL = "referral"
    ANSWER = "answer"
    CACHE = "cache"
    CONNECT = "connect"
    ACCEPT = "accept"
    FORWARD = "forward"
    CHOOSE = "choose"
    HEALTH_CHECK = "health_check"
    HANDLER = "handler"
    REQUEST = "request"
    RESPONSE = "response"
    CLOSE = "close"
    ERROR = "error"
    CONTROL = "control"
    STEP = "step"
    #: Added with netlearn/lab/tls and netlearn/lab/modern (issue 8).
    TLS_RECORD = "tls_record"  # layer 6: one TLS record really exchanged
    FRAME = "frame"  # layer 7: one HTTP/2 or HTTP/3 frame
    PACKET = "packet"  # layer 4: one UDP datagram of QUIC packets


#: The detail of an event that has none: one shared, read-only, empty mapping.
_NO_DETAIL: Mapping[str, Any] = MappingProxyType({})
_new_tuple = tuple.__new__


def sockaddr_endpoint(address: tuple[Any, ...]) -> Endpoint:
    """A socket's own address (``accept``, ``getsockname``: ``(str, int)``, or IPv6's 4-tuple) as an
    Endpoint, without :meth:`Endpoint.of`'s conversions: the L4 balancer makes two a connection."""
    return _new_tuple(Endpoint, address[:2])
_perf_counter = time.perf_counter


class _EventFields(NamedTuple):
    component: str
    layer: int
    kind: Kind
    summary: str
    src: Endpoint | None = None
    dst: Endpoint | None = None
    data: bytes = b""
    data_len: int = 0
    detail: Mapping[str, Any] = _NO_DETAIL
    correlation_id: str | None = None
    ts: float = 0.0
    transport: str | None = None  # "udp" | "tcp" | None


class LabEvent(_EventFields):
    """One thing that happened in the lab.

    ``ts`` is ``time.perf_counter()`` seconds (taken at construction when not given): monotonic
    and fine-grained, so differences between events are real durations; it has no meaning as a
    wall-clock time.

    A named tuple, hence immutable, rather than a frozen dataclass: a frozen dataclass sets each
    of its twelve fields through ``object.__setattr__``, which made building one ~2 µs, and the L4
    balancer builds four per connection (issue 18). Use :meth:`replace` for a changed copy.
    """

    __slots__ = ()

    def __new__(cls, component: str, layer: int, kind: Kind, summary: str, src: Endpoint | None = None,
                dst: Endpoint | None = None, data: bytes = b"", data_len: int = 0,
                detail: Mapping[str, Any] = _NO_DETAIL, correlation_id: str | None = None,
                ts: float | None = None, transport: str | None = None) -> LabEvent:
        return _new_tuple(cls, (component, layer, kind, summary, src, dst, data, data_len, detail, correlation_id,
                                _perf_counter() if ts is None else ts, transport))

    def replace(self, **changes: Any) -> LabEvent:
        """A copy with ``changes`` applied (as ``dataclasses.replace`` for the dataclass it was)."""
        return self._replace(**changes)

    def with_correlation(self, correlation_id: str) -> LabEvent:
        """A copy that carries ``correlation_id``: what the stream does to most events, spelled out
        (``_replace`` goes through keyword arguments and a generic ``_make``, ~4× the cost)."""
        return _new_tuple(LabEvent, (*self[:9], correlation_id, *self[10:]))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (bytes as hex) for stored walks and ``--json`` output. Unpacked once
        rather than read field by field: a walk converts each of its events twice (live, stored)."""
        component, layer, kind, summary, src, dst, data, data_len, detail, correlation_id, ts, transport = self
        return {
            "component": component,
            "layer": layer,
            "kind": kind.value,
            "summary": summary,
            "src": list(src) if src else None,
            "dst": list(dst) if dst else None,
            "transport": transport,
            "data_hex": data.hex(),
            "data_len": data_len,
            "detail": _jsonable(detail) if detail else {},
            "correlation_id": correlation_id,
            "ts": ts,
        }


def make_event(
    *,
    component: str,
    layer: int,
    kind: Kind,
    summary: str,
    src: Endpoint | tuple[str, int] | None = None,
    dst: Endpoint | tuple[str, int] | None = None,
    data: bytes = b"",
    detail: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
    transport: str | None = None,
) -> LabEvent:
    """Build an event, truncating ``data`` and freezing ``detail`` (a read-only copy)."""
    return build_event(component, layer, kind, summary, src, dst, data, detail, correlation_id, transport)


def build_event(component: str, layer: int, kind: Kind, summary: str, src: Endpoint | tuple[str, int] | None,
                dst: Endpoint | tuple[str, int] | None, data: bytes, detail: Mapping[str, Any] | None,
                correlation_id: str | None, transport: str | None) -> LabEvent:
    """:func:`make_event` with positional arguments (for :meth:`EventStream.emit`: one call fewer)."""
    return _new_tuple(LabEvent, (
        component,
        layer,
        kind,
        summary,
        src if src is None or type(src) is Endpoint else Endpoint(*src),
        dst if dst is None or type(dst) is Endpoint else Endpoint(*dst),
        bytes(data[:MAX_EVENT_BYTES]) if data else b"",
        len(data),
        MappingProxyType(dict(detail)) if detail else _NO_DETAIL,
        correlation_id,
        _perf_counter(),
        transport,
    ))


def owned_event(component: str, layer: int, kind: Kind, summary: str, src: Endpoint | None, dst: Endpoint | None,
                detail: dict[str, Any], correlation_id: str | None, transport: str | None) -> LabEvent:
    """:func:`make_event` for a hot path (the L4 balancer's four events per connection): positional,
    no payload, ``src``/``dst`` already :class:`Endpoint` (or None), and ``detail`` a dict the caller
    has just built and hands over (it is wrapped read-only, not copied)."""
    return _new_tuple(LabEvent, (component, layer, kind, summary, src, dst, b"", 0, MappingProxyType(detail),
                                 correlation_id, _perf_counter(), transport))


def ms3(seconds: float) -> float:
    """A non-negative duration in milliseconds to the microsecond, as ``round(seconds * 1000, 3)``
    gives it (but at an exact tie): float ``round`` with digits goes through a decimal string and
    back, ~3× this, and the L4 balancer reports two durations per connection (issue 18)."""
    return int(seconds * 1_000_000 + 0.5) / 1000


#: The types JSON takes as they are (a value of one of these is returned unchanged).
_PLAIN = frozenset((str, int, float, bool, type(None)))


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data: bytes as hex, mappings as dicts with string keys, sequences as lists,
    enums as their values, anything else unknown as its ``str()``. The exact built-in types come
    first (nearly every value in an event's detail), the general checks after them; a plain
    value inside a dict or a list is taken as it is, without a call (a walk's details hold ~550)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict or kind is MappingProxyType:
        return {k if type(k) is str else str(k): v if type(v) in _PLAIN else _jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else _jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
