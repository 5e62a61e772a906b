"""A small asyncio HTTP/1.1 client: one keep-alive connection per simulated learner, with cookies.

Why not urllib: hundreds of learners at once need one event loop, not a thread each, and a load
test must see exactly what came back (status, headers, body), redirects included. Shared by the
load tests (tests/scale) and bench/classroom.py.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit


class HttpError(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


class Browser:
    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.base, self.host, self.port = base, parts.hostname or "127.0.0.1", parts.port or 80
        self.cookies: dict[str, str] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method: str, path: str, form: dict[str, str] | None = None,
                      timeout: float = 30.0) -> Response:
        body = urlencode(form).encode() if form is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: text/html",
                "Accept-Language: en"]
        if self.cookies:
            head.append(f"Cookie: {self.cookie_header()}")
        if form is not None:
            head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}",
                     f"Referer: {self.base}{path}", f"Origin: {self.base}"]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        for attempt in range(2):  # a keep-alive connection the server closed: reconnect once
            fresh = self.writer is None
            try:
                if fresh:
                    self.reader, self.writer = await asyncio.wait_for(
                        asyncio.open_connection(self.host, self.port), timeout)
                self.writer.write(raw)
                return await asyncio.wait_for(self._read(), timeout)
            except TimeoutError:
                await self.close()
                raise HttpError("timeout") from None
            except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
                await self.close()
                if fresh or attempt:
                    raise HttpError(type(exc).__name__) from exc
        raise HttpError("unreachable")

    async def _read(self) -> Response:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                name, value = name.strip().lower(), value.strip()
                if name == "set-cookie":
                    pair = value.split(";", 1)[0]
                    if "=" in pair:
                        k, v = pair.split("=", 1)
                        if v and "max-age=0" not in value.lower():
                            self.cookies[k] = v
                        else:
                            self.cookies.pop(k, None)
                else:
                    headers[name] = value
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunks.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(c[:-2] for c in chunks)
        else:
            body = await self.reader.read()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, headers, body.decode("utf-8", "replace"))
