"""Capture the lab's real frames on ``lo``: an ``AF_PACKET`` socket read on the lab's own loop.

Theory of operation
-------------------
Linux hands every frame that crosses ``lo`` to a packet socket bound to it, with a 14-byte
Ethernet header of zero MACs and the kernel's own timestamp (``SO_TIMESTAMPNS``). Loopback
delivers each frame twice (once outgoing, once incoming); a classic BPF program attached to the
socket drops the outgoing copy and everything that does not touch one of *this* lab's listening
ports, so the kernel discards other labs' and the site's traffic before Python sees it.

The socket is non-blocking and read by ``loop.add_reader`` on the lab's loop: no thread, no lock,
and a frame's bookkeeping happens on the same loop that publishes events. A frame belongs to a
walk when its source or destination endpoint was bound to the walk's correlation id (the
:class:`~netlearn.lab.stream.Correlator`'s bind hook tells us; we keep the endpoints until the walk
is collected, because the last FIN crosses after the lab has unbound them). Everything else is
dropped at once, so memory is bounded by the running walks, each of which keeps at most
``max_frames`` frames and ``max_bytes`` bytes and counts the rest as lost.

Each TCP conversation's close is followed on the wire (FIN from both sides, each acknowledged, or
a RST), so a walk can wait for its last packet instead of sleeping a fixed time.
"""
from __future__ import annotations

import asyncio
import ctypes
import socket
import struct
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..events import Endpoint

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
PACKET_OUTGOING = 4
SNAPLEN = 262144
RECEIVE_BUFFER = 8 << 20
#: Frames handled per readiness callback before the loop gets a turn again.
DRAIN_BATCH = 512

TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10

#: Why a lab without capture rebuilds its frames (the page and /healthz say it).
NEEDS_PRIVILEGE = "capture needs CAP_NET_RAW"


class CaptureUnavailable(Exception):
    """The packet socket cannot be opened here; ``reason`` says why, in a learner's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class RawFrame:
    ts_ns: int  # CLOCK_REALTIME nanoseconds, from the kernel
    data: bytes


@dataclass
class _TcpFlow:
    """Close state of one TCP conversation, from the wire. ``fin_end[side]`` is the ACK number
    that acknowledges that side's FIN; ``acked`` the sides whose FIN the other side acknowledged."""

    fin_end: dict[tuple[str, int], int] = field(default_factory=dict)
    acked: set[tuple[str, int]] = field(default_factory=set)
    reset: bool = False

    @property
    def closed(self) -> bool:
        return self.reset or (len(self.fin_end) == 2 and len(self.acked) == 2)


@dataclass
class WalkCapture:
    """One walk's frames (bounded) and what is known about its conversations."""

    correlation_id: str
    max_frames: int
    max_bytes: int
    #: ``time.time_ns() - time.perf_counter_ns()`` when the walk began: kernel time → event clock.
    clock_offset_ns: int
    frames: list[RawFrame] = field(default_factory=list)
    lost: int = 0
    kernel_drops: int = 0
    stored_bytes: int = 0
    flows: dict[frozenset, _TcpFlow] = field(default_factory=dict)
    waiter: asyncio.Event | None = None

    def add(self, frame: RawFrame) -> None:
        if len(self.frames) >= self.max_frames or self.stored_bytes + len(frame.data) > self.max_bytes:
            self.lost += 1
            return
        self.frames.append(frame)
        self.stored_bytes += len(frame.data)

    def open_flows(self) -> int:
        return sum(1 for flow in self.flows.values() if not flow.closed)

    def perf_seconds(self, ts_ns: int) -> float:
        """A kernel timestamp on the events' ``time.perf_counter()`` clock."""
        return (ts_ns - self.clock_offset_ns) / 1e9


def clock_offset_ns() -> int:
    """``CLOCK_REALTIME - perf_counter`` in ns; the tightest of a few samples (a sample taken
    across a thread switch would be off by the switch)."""
    best: tuple[int, int] | None = None
    for _ in range(5):
        before = time.perf_counter_ns()
        wall = time.time_ns()
        after = time.perf_counter_ns()
        if best is None or after - before < best[0]:
            best = (after - before, wall - (before + after) // 2)
    assert best is not None
    return best[1]


def bpf_program(ports: Iterable[int]) -> list[tuple[int, int, int, int]]:
    """Classic BPF: keep incoming IPv4 TCP/UDP frames whose source or destination port is one of
    ``ports`` (the lab's listeners); drop the rest in the kernel. Instructions are
    ``(code, jump-if-true, jump-if-false, k)``; "DROP"/"KEEP" jumps are resolved at the end."""
    wanted = sorted({p for p in ports if 0 < p < 65536})
    Jump = int | str
    prog: list[tuple[int, Jump, Jump, int]] = [
        (0x20, 0, 0, 0xFFFFF004),  # ld pkttype (SKF_AD_OFF + SKF_AD_PKTTYPE)
        (0x15, "DROP", 0, PACKET_OUTGOING),  # loopback's outgoing copy
        (0x28, 0, 0, 12),  # ldh ethertype
        (0x15, 0, "DROP", 0x0800),  # IPv4 only
        (0x30, 0, 0, 23),  # ldb IP protocol
        (0x15, 1, 0, 6),  # TCP
        (0x15, 0, "DROP", 17),  # or UDP
        (0xB1, 0, 0, 14),  # ldxb 4*([14]&0xf): IP header length
    ]
    for offset in (14, 16):  # source port, then destination port: ldh [x + 14 + 0|2]
        prog.append((0x48, 0, 0, offset))
        prog += [(0x15, "KEEP", 0, port) for port in wanted]
    target = {"DROP": len(prog), "KEEP": len(prog) + 1}
    prog += [(0x06, 0, 0, 0), (0x06, 0, 0, SNAPLEN)]
    return [(code, target[jt] - i - 1 if isinstance(jt, str) else jt, target[jf] - i - 1 if isinstance(jf, str) else jf,
             k) for i, (code, jt, jf, k) in enumerate(prog)]


def _attach_filter(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    raw = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(raw)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_packet_socket(ports: Iterable[int], *, interface: str = "lo") -> socket.socket:
    """A non-blocking packet socket on ``interface`` with kernel timestamps and the lab's filter.
    Raises :class:`CaptureUnavailable` where that is impossible."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "AF_PACKET"):
        raise CaptureUnavailable("capture needs Linux packet sockets")
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        raise CaptureUnavailable(NEEDS_PRIVILEGE) from None
    except OSError as exc:
        raise CaptureUnavailable(f"capture socket unavailable: {exc.strerror or exc}") from None
    try:
        # Filter first, then bind: no unfiltered frame is ever queued.
        _attach_filter(sock, bpf_program(ports))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((interface, 0))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise CaptureUnavailable(f"capture socket unavailable: {exc.strerror or exc}") from None
    return sock


class Sniffer:
    """The lab's capture: one packet socket, per-walk buffers, endpoint ownership."""

    def __init__(self, sock: socket.socket, *, max_frames: int = 2000, max_bytes: int = 4 << 20) -> None:
        self._sock = sock
        self._buffer = bytearray(SNAPLEN)
        self._view = memoryview(self._buffer)
        self._ancillary = socket.CMSG_SPACE(16)
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self._walks: dict[str, WalkCapture] = {}
        self._owners: dict[tuple[str, int], str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.kernel_drops = 0
        self.frames_seen = 0

    @classmethod
    def open(cls, ports: Iterable[int], **options: int) -> Sniffer:
        return cls(open_packet_socket(ports), **options)

    # -- lifetime --------------------------------------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self._sock.fileno(), self._drain)

    def close(self) -> None:
        if self._loop is not None:
            try:
                self._loop.remove_reader(self._sock.fileno())
            except (ValueError, RuntimeError):
                pass
        self._sock.close()

    # -- walks -----------------------------------------------------------------------------
    def start_walk(self, correlation_id: str) -> WalkCapture:
        self._poll_kernel_drops()
        capture = WalkCapture(correlation_id, self.max_frames, self.max_bytes, clock_offset_ns(),
                              kernel_drops=-self.kernel_drops)
        self._walks[correlation_id] = capture
        return capture

    def on_bind(self, endpoint: tuple[str, int], correlation_id: str) -> None:
        """The correlator's bind hook: an endpoint of a captured walk is that walk's until the
        walk is collected (its FIN may cross after the lab has unbound it)."""
        if correlation_id in self._walks:
            self._owners[(endpoint[0], endpoint[1])] = correlation_id

    def finish_walk(self, correlation_id: str) -> WalkCapture | None:
        """Take the walk's frames (reading what the kernel still holds first)."""
        self._drain()
        capture = self._walks.pop(correlation_id, None)
        if capture is None:
            return None
        self._poll_kernel_drops()
        capture.kernel_drops += self.kernel_drops
        for endpoint in [e for e, cid in self._owners.items() if cid == correlation_id]:
            del self._owners[endpoint]
        return capture

    def drain(self) -> None:
        """Read every frame the kernel holds now (before deciding that a walk is complete)."""
        self._drain()

    # -- frames ----------------------------------------------------------------------------
    def _drain(self) -> None:
        sock, buffer, view = self._sock, self._buffer, self._view
        for _ in range(DRAIN_BATCH):
            try:
                size, ancdata, _flags, _address = sock.recvmsg_into([buffer], self._ancillary)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            ts_ns = 0
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    seconds, nanos = struct.unpack_from("qq", value)
                    ts_ns = seconds * 1_000_000_000 + nanos
            self.frames_seen += 1
            self._on_frame(ts_ns or time.time_ns(), bytes(view[:size]))  # one copy (a bytearray slice is two)

    def _on_frame(self, ts_ns: int, frame: bytes) -> None:
        if len(frame) < 34 or not self._owners:
            return
        ihl = (frame[14] & 0x0F) * 4
        l4 = 14 + ihl
        if len(frame) < l4 + 8:
            return
        src = (socket.inet_ntoa(frame[26:30]), (frame[l4] << 8) | frame[l4 + 1])
        dst = (socket.inet_ntoa(frame[30:34]), (frame[l4 + 2] << 8) | frame[l4 + 3])
        cid = self._owners.get(src) or self._owners.get(dst)
        capture = self._walks.get(cid) if cid is not None else None
        if capture is None:
            return
        capture.add(RawFrame(ts_ns, frame))
        if frame[23] == 6 and len(frame) >= l4 + 20:
            self._track_tcp(capture, frame, l4, src, dst, ihl)

    @staticmethod
    def _track_tcp(capture: WalkCapture, frame: bytes, l4: int, src: tuple[str, int], dst: tuple[str, int],
                   ihl: int) -> None:
        seq, ack = struct.unpack_from("!II", frame, l4 + 4)
        flags = frame[l4 + 13]
        key = frozenset((src, dst))
        flow = capture.flows.get(key)
        if flow is None:
            flow = capture.flows[key] = _TcpFlow()
        changed = False
        if flags & TCP_RST:
            flow.reset = changed = True
        if flags & TCP_FIN:
            total = struct.unpack_from("!H", frame, 16)[0]
            payload = total - ihl - (frame[l4 + 12] >> 4) * 4
            flow.fin_end[src] = (seq + payload + 1) & 0xFFFFFFFF
            changed = True
        if flags & TCP_ACK and dst in flow.fin_end and ack == flow.fin_end[dst]:
            flow.acked.add(dst)
            changed = True
        if changed and capture.waiter is not None:
            capture.waiter.set()

    def _poll_kernel_drops(self) -> None:
        try:
            _packets, drops = struct.unpack("II", self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        except OSError:
            return
        self.kernel_drops += drops  # the kernel resets its counters on every read


def lab_ports(endpoints: dict) -> set[int]:
    """Every listening port in ``Lab.endpoints()`` (nested dicts and lists)."""
    ports: set[int] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("port"), int):
                ports.add(value["port"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(endpoints)
    return ports


__all__ = ["CaptureUnavailable", "Endpoint", "RawFrame", "Sniffer", "WalkCapture", "bpf_program", "clock_offset_ns",
           "lab_ports", "open_packet_socket"]
