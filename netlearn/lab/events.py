"""The one vocabulary every lab component reports in.

An event is a small frozen record of something that *really* happened on a socket or inside a
component: which component, which OSI layer, what kind of thing, between which endpoints, with
the real bytes where there are bytes. Events carry a correlation id so that everything one
walk caused can be gathered; components rarely know it themselves, the stream fills it in from
the endpoints (see :class:`~netlearn.lab.stream.Correlator`).
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class LabEvent:
    """One thing that happened in the lab.

    ``ts`` is ``time.perf_counter()`` seconds: monotonic and fine-grained, so differences
    between events are real durations; it has no meaning as a wall-clock time.
    """

    component: str
    layer: int
    kind: Kind
    summary: str
    src: Endpoint | None = None
    dst: Endpoint | None = None
    data: bytes = b""
    data_len: int = 0
    detail: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    correlation_id: str | None = None
    ts: float = field(default_factory=time.perf_counter)
    transport: str | None = None  # "udp" | "tcp" | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (bytes as hex) for stored walks and ``--json`` output."""
        return {
            "component": self.component,
            "layer": self.layer,
            "kind": self.kind.value,
            "summary": self.summary,
            "src": list(self.src) if self.src else None,
            "dst": list(self.dst) if self.dst else None,
            "transport": self.transport,
            "data_hex": self.data.hex(),
            "data_len": self.data_len,
            "detail": _jsonable(dict(self.detail)),
            "correlation_id": self.correlation_id,
            "ts": self.ts,
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
    """Build an event, truncating ``data`` and freezing ``detail``.

    Positional, in :class:`LabEvent`'s field order: a frozen dataclass's keyword ``__init__`` made
    this a quarter slower, and the L4 balancer builds four events per connection."""
    return LabEvent(
        component,
        layer,
        kind,
        summary,
        src if src is None or type(src) is Endpoint else Endpoint(*src),
        dst if dst is None or type(dst) is Endpoint else Endpoint(*dst),
        bytes(data[:MAX_EVENT_BYTES]) if data else b"",
        len(data),
        MappingProxyType(dict(detail) if detail else {}),
        correlation_id,
        time.perf_counter(),
        transport,
    )


def _jsonable(value: Any) -> Any:
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
