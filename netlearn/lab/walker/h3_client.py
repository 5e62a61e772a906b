"""The browser's HTTP/3 connection: QUIC (aioquic) over a UDP socket the walk binds itself.

Why our own socket: ``aioquic.asyncio.connect()`` binds to ``::``, so neither the client's lab
address nor the correlation of its endpoint would be right. Here the socket is bound to the
client host, its endpoint is bound to the walk's correlation id, and the QUIC state machine is
driven through ``create_datagram_endpoint(sock=...)``.

Every datagram really sent or received is a layer-4 event with its bytes; aioquic's
``QuicLogger`` says which QUIC packets it carried (Initial, Handshake, 1-RTT; coalesced packets
share a datagram) and their frames (CRYPTO carries the TLS handshake, STREAM the HTTP/3 bytes).
"""
from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, TextIO

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, QuicEvent
from aioquic.quic.logger import QuicLogger

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..timeouts import wait_for
from ..tls.ca import LabPki
from .http_client import USER_AGENT
from .slowlink import SlowLink
from .tls_client import RoundTrips, TlsFailure

COMPONENT = "client"
PACKET_NAMES = {"initial": "Initial", "handshake": "Handshake", "1RTT": "1-RTT", "0RTT": "0-RTT", "retry": "Retry",
                "version_negotiation": "Version Negotiation"}


class _H3Protocol(QuicConnectionProtocol):
    def __init__(self, quic: QuicConnection, *, client: H3Client) -> None:
        super().__init__(quic)
        self.client = client
        self.h3 = H3Connection(quic)
        self.link = SlowLink(client.rtt.delay, closing=self._transport_closing)

    def _transport_closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def transmit(self) -> None:
        self._transmit_task = None
        datagrams = self._quic.datagrams_to_send(now=self._loop.time())
        packets = self.client.new_packets("packet_sent")
        for data, addr in datagrams:
            self.client.datagram("client", data, packets)
            self.link.send(self._transport.sendto, data, addr)  # type: ignore[union-attr]
        timer_at = self._quic.get_timer()
        if self._timer is not None and self._timer_at != timer_at:
            self._timer.cancel()
            self._timer = None
        if self._timer is None and timer_at is not None:
            self._timer = self._loop.call_at(timer_at, self._handle_timer)
        self._timer_at = timer_at

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        raw = data if isinstance(data, bytes) else data.encode()
        self._quic.receive_datagram(raw, addr, now=self._loop.time())
        self.client.datagram("server", raw, self.client.new_packets("packet_received"))
        self._process_events()
        self.transmit()

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            self.client.terminated(event)
        for h3_event in self.h3.handle_event(event):
            self.client.h3_event(h3_event)


class H3Client:
    def __init__(self, *, stream: EventStream, correlation_id: str, remote: Endpoint, client_host: str,
                 server_name: str, pki: LabPki, rtt: RoundTrips, timeout: float = 5.0) -> None:
        self.stream, self.cid, self.remote, self.client_host = stream, correlation_id, remote, client_host
        self.server_name, self.pki, self.rtt, self.timeout = server_name, pki, rtt, timeout
        self.logger = QuicLogger()
        self._seen = 0
        self.local: Endpoint | None = None
        self.protocol: _H3Protocol | None = None
        self._streams: dict[int, dict[str, Any]] = {}
        self._waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.datagrams = {"client": 0, "server": 0}
        self.error: str | None = None

    # -- observation -----------------------------------------------------------------------
    def new_packets(self, name: str) -> list[dict[str, Any]]:
        if not self.logger._traces:  # the trace starts with the connection
            return []
        events = self.logger._traces[0].to_dict()["events"]
        fresh, self._seen = events[self._seen:], len(events)
        return [e["data"] for e in fresh if e["name"] == f"transport:{name}"]

    def datagram(self, direction: str, data: bytes, packets: list[dict[str, Any]]) -> None:
        self.datagrams[direction] += 1
        mine: list[dict[str, Any]] = []
        used = 0
        while packets and used + int(packets[0].get("raw", {}).get("length", 0)) <= len(data):
            packet = packets.pop(0)
            used += int(packet.get("raw", {}).get("length", 0))
            mine.append({"type": PACKET_NAMES.get(packet["header"]["packet_type"], packet["header"]["packet_type"]),
                         "number": packet["header"].get("packet_number"),
                         "length": packet.get("raw", {}).get("length"),
                         "frames": [f.get("frame_type") for f in packet.get("frames", [])]})
        names = " + ".join(f"{p['type']} #{p['number']}" for p in mine) or "packet(s)"
        frames = sorted({f for p in mine for f in p["frames"]})
        handshake = any(p["type"] in ("Initial", "Handshake") for p in mine)
        crypto_first = direction == "client" and self.datagrams["client"] == 1
        arrow = "→" if direction == "client" else "←"
        src, dst = (self.local, self.remote) if direction == "client" else (self.remote, self.local)
        self.stream.emit(component=COMPONENT, layer=4, kind=Kind.PACKET, src=src, dst=dst, data=data,
                         transport="udp", correlation_id=self.cid,
                         summary=f"QUIC {arrow} UDP datagram {len(data)} bytes: {names}"
                                 + (f" [{', '.join(frames)}]" if frames else ""),
                         detail={"protocol": "quic", "direction": direction, "packets": mine, "length": len(data),
                                 "padding": len(data) - used, "handshake": handshake,
                                 "expects_answer": crypto_first})
        if direction == "server" and handshake and self.datagrams["server"] == 1:
            self.rtt.answered("server's Initial + Handshake")

    def h3_event(self, event: Any) -> None:
        item = self._streams.get(getattr(event, "stream_id", -1))
        if item is None:
            return
        if isinstance(event, HeadersReceived):
            item["headers"] = {k.decode(): v.decode("latin-1") for k, v in event.headers}
            item["ttfb"] = time.perf_counter()
            self.rtt.answered("response")
            self.stream.emit(component=COMPONENT, layer=7, kind=Kind.FRAME, src=self.remote, dst=self.local,
                             transport="udp", correlation_id=self.cid,
                             summary=f"HTTP/3 ← HEADERS stream {event.stream_id}: {item['headers'].get(':status')} "
                                     f"({len(event.headers)} headers, QPACK-decoded)",
                             detail={"protocol": "h3", "frame": "HEADERS", "direction": "server",
                                     "stream_id": event.stream_id,
                                     "headers": [[k, v] for k, v in item["headers"].items()]})
        elif isinstance(event, DataReceived):
            item["body"] += event.data
            if event.data:
                self.stream.emit(component=COMPONENT, layer=7, kind=Kind.FRAME, src=self.remote, dst=self.local,
                                 transport="udp", correlation_id=self.cid,
                                 summary=f"HTTP/3 ← DATA stream {event.stream_id}: {len(event.data)} bytes",
                                 detail={"protocol": "h3", "frame": "DATA", "direction": "server",
                                         "stream_id": event.stream_id, "length": len(event.data)})
        if getattr(event, "stream_ended", False):
            waiter = self._waiters.pop(event.stream_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(item)

    def terminated(self, event: ConnectionTerminated) -> None:
        self.error = f"{event.reason_phrase or 'connection closed'} (error {event.error_code})"
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(TlsFailure("quic_closed", f"The QUIC connection closed: {self.error}"))

    # -- the connection --------------------------------------------------------------------
    async def connect(self) -> float:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((self.client_host, 0))
        self.local = Endpoint.of(sock.getsockname())
        self.stream.correlator.bind(self.local, self.cid)
        from ..capture.keylog import keylog_path

        self._keylog: TextIO | None = open(keylog_path(self.cid), "a", encoding="ascii")  # noqa: SIM115 - closed in close()
        config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=self.server_name,
                                   cafile=str(self.pki.ca_cert), quic_logger=self.logger, idle_timeout=self.timeout * 2,
                                   secrets_log_file=self._keylog)
        quic = QuicConnection(configuration=config)
        _transport, protocol = await loop.create_datagram_endpoint(lambda: _H3Protocol(quic, client=self), sock=sock)
        self.protocol = protocol
        started = time.perf_counter()
        self.rtt.expect("QUIC Initial (ClientHello)")
        protocol.connect(tuple(self.remote))
        try:
            await wait_for(protocol.wait_connected(), self.timeout)
        except TimeoutError:
            raise TlsFailure("quic_timeout", f"No QUIC handshake with {self.remote} within {self.timeout:.0f} s"
                             + (f": {self.error}" if self.error else "")) from None
        except ConnectionError as exc:
            raise TlsFailure("quic_failed", f"The QUIC handshake failed: {self.error or exc}") from None
        return (time.perf_counter() - started) * 1000

    async def fetch_many(self, items: list[tuple[str, str]], authority: str) -> list[dict[str, Any]]:
        assert self.protocol is not None
        h3 = self.protocol.h3
        waiters = []
        for path, purpose in items:
            sid = self.protocol._quic.get_next_available_stream_id()
            headers = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", authority.encode()),
                       (b":path", path.encode()), (b"user-agent", USER_AGENT.encode()), (b"accept", b"*/*")]
            h3.send_headers(sid, headers, end_stream=True)
            self._streams[sid] = {"stream_id": sid, "target": path, "purpose": purpose, "started": time.perf_counter(),
                                  "body": bytearray(), "headers": {}}
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[sid] = waiter
            waiters.append(waiter)
            self.stream.emit(component=COMPONENT, layer=7, kind=Kind.REQUEST, src=self.local, dst=self.remote,
                             transport="udp", correlation_id=self.cid,
                             summary=f"GET {path} ({purpose}) on QUIC stream {sid}",
                             detail={"method": "GET", "target": path, "purpose": purpose, "stream_id": sid,
                                     "protocol": "h3", "multiplexed": len(items) > 1})
            self.stream.emit(component=COMPONENT, layer=7, kind=Kind.FRAME, src=self.local, dst=self.remote,
                             transport="udp", correlation_id=self.cid,
                             summary=f"HTTP/3 → HEADERS stream {sid}: GET {path} ({len(headers)} headers, QPACK)",
                             detail={"protocol": "h3", "frame": "HEADERS", "direction": "client", "stream_id": sid,
                                     "headers": [[k.decode(), v.decode()] for k, v in headers],
                                     "expects_answer": True})
        self.rtt.expect(f"{len(items)} request(s)")
        self.protocol.transmit()
        results = await wait_for(asyncio.gather(*waiters), self.timeout)
        for item in results:
            self._finish(item)
        return list(results)

    def _finish(self, item: dict[str, Any]) -> None:
        now = time.perf_counter()
        item["body"] = bytes(item["body"])
        item["status"] = int(item["headers"].get(":status", 0))
        backend = item["headers"].get("x-backend")
        self.stream.emit(component=COMPONENT, layer=7, kind=Kind.RESPONSE, src=self.remote, dst=self.local,
                         transport="udp", correlation_id=self.cid,
                         summary=f"{item['status']} for {item['target']} on QUIC stream {item['stream_id']}"
                                 + (f" from {backend}" if backend else "") + f", {len(item['body'])} bytes",
                         detail={"status": item["status"], "target": item["target"], "purpose": item["purpose"],
                                 "backend": backend, "body_len": len(item["body"]), "protocol": "h3",
                                 "elapsed_ms": round((now - item["started"]) * 1000, 3),
                                 "ttfb_ms": round((item.get("ttfb", now) - item["started"]) * 1000, 3),
                                 "stream_id": item["stream_id"],
                                 "content_type": item["headers"].get("content-type", "")})

    async def close(self) -> None:
        keylog = getattr(self, "_keylog", None)
        if keylog is not None:
            self._keylog = None
            keylog.close()
        if self.protocol is None:
            return
        protocol, self.protocol = self.protocol, None
        protocol.close()
        try:
            await wait_for(protocol.wait_closed(), 1.0)
        except TimeoutError:
            pass
        await protocol.link.drained()  # CONNECTION_CLOSE may still be on the slow link
        protocol._transport.close()  # type: ignore[union-attr]
        self.stream.emit(component=COMPONENT, layer=4, kind=Kind.CLOSE, src=self.local, dst=self.remote,
                         transport="udp", correlation_id=self.cid,
                         summary=f"The browser closes the QUIC connection (CONNECTION_CLOSE); "
                                 f"{self.datagrams['client']} datagrams sent, {self.datagrams['server']} received",
                         detail={"datagrams": dict(self.datagrams)})
        if self.local is not None:
            asyncio.get_running_loop().call_later(2.0, self.stream.correlator.unbind, self.local)
