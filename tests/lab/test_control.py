"""The failure-injection API: parsed, validated, applied to the real lab, visible in walks."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from netlearn.lab import control
from netlearn.lab.events import Kind
from netlearn.lab.runner import Lab


@pytest.mark.parametrize("line, expected", [
    ("stop-backend 2", {"op": "stop_backend", "backend": 2}),
    ("latency 3 0.25", {"op": "latency", "backend": 3, "seconds": 0.25}),
    ("algorithm l4 least_connections", {"op": "algorithm", "balancer": "l4", "name": "least_connections"}),
    ("weights l7 backend-1=3,backend-2=1", {"op": "weights", "balancer": "l7",
                                            "weights": {"backend-1": 3, "backend-2": 1}}),
    ("drop authoritative 0.5", {"op": "drop", "role": "authoritative", "share": 0.5}),
])
def test_text_commands_parse(line: str, expected: dict) -> None:
    assert control.parse(line) == expected


@pytest.mark.parametrize("line", ["", "rm -rf /", "latency two", "weights l4 nonsense", "stop-backend"])
def test_bad_text_commands_are_refused(line: str) -> None:
    with pytest.raises(control.ControlError):
        control.parse(line)


@pytest.mark.parametrize("command", [
    {"op": "stop_backend", "backend": 9}, {"op": "latency", "backend": 1, "seconds": 60},
    {"op": "mode", "backend": 1, "mode": "explode"}, {"op": "algorithm", "balancer": "l4", "name": "random"},
    {"op": "drop", "role": "root", "share": 2}, {"op": "kill_active"}, {"op": "nope"},
])
async def test_out_of_range_commands_change_nothing(lab: Lab, command: dict) -> None:
    before = lab.web.describe()
    with pytest.raises(control.ControlError):
        await control.apply(lab, command)
    assert lab.web.describe()["l4"]["algorithm"] == before["l4"]["algorithm"]


async def test_algorithm_change_is_an_event_and_takes_effect(lab: Lab) -> None:
    seen = []
    unsubscribe = lab.stream.subscribe(seen.append)
    await control.apply(lab, control.parse("algorithm l4 least_connections"))
    unsubscribe()
    assert lab.web.l4.describe()["algorithm"] == "least_connections"
    assert any(e.kind == Kind.CONTROL and e.component == "l4" for e in seen)


async def test_dns_drop_makes_the_walk_explain_the_failure(lab: Lab) -> None:
    await control.apply(lab, {"op": "drop", "role": "resolver", "share": 1.0})
    record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex)
    assert record.outcome.status == "failed" and record.outcome.code.startswith("dns_")
    await control.apply(lab, {"op": "drop", "role": "resolver", "share": 0.0})
    record = await lab.walk("http://shop.netlearn.test/", correlation_id=uuid.uuid4().hex)
    assert record.outcome.status == "done"


async def test_backend_in_error_mode_makes_the_l7_walk_show_the_failure(lab: Lab) -> None:
    await control.apply(lab, {"op": "mode", "backend": 1, "mode": "error"})
    await control.apply(lab, {"op": "mode", "backend": 2, "mode": "error"})
    record = await lab.walk("http://www.netlearn.test/", correlation_id=uuid.uuid4().hex)
    assert record.outcome.status == "failed" and record.outcome.code.startswith("http_5")
    await asyncio.sleep(0)


def test_every_command_the_readme_lists_parses() -> None:
    """README ("Failure injection"): the commands runlab's standard input takes, as written there."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    paragraph = readme[readme.index("**Failure injection**"):]
    paragraph = paragraph[:paragraph.index("Each change is a CONTROL event")]
    listed = re.findall(r"`([a-z][a-z0-9 .,=|_-]*)`", paragraph.split("answers with a JSON line:")[1])
    assert len(listed) >= 13, listed
    for written in listed:
        head, _, last = written.rpartition(" ")
        for line in ([f"{head} {choice}" for choice in last.split("|")] if "|" in last else [written]):
            assert control.parse(line)["op"] == line.split()[0].replace("-", "_"), line
