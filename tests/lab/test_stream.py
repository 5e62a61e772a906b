"""The event stream's fan-out: a walk's listeners hear its events, and only its events."""
from __future__ import annotations

from netlearn.lab.events import Endpoint, Kind
from netlearn.lab.stream import EventStream, Recorder


def _emit(stream: EventStream, summary: str, *, cid: str | None = None, src: Endpoint | None = None) -> None:
    stream.emit(component="client", layer=7, kind=Kind.STEP, summary=summary, correlation_id=cid, src=src)


def test_a_walks_recorder_hears_its_own_events_and_no_others() -> None:
    stream = EventStream()
    everything: list[str] = []
    stream.subscribe(lambda event: everything.append(event.summary))
    a, b = Recorder(stream, correlation_id="a"), Recorder(stream, correlation_id="b")
    stream.correlator.bind(("127.0.0.9", 4000), "b")
    _emit(stream, "a1", cid="a")
    _emit(stream, "b1 (by its endpoint)", src=Endpoint("127.0.0.9", 4000))
    _emit(stream, "nobody's")
    _emit(stream, "a2", cid="a")
    assert [e.summary for e in a.events] == ["a1", "a2"]
    assert [e.summary for e in b.events] == ["b1 (by its endpoint)"]
    assert everything == ["a1", "b1 (by its endpoint)", "nobody's", "a2"]


def test_unsubscribing_one_listener_keeps_the_others_of_the_same_walk() -> None:
    stream = EventStream()
    first, second = [], []
    stop_first = stream.subscribe(first.append, correlation_id="w")
    stream.subscribe(second.append, correlation_id="w")
    _emit(stream, "one", cid="w")
    stop_first()
    stop_first()  # twice: harmless
    _emit(stream, "two", cid="w")
    assert [e.summary for e in first] == ["one"]
    assert [e.summary for e in second] == ["one", "two"]


def test_a_closed_recorder_leaves_nothing_behind() -> None:
    stream = EventStream()
    with Recorder(stream, correlation_id="gone") as recorder:
        _emit(stream, "heard", cid="gone")
    _emit(stream, "after", cid="gone")
    assert [e.summary for e in recorder.events] == ["heard"]
    assert stream._by_correlation == {}  # no per-walk list outlives its walk's listeners
