"""``make run`` does what the README's quick start says: it serves on ``PORT`` with DEBUG off, no
access log and WebSockets without per-message deflate; ``make run DEBUG=1`` gives Django's debug
pages and an access log. The server is the very command ``make -n run`` prints, started for real
(with a data folder of its own and the lab off, so it never meets another run's ports)."""
from __future__ import annotations

import asyncio
import os
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
