"""``--json`` prints one line of figures, as the README says of every bench (issue 18: compared
from run to run). ``bench/c10k.py`` printed an indented list over many lines until this test; it is
run here small (300 connections, the event-loop model only) against its real server."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_c10k_prints_one_json_line_with_its_figures() -> None:
    done = subprocess.run([sys.executable, "bench/c10k.py", "--connections", "300", "--models", "nio", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    figures = json.loads(lines[0])
    assert figures["bench"] == "c10k"
    [nio] = figures["models"]
    assert nio["model"] == "nio" and nio["accepted"] == 300 and nio["rss_per_connection_kb"] > 0


def test_startup_prints_one_json_line_with_the_warm_ups_cost() -> None:
    """One start with the warm-up and one without, against this checkout's database (``make test``'s
    set-up seeds it): the figures the README gives for the warm-up come from this script."""
    done = subprocess.run([sys.executable, "bench/startup.py", "--rounds", "1", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    figures = json.loads(lines[0])
    assert figures["bench"] == "startup"
    assert figures["step_pages"] > 0 and figures["question_pages"] > 0
    for side in ("on", "off"):
        assert figures[side]["ready_s"]["median"] > 0 and figures[side]["rss_mb"]["median"] > 0
    assert set(figures["warm_up_cost"]) == {"ready_s", "cpu_s", "rss_mb"}
