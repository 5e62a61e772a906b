"""Every lab action attached to a shipped lesson step runs for real and produces its result.

Identical specs are run once (30 distinct among 50 steps): the result depends only on the spec.
"""
from __future__ import annotations

import json
from pathlib import Path

from netlearn.lab.runner import Lab

CONTENT = Path(__file__).resolve().parents[2] / "fixtures" / "content"


def shipped_specs() -> dict[str, list[str]]:
    specs: dict[str, list[str]] = {}
    for path in sorted(CONTENT.glob("*.json")):
        for lesson in json.loads(path.read_text(encoding="utf-8")).get("lessons", []):
            for number, step in enumerate(lesson["steps"], start=1):
                if step.get("lab_action"):
                    specs.setdefault(json.dumps(step["lab_action"], sort_keys=True), []).append(
                        f"{lesson['slug']}/{number}")
    return specs


async def test_every_shipped_lab_action_runs(lab: Lab) -> None:
    specs = shipped_specs()
    assert len(specs) >= 10
    for key, where in specs.items():
        spec = json.loads(key)
        if spec["kind"] == "walk":
            record = await lab.walk(spec["url"])
            assert record.outcome.status == "done", (where, record.outcome.code)
            continue
        record = await lab.run_action(spec)
        assert record.error == "", (where, record.error)
        assert record.result and record.events, where
