"""The lab's capture as one object: open the sniffer when possible, follow each walk, hand back
its frames and a summary, and say plainly why frames are rebuilt when capture is impossible.

The walk ends when its last packet and its last event are in (``settle``): every TCP conversation
seen on the wire closed (FINs both ways, each acknowledged, or a RST) and every connection a
component reported opening reported closed. A deadline bounds the wait; passing it marks the walk
``cut_short`` instead of silently dropping what came late.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import Any

from ..events import Kind, LabEvent
from .frames import app_ports, frames_from_capture, frames_from_events
from .keylog import collect_keylog
from .sniffer import CaptureUnavailable, Sniffer, WalkCapture, clock_offset_ns, lab_ports

log = logging.getLogger(__name__)

#: Longest wait, after the walker is done, for the closes a walk expects.
CLOSE_DEADLINE_SECONDS = 2.0
#: Components that report a CLOSE for every connection they ACCEPT (the TLS and QUIC servers do not).
CLOSING_COMPONENTS = ("l4", "l7")


def capture_setting() -> str:
    """``NETLEARN_CAPTURE``: ``auto`` (capture when possible, the default) or ``off`` (rebuild)."""
    value = os.environ.get("NETLEARN_CAPTURE", "auto").strip().lower()
    return value if value in ("auto", "off") else "auto"


class LabCapture:
    def __init__(self, setting: str | None = None) -> None:
        self.setting = setting or capture_setting()
        self.sniffer: Sniffer | None = None
        self.reason = "capture switched off (NETLEARN_CAPTURE=off)" if self.setting == "off" else ""
        self.ports: dict[tuple[str, int], str] = {}
        #: bench/walk sets this to time walks without capture on the same lab, walk by walk.
        self.paused = False

    @property
    def mode(self) -> str:
        return "captured" if self.sniffer is not None else "rebuilt"

    def start(self, lab: Any) -> None:
        endpoints = lab.endpoints()
        self.ports = app_ports(endpoints)
        if self.setting == "off":
            return
        try:
            self.sniffer = Sniffer.open(lab_ports(endpoints))
        except CaptureUnavailable as exc:
            self.reason = exc.reason
            log.warning("walks will show rebuilt packets: %s", exc.reason)
            return
        try:
            self.sniffer.attach(asyncio.get_running_loop())
        except (NotImplementedError, OSError, RuntimeError) as exc:  # a loop that cannot watch the socket
            self.sniffer.close()
            self.sniffer, self.reason = None, f"capture socket cannot be watched here: {exc}"
            return
        lab.stream.correlator.bind_hooks.append(self.sniffer.on_bind)

    def close(self, lab: Any) -> None:
        if self.sniffer is not None:
            try:
                lab.stream.correlator.bind_hooks.remove(self.sniffer.on_bind)
            except ValueError:
                pass
            self.sniffer.close()
            self.sniffer = None

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"mode": self.mode, "setting": self.setting}
        if self.reason:
            described["reason"] = self.reason
        if self.sniffer is not None:
            described["frames_seen"] = self.sniffer.frames_seen
            described["kernel_drops"] = self.sniffer.kernel_drops
        return described

    # -- one walk --------------------------------------------------------------------------
    def begin(self, correlation_id: str) -> WalkCapture | None:
        return self.sniffer.start_walk(correlation_id) if self.sniffer is not None and not self.paused else None

    async def settle(self, stream: Any, correlation_id: str, events: list[LabEvent], capture: WalkCapture | None,
                     *, deadline: float = CLOSE_DEADLINE_SECONDS) -> bool:
        """Wait until the walk's expected closes are in; True when the deadline cut it short."""
        waiter = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_event(event: LabEvent) -> None:
            if event.kind == Kind.CLOSE:
                waiter.set()

        unsubscribe = stream.subscribe(on_event, correlation_id=correlation_id)
        if capture is not None:
            capture.waiter = waiter
        end = loop.time() + deadline
        try:
            while True:
                if self.sniffer is not None:
                    self.sniffer.drain()
                if not _open_connections(events) and (capture is None or capture.open_flows() == 0):
                    return False
                remaining = end - loop.time()
                if remaining <= 0:
                    return True
                waiter.clear()
                try:  # woken by a FIN/RST frame or a CLOSE event; the short cap re-checks anyway
                    async with asyncio.timeout(min(remaining, 0.05)):  # no task per turn, as wait_for made
                        await waiter.wait()
                except TimeoutError:
                    pass
        finally:
            unsubscribe()
            if capture is not None:
                capture.waiter = None

    def collect(self, correlation_id: str, capture: WalkCapture | None, events: Iterable[LabEvent], *,
                cut_short: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The walk's frames and the summary stored as ``detail["capture"]``."""
        keylog = collect_keylog(correlation_id)
        taken = self.sniffer.finish_walk(correlation_id) if capture is not None and self.sniffer else None
        if taken is not None:
            frames = frames_from_capture(taken, self.ports)
            summary = {"mode": "captured", "reason": "", "lost": taken.lost, "kernel_drops": max(0, taken.kernel_drops)}
        else:
            frames = frames_from_events(events, self.ports, clock_offset_ns=clock_offset_ns(),
                                        reason=self.reason or "capture unavailable")
            reason = "capture paused" if self.paused and self.sniffer is not None else self.reason
            summary = {"mode": "rebuilt", "reason": reason, "lost": 0, "kernel_drops": 0}
        summary.update(frames=len(frames), cut_short=cut_short, keylog=keylog)
        return frames, summary


def _open_connections(events: list[LabEvent]) -> int:
    """Connections a component reported opening and has not reported closing yet."""
    opened: dict[tuple, int] = {}
    for event in list(events):
        kind = event.kind  # most events are none of these three: they cost one comparison each
        if kind not in _OPEN_OR_CLOSE or event.transport == "udp" or event.src is None or event.dst is None:
            continue
        pair = frozenset((event.src, event.dst))
        if kind == Kind.CONNECT and event.component == "client":
            opened[("client", pair)] = opened.get(("client", pair), 0) + 1
        elif kind == Kind.ACCEPT and event.layer == 4 and (
                event.component in CLOSING_COMPONENTS or event.component.startswith("backend-")):
            opened[(event.component, pair)] = opened.get((event.component, pair), 0) + 1
        elif kind == Kind.CLOSE and (event.component, pair) in opened:
            opened[(event.component, pair)] -= 1
    return sum(1 for count in opened.values() if count > 0)


_OPEN_OR_CLOSE = frozenset((Kind.CONNECT, Kind.ACCEPT, Kind.CLOSE))
