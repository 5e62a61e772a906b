"""The browser's HTTP/2 connection (the ``h2`` state machine) over a :class:`TlsClientConnection`.

Every frame really sent or received becomes a layer-7 event: hyperframe splits the bytes into
frames (so sizes and flags are the wire's), and h2's own events supply what only a stateful HPACK
decoder can know, the header list a HEADERS frame carried. Several requests go out back to back
on one connection, each on its own stream, and their answers interleave: that is multiplexing,
and the waterfall shows it against HTTP/1.1 waiting for each answer in turn.
"""
from __future__ import annotations

import time
from typing import Any

import h2.config
import h2.connection
import h2.events
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, SettingsFrame, WindowUpdateFrame

from ..events import Kind
from ..stream import EventStream
from .http_client import USER_AGENT
from .tls_client import TlsClientConnection, TlsFailure

COMPONENT = "client"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: Frames that ask the server for something; the rest (ACKs, WINDOW_UPDATE, GOAWAY) do not.
MAX_FRAME_EVENTS = 200


class _FrameSplitter:
    def __init__(self, *, preface: bool) -> None:
        self.buffer = bytearray()
        self.expect_preface = preface

    def feed(self, data: bytes) -> list[tuple[Frame | None, bytes]]:
        self.buffer += data
        out: list[tuple[Frame | None, bytes]] = []
        if self.expect_preface and len(self.buffer) >= len(PREFACE):
            self.expect_preface = False
            if bytes(self.buffer[:len(PREFACE)]) == PREFACE:
                out.append((None, PREFACE))
                del self.buffer[:len(PREFACE)]
        while len(self.buffer) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(bytes(self.buffer[:9])))
            if len(self.buffer) < 9 + length:
                break
            raw = bytes(self.buffer[:9 + length])
            frame.parse_body(memoryview(raw[9:]))
            out.append((frame, raw))
            del self.buffer[:9 + length]
        return out


class H2Client:
    def __init__(self, *, conn: TlsClientConnection, stream: EventStream, correlation_id: str, authority: str) -> None:
        self.conn, self.stream, self.cid, self.authority = conn, stream, correlation_id, authority
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.sent = _FrameSplitter(preface=True)
        self.received = _FrameSplitter(preface=False)
        self.frames = 0
        self.started = False
        self.sent_headers: dict[int, list[tuple[str, str]]] = {}

    def _send(self, *, expect: str | None = None, decoded: dict[int, list[tuple[str, str]]] | None = None) -> None:
        data = self.h2.data_to_send()
        if not data:
            return
        self._emit_frames("client", self.sent.feed(data), decoded or {})
        self.conn.send(data, expect=expect)

    def _emit_frames(self, direction: str, frames: list[tuple[Frame | None, bytes]],
                     decoded: dict[int, list[tuple[str, str]]]) -> None:
        src, dst = (self.conn.local, self.conn.remote) if direction == "client" else (self.conn.remote, self.conn.local)
        arrow = "→" if direction == "client" else "←"
        for frame, raw in frames:
            self.frames += 1
            if self.frames > MAX_FRAME_EVENTS:
                return
            if frame is None:
                self.stream.emit(component=COMPONENT, layer=7, kind=Kind.FRAME, src=src, dst=dst, data=raw,
                                 transport="tcp", correlation_id=self.cid,
                                 summary="HTTP/2 → connection preface (PRI * HTTP/2.0): “I speak HTTP/2”",
                                 detail={"protocol": "h2", "frame": "PREFACE", "direction": direction,
                                         "length": len(raw), "expects_answer": False})
                continue
            name = type(frame).__name__.replace("Frame", "").upper()
            flags = sorted(frame.flags)
            detail: dict[str, Any] = {"protocol": "h2", "frame": name, "direction": direction,
                                      "stream_id": frame.stream_id, "flags": flags, "length": len(raw) - 9,
                                      "expects_answer": direction == "client" and isinstance(frame, HeadersFrame)}
            extra = ""
            if isinstance(frame, HeadersFrame):
                headers = decoded.get(frame.stream_id) or []
                plain = sum(len(k) + len(v) for k, v in headers)
                detail.update(headers=[[k, v] for k, v in headers], hpack_bytes=len(frame.data), plain_bytes=plain)
                path = dict(headers).get(":path") or dict(headers).get(":status", "")
                extra = f" {path}: {len(headers)} headers in {len(frame.data)} HPACK bytes (≈{plain} as text)"
            elif isinstance(frame, SettingsFrame):
                detail["settings"] = {str(k): v for k, v in frame.settings.items()}
                extra = " ACK" if "ACK" in flags else f" ({len(frame.settings)} values)"
            elif isinstance(frame, WindowUpdateFrame):
                detail["increment"] = frame.window_increment
                extra = f" +{frame.window_increment} bytes"
            elif isinstance(frame, DataFrame):
                extra = f" {len(frame.data)} bytes" + (" (END_STREAM)" if "END_STREAM" in flags else "")
            elif isinstance(frame, GoAwayFrame):
                detail["last_stream_id"] = frame.last_stream_id
                detail["error_code"] = frame.error_code
            self.stream.emit(component=COMPONENT, layer=7, kind=Kind.FRAME, src=src, dst=dst, data=raw,
                             transport="tcp", correlation_id=self.cid,
                             summary=f"HTTP/2 {arrow} {name} stream {frame.stream_id}{extra}", detail=detail)

    async def fetch_many(self, items: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Send every request at once on its own stream; return when all have ended."""
        if not self.started:
            self.h2.initiate_connection()
            self.started = True
        pending: dict[int, dict[str, Any]] = {}
        decoded: dict[int, list[tuple[str, str]]] = {}
        for path, purpose in items:
            sid = self.h2.get_next_available_stream_id()
            headers = [(":method", "GET"), (":scheme", "https"), (":authority", self.authority), (":path", path),
                       ("user-agent", USER_AGENT), ("accept", "*/*")]
            self.h2.send_headers(sid, headers, end_stream=True)
            decoded[sid] = headers
            pending[sid] = {"stream_id": sid, "target": path, "purpose": purpose, "started": time.perf_counter(),
                            "body": bytearray(), "headers": {}, "status": 0}
            self.stream.emit(component=COMPONENT, layer=7, kind=Kind.REQUEST, src=self.conn.local, dst=self.conn.remote,
                             transport="tcp", correlation_id=self.cid,
                             summary=f"GET {path} ({purpose}) on HTTP/2 stream {sid}"
                                     + (" — multiplexed with the others" if len(items) > 1 else ""),
                             detail={"method": "GET", "target": path, "purpose": purpose, "stream_id": sid,
                                     "protocol": "h2", "multiplexed": len(items) > 1})
        self._send(expect=f"{len(items)} request(s)", decoded=decoded)
        done: list[dict[str, Any]] = []
        while pending:
            data = await self.conn.recv()
            if not data:
                raise TlsFailure("closed", "The server closed the HTTP/2 connection before answering")
            frames = self.received.feed(data)
            events = self.h2.receive_data(data)
            got = {e.stream_id: [(str(k), str(v)) for k, v in e.headers or []] for e in events
                   if isinstance(e, h2.events.ResponseReceived)}
            self._emit_frames("server", frames, got)  # the wire first, then what it meant
            for event in events:
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id in pending:
                    item = pending[event.stream_id]
                    item["headers"] = dict(got[event.stream_id])
                    item["status"] = int(item["headers"].get(":status", 0))
                    item["ttfb"] = time.perf_counter()
                elif isinstance(event, h2.events.DataReceived) and event.stream_id in pending:
                    pending[event.stream_id]["body"] += event.data
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id in pending:
                    item = pending.pop(event.stream_id)
                    self._finish(item)
                    done.append(item)
                elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    raise TlsFailure("h2_reset", f"The server ended the stream or connection: {event}")
            if pending:
                self._send()  # WINDOW_UPDATEs a transfer in progress needs
        # Once every answer is in, the SETTINGS ACK waits for the next flight: a lone 9-byte write
        # followed by another small one is the pattern Nagle's algorithm and delayed ACKs stall.
        return done

    def _finish(self, item: dict[str, Any]) -> None:
        now = time.perf_counter()
        item["body"] = bytes(item["body"])
        elapsed = (now - item["started"]) * 1000
        ttfb = (item.get("ttfb", now) - item["started"]) * 1000
        backend = item["headers"].get("x-backend")
        self.stream.emit(component=COMPONENT, layer=7, kind=Kind.RESPONSE, src=self.conn.remote, dst=self.conn.local,
                         transport="tcp", correlation_id=self.cid,
                         summary=f"{item['status']} for {item['target']} on stream {item['stream_id']}"
                                 + (f" from {backend}" if backend else "") + f", {len(item['body'])} bytes",
                         detail={"status": item["status"], "target": item["target"], "purpose": item["purpose"],
                                 "backend": backend, "body_len": len(item["body"]), "elapsed_ms": round(elapsed, 3),
                                 "ttfb_ms": round(ttfb, 3), "stream_id": item["stream_id"], "protocol": "h2",
                                 "content_type": item["headers"].get("content-type", ""),
                                 "alt_svc": item["headers"].get("alt-svc")})

    def goaway(self) -> None:
        if self.started:
            self.h2.close_connection()
            self._send()
