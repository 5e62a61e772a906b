"""The browser's TLS connection: ``ssl.SSLObject`` over memory BIOs on a real TCP socket.

Why memory BIOs: with ``ssl.wrap_socket`` the kernel socket and OpenSSL talk directly and the
walk would never see a record. Here OpenSSL only ever writes into ``outgoing`` and reads from
``incoming``; this shell moves those bytes to and from the socket itself, so every TLS record
really sent or received passes through :class:`~netlearn.lab.tls.records.TlsObserver` and
becomes a layer-6 event with its real bytes.

:class:`~netlearn.lab.walker.slowlink.SlowLink` adds a one-way delay to everything the client
sends (compare mode): each write is scheduled ``delay`` seconds later, in order, so a round trip
costs ``delay`` more while a flight of several writes is not delayed several times, which is how
a slow link behaves; closing waits for what is still on the wire.
"""
from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from ..events import Endpoint, Kind
from ..stream import EventStream
from ..timeouts import wait_for
from ..tls.records import TlsObserver, TlsParseError
from .slowlink import SlowLink

COMPONENT = "client"
READ_SIZE = 65536


class TlsFailure(Exception):
    def __init__(self, code: str, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.code, self.detail = code, detail


@dataclass
class RoundTrips:
    """Counts the times the client had to wait for the server. ``expect`` marks something sent
    that needs an answer (SYN, ClientHello, a request); the first bytes back close that trip."""

    delay: float = 0.0
    trips: list[dict[str, Any]] = field(default_factory=list)
    _open: dict[str, Any] | None = None

    def expect(self, label: str) -> None:
        if self._open is None:
            self._open = {"label": label, "start": time.perf_counter()}
        else:
            self._open["label"] += f" + {label}"

    def answered(self, label: str = "") -> None:
        if self._open is not None:
            trip, self._open = self._open, None
            trip["end"] = time.perf_counter()
            trip["ms"] = round((trip["end"] - trip["start"]) * 1000, 3)
            if label:
                trip["label"] += f" → {label}"
            self.trips.append(trip)

    @property
    def count(self) -> int:
        return len(self.trips)

    def as_list(self) -> list[dict[str, Any]]:
        return [{"label": t["label"], "ms": t["ms"]} for t in self.trips]


class TlsClientConnection:
    def __init__(self, *, stream: EventStream, correlation_id: str, remote: Endpoint, role: str, client_host: str,
                 server_name: str, context: ssl.SSLContext | None, rtt: RoundTrips, timeout: float = 5.0) -> None:
        """``context=None``: plain TCP (compare mode's HTTP/1.1 row, with the same link delay)."""
        self.stream, self.cid, self.remote, self.role = stream, correlation_id, remote, role
        self.client_host, self.server_name, self.context = client_host, server_name, context
        self.rtt, self.timeout = rtt, timeout
        self.local: Endpoint | None = None
        self.observer = TlsObserver()
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.sslobj: ssl.SSLObject | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._link: SlowLink | None = None
        self.records = {"client": 0, "server": 0}

    # -- TCP -------------------------------------------------------------------------------
    async def connect(self) -> float:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((self.client_host, 0))
        self.local = Endpoint.of(sock.getsockname())
        self.stream.correlator.bind(self.local, self.cid)
        self.rtt.expect("TCP SYN")
        started = time.perf_counter()
        if self.rtt.delay:
            await asyncio.sleep(self.rtt.delay)  # the SYN crosses the slow link
        try:
            await wait_for(loop.sock_connect(sock, tuple(self.remote)), self.timeout)
        except (TimeoutError, OSError) as exc:
            sock.close()
            raise TlsFailure("refused" if isinstance(exc, ConnectionRefusedError) else "connect_failed",
                             f"Could not connect to {self.remote}: {exc!r}") from None
        self.rtt.answered("SYN-ACK")
        connect_ms = (time.perf_counter() - started) * 1000
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader, self._writer = await asyncio.open_connection(sock=sock)
        transport = self._writer.transport
        self._link = SlowLink(self.rtt.delay, closing=transport.is_closing)
        self.stream.emit(component=COMPONENT, layer=4, kind=Kind.CONNECT, src=self.local, dst=self.remote,
                         transport="tcp", correlation_id=self.cid,
                         summary=f"TCP 3-way handshake with {self.remote} ({self.role}) in {connect_ms:.2f} ms",
                         detail={"connect_ms": round(connect_ms, 3), "role": self.role,
                                 "reconstructed": "The kernel exchanges SYN, SYN-ACK, ACK inside connect()."})
        return connect_ms

    def _write(self, data: bytes) -> None:
        assert self._writer is not None and self._link is not None
        self._link.send(self._writer.write, data)

    async def _read(self) -> bytes:
        assert self._reader is not None
        try:
            data = await wait_for(self._reader.read(READ_SIZE), self.timeout)
        except TimeoutError:
            raise TlsFailure("timeout", f"No bytes from {self.remote} within {self.timeout:.0f} s") from None
        except ConnectionResetError:
            raise TlsFailure("reset", "The connection was reset (RST)") from None
        return data

    # -- TLS -------------------------------------------------------------------------------
    def _flush(self, expect: str | None = None) -> int:
        data = self.outgoing.read()
        if data:
            if expect:
                self.rtt.expect(expect)
            self._observe("client", data)
            self._write(data)
        return len(data)

    def _observe(self, direction: str, data: bytes) -> None:
        try:
            observed = self.observer.feed(direction, data)
        except TlsParseError as exc:
            self.stream.emit(component=COMPONENT, layer=6, kind=Kind.ERROR, correlation_id=self.cid,
                             summary=f"Bytes that are not TLS: {exc}", detail={"error": "tls_parse", "why": str(exc)})
            return
        src, dst = (self.local, self.remote) if direction == "client" else (self.remote, self.local)
        for rec in observed:
            self.records[direction] += 1
            arrow = "→" if direction == "client" else "←"
            extra = ""
            ch = next((m for m in rec.messages if m["message"] == "ClientHello"), None)
            if ch:
                extra = f": SNI {ch['sni']}, ALPN {', '.join(ch['alpn'])}, key share " + ", ".join(
                    k["group"] for k in ch["key_shares"])
            sh = next((m for m in rec.messages if m["message"] in ("ServerHello", "HelloRetryRequest")), None)
            if sh:
                extra = f": {sh['selected_version']}, {sh['cipher_suite']}, key share {sh['key_share_group']}"
            self.stream.emit(
                component=COMPONENT, layer=6, kind=Kind.TLS_RECORD, src=src, dst=dst, data=rec.record.raw,
                transport="tcp", correlation_id=self.cid,
                summary=f"TLS {arrow} {rec.label}{extra} ({rec.record.length + 5} bytes)",
                detail={"direction": direction, "content_type": rec.record.type_name,
                        "record_version": f"0x{rec.record.version:04x}", "length": rec.record.length,
                        "encrypted": rec.encrypted, "messages": rec.messages, "parse_error": rec.error,
                        "seq": self.records[direction]})

    async def handshake(self, *, verify: bool = True) -> dict[str, Any]:
        if self.context is None:
            raise TlsFailure("tls_failed", "no TLS context for this connection")
        self.sslobj = self.context.wrap_bio(self.incoming, self.outgoing, server_hostname=self.server_name)
        started = time.perf_counter()
        first = True
        while True:
            try:
                self.sslobj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush("ClientHello" if first else None)
                first = False
                data = await self._read()
                if not data:
                    raise TlsFailure("closed", "The server closed the connection during the TLS handshake") from None
                self.rtt.answered("server's TLS flight")
                self._observe("server", data)
                self.incoming.write(data)
            except ssl.SSLCertVerificationError as exc:
                self._flush()  # the alert we send back is a record too
                raise TlsFailure("cert_invalid", exc.verify_message or str(exc), verify_code=exc.verify_code,
                                 server_name=self.server_name) from None
            except ssl.SSLError as exc:
                self._flush()
                raise TlsFailure("tls_failed", f"TLS handshake failed: {exc.reason or exc}") from None
        self._flush()  # the client's Finished: without this flush it is never sent
        cipher = self.sslobj.cipher()
        cert: dict[str, Any] = dict(self.sslobj.getpeercert() or {})
        return {"handshake_ms": round((time.perf_counter() - started) * 1000, 3), "version": self.sslobj.version(),
                "cipher": cipher[0] if cipher else None, "alpn": self.sslobj.selected_alpn_protocol(),
                "subject_alt_names": [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"],
                "issuer": dict(x[0] for x in cert.get("issuer", ())).get("organizationName"),
                "not_after": cert.get("notAfter")}

    # -- application data ------------------------------------------------------------------
    def send(self, data: bytes, *, expect: str | None = None) -> None:
        if self.context is None:
            if expect:
                self.rtt.expect(expect)
            self._write(data)
            return
        assert self.sslobj is not None
        self.sslobj.write(data)
        self._flush(expect)

    async def recv(self) -> bytes:
        """Decrypted bytes; ``b""`` at EOF. Post-handshake records (session tickets) are read
        and shown too, which is why one read may return nothing decrypted."""
        if self.context is None:
            data = await self._read()
            if data:
                self.rtt.answered("response")
            return data
        assert self.sslobj is not None
        while True:
            try:
                plain = self.sslobj.read(READ_SIZE)
                if plain:
                    self.rtt.answered("response")  # application data, not a session ticket
                return plain
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            data = await self._read()
            if not data:
                return b""
            self._observe("server", data)
            self.incoming.write(data)

    async def close(self) -> None:
        if self._writer is None:
            return
        writer = self._writer
        if self.sslobj is not None:
            try:
                self.sslobj.unwrap()
            except ssl.SSLError:
                pass
            data = self.outgoing.read()
            if data:
                self._observe("client", data)
                self._write(data)
        if self._link is not None:
            await self._link.drained()  # the last flight is still on the slow link: let it arrive
        self._writer = None
        writer.close()
        established = self.sslobj is not None and self.observer.keys_active and self.records["client"] > 2
        self.stream.emit(component=COMPONENT, layer=4, kind=Kind.CLOSE, src=self.local, dst=self.remote,
                         transport="tcp", correlation_id=self.cid,
                         summary="The browser sends close_notify (an encrypted alert) and closes the connection"
                         if established else "The browser closes the TCP connection (FIN)",
                         detail={"records": dict(self.records)})
        if self.local is not None:
            asyncio.get_running_loop().call_later(2.0, self.stream.correlator.unbind, self.local)
