"""Events are bounded (README "Bounds"): a payload keeps its first 4 KiB and records its true length."""
from __future__ import annotations

import json
import random

from netlearn.lab.events import Endpoint, Kind, LabEvent, make_event, ms3, owned_event


def test_an_event_keeps_4_kib_of_its_payload_and_its_true_length() -> None:
    payload = bytes(range(256)) * 40  # 10,240 bytes
    event = make_event(component="backend-1", layer=7, kind=Kind.RESPONSE, summary="a big answer", data=payload)
    assert event.data == payload[:4096] and event.data_len == len(payload)
    small = make_event(component="backend-1", layer=7, kind=Kind.RESPONSE, summary="small", data=b"ok")
    assert small.data == b"ok" and small.data_len == 2
    stored = json.loads(json.dumps(event.as_dict()))  # as a walk stores it
    assert len(stored["data_hex"]) == 2 * 4096 and stored["data_len"] == len(payload)


def test_an_event_is_immutable_and_replace_gives_a_changed_copy() -> None:
    event = make_event(component="l4", layer=4, kind=Kind.ACCEPT, summary="accepted", src=("127.0.0.1", 5000),
                       detail={"active": 1})
    assert isinstance(event.src, Endpoint) and event.detail == {"active": 1} and event.ts > 0
    for change in (lambda: setattr(event, "summary", "other"), lambda: event.detail.__setitem__("active", 2)):
        try:
            change()
        except (AttributeError, TypeError):
            pass
        else:
            raise AssertionError("an event was changed in place")
    copy = event.replace(correlation_id="walk-1")
    assert copy.correlation_id == "walk-1" and event.correlation_id is None
    assert copy.as_dict() | {"correlation_id": None} == event.as_dict()


def test_the_hot_path_builder_makes_the_same_event_as_make_event() -> None:
    peer, vip = Endpoint("127.0.0.1", 5000), Endpoint("127.0.2.10", 80)
    slow = make_event(component="l4", layer=4, kind=Kind.CLOSE, summary="closed", src=peer, dst=vip,
                      detail={"bytes_in": 3}, correlation_id="c", transport="tcp")
    fast = owned_event("l4", 4, Kind.CLOSE, "closed", peer, vip, {"bytes_in": 3}, "c", "tcp")
    assert fast.replace(ts=slow.ts) == slow and fast.ts >= slow.ts
    assert LabEvent("l4", 4, Kind.CLOSE, "closed", peer, vip, b"", 0, fast.detail, "c", slow.ts, "tcp") == slow


def test_ms3_gives_what_round_to_the_microsecond_gives() -> None:
    """The L4's durations use ms3 instead of round(seconds * 1000, 3): the same figures."""
    rng = random.Random(18)
    samples = [0.0, 0.0005, 0.001, 0.0123456, 1.5, 2.0004999] + [rng.uniform(0, 5) for _ in range(10_000)]
    mismatched = [s for s in samples if ms3(s) != round(s * 1000, 3)]
    assert len(mismatched) <= len(samples) // 1000, mismatched[:5]  # only exact ties may differ
    assert all(abs(ms3(s) - round(s * 1000, 3)) <= 0.0010001 for s in samples)
