"""A tiny real HTTP/1.1 client for the lab tests (h11 over asyncio streams, no mocks)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import h11

from netlearn.lab.events import Endpoint


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def backend(self) -> str | None:
        return self.headers.get("x-backend")


async def fetch(endpoint: Endpoint, path: str = "/", *, host: str = "www.netlearn.test",
                headers: list[tuple[str, str]] | None = None, local_host: str | None = None,
                timeout: float = 5.0) -> Reply:
    """One request on a fresh connection (``Connection: close``)."""
    async with asyncio.timeout(timeout):
        local = (local_host, 0) if local_host else None
        reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port, local_addr=local)
        try:
            conn = h11.Connection(h11.CLIENT)
            hdrs = [("Host", host), ("Connection", "close"), *(headers or [])]
            writer.write(conn.send(h11.Request(method="GET", target=path, headers=hdrs))
                         + conn.send(h11.EndOfMessage()))
            status, got, body = 0, {}, bytearray()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    got = {k.decode().lower(): v.decode() for k, v in event.headers}
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    return Reply(status, got, bytes(body))
        finally:
            writer.close()


async def raw_exchange(endpoint: Endpoint, data: bytes, *, timeout: float = 5.0, eof: bool = False) -> bytes:
    """Send raw bytes (optionally half-close) and read until the server closes."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
        try:
            writer.write(data)
            if eof:
                writer.write_eof()
            return await reader.read()
        finally:
            writer.close()
