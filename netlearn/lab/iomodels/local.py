"""The local transport: the same pipeline between two ends of one process (Netty's LocalChannel).

Why: it shows what the network stack itself costs. A :class:`LocalServer` has a name instead of
an address; :meth:`LocalServer.connect` gives the client a :class:`LocalChannel` whose bytes travel
through in-memory queues to a server-side task on the same event loop — no sockets, no syscalls,
no kernel, yet the decoder still sees a byte stream and the handler the same lines.
"""
from __future__ import annotations

import asyncio
from typing import Any

from ..events import Kind
from ..stream import EventStream
from ..tasks import cancel_and_wait
from .common import ServerCounters
from .pipeline import Pipeline

COMPONENT = "local"
_EOF = b""


class LocalChannel:
    """The client's end: ``write()`` bytes, ``readline()`` replies, ``close()``."""

    def __init__(self, to_server: asyncio.Queue[bytes], from_server: asyncio.Queue[bytes]) -> None:
        self._to_server = to_server
        self._from_server = from_server
        self._buffer = bytearray()
        self.closed = False

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionError("local channel closed")
        await self._to_server.put(bytes(data))

    async def readline(self) -> bytes:
        while b"\n" not in self._buffer:
            chunk = await self._from_server.get()
            if chunk == _EOF:
                self.closed = True
                line, self._buffer = bytes(self._buffer), bytearray()
                return line
            self._buffer += chunk
        end = self._buffer.index(b"\n") + 1
        line = bytes(self._buffer[:end])
        del self._buffer[:end]
        return line

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self._to_server.put(_EOF)


class LocalServer:
    model = "local"

    def __init__(self, *, stream: EventStream, name: str = "iomodels", max_connections: int = 2048,
                 max_frame: int = 1024, correlation_id: str | None = None) -> None:
        self.stream = stream
        self.name = name
        self.max_connections = max_connections
        self.max_frame = max_frame
        self.correlation_id = correlation_id
        self.counters = ServerCounters()
        self.state = "stopped"
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"local:{self.name}"

    @property
    def threads(self) -> int:
        return 0  # runs on the caller's event loop

    async def start(self) -> None:
        self.state = "running"
        self.stream.emit(component=COMPONENT, layer=7, kind=Kind.CONTROL, correlation_id=self.correlation_id,
                         summary=f"local transport {self.address}: in-process queues, no sockets")

    async def connect(self) -> LocalChannel:
        if self.state != "running":
            raise ConnectionRefusedError(f"{self.address} is not running")
        if self.counters.active >= self.max_connections:
            self.counters.rejected += 1
            raise ConnectionRefusedError(f"{self.address} is at its {self.max_connections}-connection bound")
        to_server: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)  # bounded: back-pressure
        from_server: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
        self.counters.opened()
        task = asyncio.create_task(self._serve(to_server, from_server))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return LocalChannel(to_server, from_server)

    async def _serve(self, inbound: asyncio.Queue[bytes], outbound: asyncio.Queue[bytes]) -> None:
        pipeline = Pipeline(max_frame=self.max_frame)
        try:
            while True:
                data = await inbound.get()
                if data == _EOF:
                    return
                replies = pipeline.feed(data)
                self.counters.add(requests=len(replies))
                for reply in replies:
                    if reply.delay > 0:
                        await asyncio.sleep(reply.delay)
                    await outbound.put(pipeline.encode(reply))
                    self.counters.add(replies=1)
                    if reply.close:
                        return
        finally:
            self.counters.closed()
            try:
                outbound.put_nowait(_EOF)
            except asyncio.QueueFull:
                pass

    async def stop(self) -> None:
        self.state = "stopped"
        await cancel_and_wait(self._tasks)

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "state": self.state, "address": self.address, "threads": self.threads,
                **self.counters.as_dict()}
