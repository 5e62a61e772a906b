"""Real backends and balancers on the lab's loopback addresses, ephemeral ports."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from netlearn.lab.events import Endpoint
from netlearn.lab.http import BackendServer
from netlearn.lab.stream import EventStream
from netlearn.lab.topology import LabConfig
from netlearn.lab.web import WebLab, start_web

FAST_HEALTH = {"health_interval": 0.1, "health_threshold": 2, "health_timeout": 0.3}


@pytest.fixture
def stream() -> EventStream:
    return EventStream()


@pytest.fixture
async def backends(stream: EventStream) -> AsyncIterator[list[BackendServer]]:
    servers = [BackendServer(Endpoint(f"127.0.3.{i}", 0), stream, f"backend-{i}") for i in range(1, 5)]
    for s in servers:
        await s.start()
    yield servers
    for s in servers:
        await s.stop()


@pytest.fixture
async def lab(stream: EventStream) -> AsyncIterator[WebLab]:
    web = await start_web(LabConfig.ephemeral(**FAST_HEALTH), stream, backend_timeout=0.5)  # type: ignore[arg-type]
    assert await web.wait_healthy(5)
    yield web
    await web.stop()
