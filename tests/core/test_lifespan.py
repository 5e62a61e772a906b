"""The lifespan stops background services last first, goes on past one that fails, and names a
slow one in the log (the one clue left when a process manager kills a worker that overran)."""
from __future__ import annotations

import asyncio
import logging

import pytest

from netlearn.core import lifespan
from netlearn.core.lifespan import LifespanApp


class Service:
    def __init__(self, name: str, record: list[str], *, fail_stop: bool = False, stop_delay: float = 0.0) -> None:
        self.name, self.record, self.fail_stop, self.stop_delay = name, record, fail_stop, stop_delay

    async def start(self) -> None:
        self.record.append(f"start {self.name}")

    async def stop(self) -> None:
        await asyncio.sleep(self.stop_delay)
        self.record.append(f"stop {self.name}")
        if self.fail_stop:
            raise RuntimeError("cannot stop")


async def _run(app: LifespanApp) -> list[dict]:
    inbox: asyncio.Queue[dict] = asyncio.Queue()
    for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
        inbox.put_nowait(message)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(dict(message))

    await app({"type": "lifespan"}, inbox.get, send)
    return sent


def test_services_stop_last_first_and_a_failing_stop_does_not_skip_the_rest(caplog) -> None:
    record: list[str] = []
    app = LifespanApp([Service("journal", record), Service("lab", record, fail_stop=True)])
    with caplog.at_level(logging.ERROR, "netlearn.lifespan"):
        sent = asyncio.run(_run(app))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert record == ["start journal", "start lab", "stop lab", "stop journal"]
    assert "a background service failed to stop" in caplog.text


def test_a_slow_stop_is_named_in_the_log_with_its_time(caplog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifespan, "SLOW_STOP_SECONDS", 0.05)
    record: list[str] = []
    app = LifespanApp([Service("quick", record), Service("slow", record, stop_delay=0.2)])
    with caplog.at_level(logging.WARNING, "netlearn.lifespan"):
        asyncio.run(_run(app))
    slow = [r.getMessage() for r in caplog.records if "to stop" in r.getMessage()]
    assert len(slow) == 1 and slow[0].startswith("Service took 0.") and slow[0].endswith(" s to stop"), slow
