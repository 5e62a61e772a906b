"""The one event stream: every component publishes, any number of subscribers listen.

Theory of operation
-------------------
Publishing happens on the lab's own event loop thread. Subscribers are plain callables called
synchronously, in order, for every event; they must be quick and must not block (the Django
bridge hands events to another loop with ``call_soon_threadsafe``; a :class:`Recorder` appends
to a bounded list). A subscriber that raises is logged and kept: one bad listener must not stop
the lab.

Correlation: a server sees only bytes and addresses, so it cannot know which walk a packet
belongs to. The client side of a walk (and any component that opens a socket on behalf of
another, like the resolver or a balancer) *binds* its socket's local endpoint to the walk's
correlation id; when any component publishes an event without an id, the stream looks the
event's source and destination endpoints up in the :class:`Correlator`. Ephemeral ports are
unique while a socket lives, so this is exact, and it is the same trick real tracing systems
use when they cannot touch the payload.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from .events import Endpoint, Kind, LabEvent, build_event

#: Live events shown per walk (or demo). A balancer demo causes hundreds; its stored record (and
#: the final render) has them all, and a bounded live stream keeps sockets' queues from filling.
#: The site's bridge publishes at most this many, and a lab in its own process sends no more.
LIVE_EVENT_CAP = 120

log = logging.getLogger(__name__)

Subscriber = Callable[[LabEvent], None]


class Correlator:
    """Maps live socket endpoints to correlation ids. Bounded: oldest bindings fall out."""

    def __init__(self, *, max_bindings: int = 10_000) -> None:
        self._bindings: OrderedDict[Endpoint, str] = OrderedDict()
        self._max = max_bindings
        self._lock = threading.Lock()
        #: Called with (endpoint, correlation id) on every bind: the capture keeps a walk's
        #: endpoints until the walk's last frame is in, long after the lab unbinds them.
        self.bind_hooks: list[Callable[[Endpoint, str], None]] = []
        self._held: dict[str, list[Endpoint]] = {}

    def bind(self, endpoint: Endpoint | tuple[str, int], correlation_id: str) -> None:
        with self._lock:
            key = Endpoint(*endpoint)
            self._bindings[key] = correlation_id
            self._bindings.move_to_end(key)
            while len(self._bindings) > self._max:
                self._bindings.popitem(last=False)
        for hook in self.bind_hooks:
            hook(key, correlation_id)

    def unbind(self, endpoint: Endpoint | tuple[str, int]) -> None:
        with self._lock:
            key = Endpoint(*endpoint)
            cid = self._bindings.get(key)
            if cid is not None and cid in self._held:
                self._held[cid].append(key)  # released with the walk: its late events still belong to it
                return
            self._bindings.pop(key, None)

    def hold(self, correlation_id: str) -> None:
        """Keep every endpoint bound to ``correlation_id`` until :meth:`release`, even once its
        socket is unbound: a server reports a connection's close after the client has let go."""
        with self._lock:
            self._held.setdefault(correlation_id, [])

    def release(self, correlation_id: str) -> None:
        with self._lock:
            for key in self._held.pop(correlation_id, []):
                if self._bindings.get(key) == correlation_id:  # not re-bound by a newer socket meanwhile
                    del self._bindings[key]

    def lookup(self, *endpoints: Endpoint | None) -> str | None:
        """No lock: each ``get`` is one atomic dict operation under the GIL, and a lookup racing a
        bind in another thread may miss it either way. Called for nearly every event (the L4
        balancer: six times a connection), so the lock's cost showed in its profile."""
        bindings = self._bindings
        for endpoint in endpoints:
            if endpoint is not None:
                cid = bindings.get(endpoint)
                if cid is not None:
                    return cid
        return None


class EventStream:
    """Fan-out of :class:`LabEvent` to subscribers, with correlation filled in.

    A subscriber may listen to every event, or only to one correlation id's (a walk's recorder,
    its settle): those are kept by id, so an event reaches its own walk's listeners without
    passing by every other walk's (with 24 walks in flight, each event used to call 24 recorders
    that each threw it away)."""

    def __init__(self, *, correlator: Correlator | None = None) -> None:
        self.correlator = correlator or Correlator()
        self._subscribers: list[Subscriber] = []
        self._by_correlation: dict[str, list[Subscriber]] = {}
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber, *, correlation_id: str | None = None) -> Callable[[], None]:
        """Add a subscriber (to the events of ``correlation_id`` only, when given); returns a
        function that removes it."""
        with self._lock:
            if correlation_id is None:
                self._subscribers = [*self._subscribers, subscriber]
            else:
                self._by_correlation[correlation_id] = [*self._by_correlation.get(correlation_id, ()), subscriber]

        def unsubscribe() -> None:
            with self._lock:
                if correlation_id is None:
                    self._subscribers = [s for s in self._subscribers if s is not subscriber]
                    return
                rest = [s for s in self._by_correlation.get(correlation_id, ()) if s is not subscriber]
                if rest:
                    self._by_correlation[correlation_id] = rest
                else:
                    self._by_correlation.pop(correlation_id, None)

        return unsubscribe

    def publish(self, event: LabEvent) -> LabEvent:
        """Fill in the correlation id from the event's endpoints (when it has none), then :meth:`deliver`."""
        if event.correlation_id is None:
            cid = self.correlator.lookup(event.src, event.dst)
            if cid is not None:
                event = event.with_correlation(cid)
        return self.deliver(event)

    def deliver(self, event: LabEvent) -> LabEvent:
        """Hand ``event`` to its subscribers as it is: for a publisher that has already looked its
        correlation up (the L4 relay does once, at accept, for its four events: a walk binds its
        socket before it connects, and the relay binds its own backend socket to the same id), so
        that every event of a connection that belongs to no walk is not looked up twice more."""
        cid = event.correlation_id
        for subscriber in self._subscribers:  # a snapshot: the list is replaced, never mutated
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber failed")
        if cid is not None:
            for subscriber in self._by_correlation.get(cid, ()):  # also replaced, never mutated
                try:
                    subscriber(event)
                except Exception:
                    log.exception("event subscriber failed")
        return event

    def emit(self, *, component: str, layer: int, kind: Kind, summary: str,
             src: Endpoint | tuple[str, int] | None = None, dst: Endpoint | tuple[str, int] | None = None,
             data: bytes = b"", detail: Mapping[str, Any] | None = None, correlation_id: str | None = None,
             transport: str | None = None) -> LabEvent:
        """Build an event as :func:`~netlearn.lab.events.make_event` does (same keyword arguments)
        and publish it. The arguments are spelled out rather than passed on as ``**fields``:
        packing and unpacking them cost more than building the event itself."""
        return self.publish(build_event(component, layer, kind, summary, src, dst, data, detail, correlation_id,
                                        transport))


class Recorder:
    """Gathers the events of one correlation id (or all), bounded. For walks and tests."""

    def __init__(self, stream: EventStream, *, correlation_id: str | None = None, limit: int = 5000) -> None:
        self.events: list[LabEvent] = []
        self.dropped = 0
        self._cid = correlation_id
        self._limit = limit
        self._unsubscribe = stream.subscribe(self._on_event, correlation_id=correlation_id)

    def _on_event(self, event: LabEvent) -> None:  # only its own id's events reach it (see subscribe)
        if len(self.events) >= self._limit:
            self.dropped += 1
            return
        self.events.append(event)

    def close(self) -> None:
        self._unsubscribe()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def of_kind(self, kind: Kind, component: str | None = None) -> list[LabEvent]:
        return [e for e in self.events if e.kind == kind and (component is None or e.component == component)]
