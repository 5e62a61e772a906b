"""``make run`` does what the README's quick start says: it serves on ``PORT`` with DEBUG off, no
access log and WebSockets without per-message deflate; ``make run DEBUG=1`` gives Django's debug
pages and an access log. The server is the very command ``make -n run`` prints, started for real
(with a data folder of its own and the lab off, so it never meets another run's ports)."""
from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets

from netlearn.devtools.servers import free_port, wait_for_healthy
from tests.waiting import eventually_sync

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
MISSING = "/no-such-page-for-make-run/"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "NETLEARN_", "DATABASE_URL", "REDIS_URL", "MAKE", "MFLAGS"))}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(NETLEARN_DATA_DIR=str(tmp_path), NETLEARN_LAB_MODE="off")
    return env


def _run_recipe(port: int, debug: bool, env: dict[str, str]) -> str:
    """The command ``make run`` would start (its last recipe line), without running anything."""
    args = ["make", "-n", "run", f"PORT={port}"] + (["DEBUG=1"] if debug else [])
    printed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60)
    return printed.stdout.strip().splitlines()[-1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def _websocket_extensions(url: str, origin: str) -> str | None:
    async with websockets.connect(url, origin=origin, compression="deflate") as ws:  # offers permessage-deflate
        return ws.response.headers.get("Sec-WebSocket-Extensions")


@pytest.mark.parametrize("debug", [False, True], ids=["default", "DEBUG=1"])
def test_make_run_serves_on_its_port_with_debug_off_unless_asked(tmp_path, debug) -> None:
    env = _env(tmp_path)
    port = free_port()
    recipe = _run_recipe(port, debug, env)
    assert f"--port {port}" in recipe and "--host 127.0.0.1" in recipe, recipe
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True,
                   timeout=180)
    walk_id = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c",
         "from netlearn.walks.models import Walk; print(Walk.objects.create(url='http://shop.netlearn.test/', "
         "status='failed').id)"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=120).stdout.split()[-1]
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        server = subprocess.Popen(recipe.replace(".venv/bin/python", shlex.quote(PYTHON), 1), shell=True,
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_healthy(base + "/healthz", server, log)
        # The worker renders the course's pages ahead (netlearn.background.WarmPages; this data
        # folder's course is empty, so none are there to render).
        eventually_sync(lambda: "page warm-up: 0 step and 0 question pages rendered" in log.read_text(errors="replace"),
                        "the warm-up's log line")
        status, body = _get(base + MISSING)
        assert status == 404
        # Django's technical 404 page names the URLconf it tried; the learner's 404 page does not.
        assert ("Using the URLconf" in body) is debug, body[:500]
        extensions = asyncio.run(_websocket_extensions(f"ws://127.0.0.1:{port}/ws/walk/{walk_id}/", base))
        assert extensions is None, f"per-message deflate negotiated: {extensions}"
        access_line = f'"GET {MISSING} HTTP/1.1" 404'
        if debug:
            eventually_sync(lambda: access_line in log.read_text(errors="replace"), "the access log line of the 404")
        else:
            # uvicorn writes an access line as it starts the response, before the client can read it.
            assert access_line not in log.read_text(errors="replace")
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)


def _dry_run(target: str, tmp_path: Path) -> list[str]:
    printed = subprocess.run(["make", "-n", target], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                             timeout=60)
    assert printed.returncode == 0, f"make {target}: {printed.stderr}"
    return printed.stdout.splitlines()


def _index(lines: list[str], needle: str) -> int:
    found = [i for i, line in enumerate(lines) if needle in line]
    assert found, f"{needle!r} not in {lines}"
    return found[0]


def test_make_run_sets_up_before_it_serves(tmp_path) -> None:
    """README: messages compiled, migrated, static files collected, the course loaded, then served."""
    lines = _dry_run("run", tmp_path)
    serve = _index(lines, "uvicorn netlearn.asgi:application")
    for step in ("scripts/compilemessages.py", "manage.py migrate", "manage.py collectstatic",
                 "manage.py seed_content"):
        assert _index(lines, step) < serve, step


def test_make_test_lints_then_runs_the_suite_twice(tmp_path) -> None:
    """README: ``make test`` runs ``make lint`` first, then the suite on the embedded defaults and again
    on real PostgreSQL and Redis (scripts/with_services.py)."""
    lines = _dry_run("test", tmp_path)
    ruff, mypy = _index(lines, "ruff check"), _index(lines, "mypy netlearn")
    embedded = _index(lines, '-m pytest -m "not services"')
    services = _index(lines, "scripts/with_services.py -- ")
    assert max(ruff, mypy) < embedded < services
    # "the same set-up (plus Chromium, PostgreSQL, Redis, nginx when missing)"
    for step in ("manage.py migrate", "manage.py seed_content", "scripts/ensure-chromium.sh",
                 "scripts/ensure-services.sh", "scripts/ensure-tools.sh"):
        assert _index(lines, step) < embedded, step
    # ".ci/run calls make test"
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"


def test_each_make_bench_target_runs_the_script_the_readme_names(tmp_path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = re.findall(r"`make (bench-[a-z]+)` \(`(bench/[^`\[]+?)\s*(?:\[[^`]*\])?`\)", readme)
    assert {target for target, _ in named} >= {"bench-pages", "bench-lb", "bench-walk", "bench-classroom"}, named
    for target, command in named:
        lines = _dry_run(target, tmp_path)
        assert any(f"/python {command}" in line for line in lines), (target, command, lines[-1:])
