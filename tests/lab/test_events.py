"""Events are bounded (README "Bounds"): a payload keeps its first 4 KiB and records its true length."""
from __future__ import annotations

import json

from netlearn.lab.events import Kind, make_event


def test_an_event_keeps_4_kib_of_its_payload_and_its_true_length() -> None:
    payload = bytes(range(256)) * 40  # 10,240 bytes
    event = make_event(component="backend-1", layer=7, kind=Kind.RESPONSE, summary="a big answer", data=payload)
    assert event.data == payload[:4096] and event.data_len == len(payload)
    small = make_event(component="backend-1", layer=7, kind=Kind.RESPONSE, summary="small", data=b"ok")
    assert small.data == b"ok" and small.data_len == 2
    stored = json.loads(json.dumps(event.as_dict()))  # as a walk stores it
    assert len(stored["data_hex"]) == 2 * 4096 and stored["data_len"] == len(payload)
