"""The worker freezes its start-up heap out of the garbage collector's full collections
(``netlearn/core/heap.py``: they stalled the site loop 140-240 ms every few seconds under a class)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Run in a fresh interpreter: the collector's state is process-wide, and freezing it here would
# change every later test's process.
PROBE = """
import asyncio, gc, json
import netlearn.asgi as a
from netlearn.core.heap import SettledHeap
services = a.application.application_mapping["lifespan"].services
heap = services[-1]
assert isinstance(heap, SettledHeap), services
before = gc.get_threshold()
asyncio.run(heap.start())
print(json.dumps({"frozen": gc.get_freeze_count(), "before": before, "after": gc.get_threshold()}))
"""


def run_probe(env: dict[str, str]) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NETLEARN_", "DATABASE_URL"))}
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=Path(__file__).resolve().parents[2],
                         env={**clean, "NETLEARN_LAB_MODE": "off", **env}, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_worker_freezes_its_start_up_heap_last_and_makes_full_collections_rarer() -> None:
    seen = run_probe({})
    # Django, the URL conf and the content alone are tens of thousands of container objects.
    assert seen["frozen"] > 10_000
    assert seen["after"][:2] == seen["before"][:2], "the young generations keep CPython's thresholds"
    assert seen["after"][2] == 100 and seen["before"][2] == 10


def test_the_freeze_can_be_turned_off_to_measure_against() -> None:
    seen = run_probe({"NETLEARN_GC_FREEZE": "0"})
    assert seen["frozen"] == 0
    assert seen["after"] == seen["before"]
