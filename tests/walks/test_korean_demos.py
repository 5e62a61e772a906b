"""The lab's demonstrations that no lesson's try-it runs (the service registry behind client-side
load balancing) still speak Korean on a Korean page: every event's summary is translated."""
from __future__ import annotations

import re

from django.utils import translation

from netlearn.lab import availability
from netlearn.lab.availability_config import AvailabilityConfig
from netlearn.lab.stream import EventStream, Recorder
from netlearn.walks.summaries import summary_for

HANGUL = re.compile(r"[\uac00-\ud7a3]")


async def test_every_event_of_the_registry_demo_has_a_korean_summary() -> None:
    stream = EventStream()
    with Recorder(stream, correlation_id="ko-registry", limit=5000) as recorder:
        await availability.run_client_side_demo(stream, AvailabilityConfig.ephemeral(), "ko-registry")
    events = [e.as_dict() for e in recorder.events]
    assert {e["kind"] for e in events} >= {"control", "cache", "choose", "health_check", "error", "step"}
    with translation.override("ko"):
        english = sorted({summary_for(e) for e in events if not HANGUL.search(summary_for(e))})
    assert not english, "Events without a Korean summary:\n" + "\n".join(english[:40])
