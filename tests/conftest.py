"""Shared fixtures: a real ASGI server in a thread, real headless Chromium, artifacts.

Playwright's sync API keeps an event loop running in the main thread, so Django ORM calls in
the same test would raise SynchronousOnlyOperation: allowed here, in tests only.
"""
from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM = os.environ.get("NETLEARN_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _ServerThread(threading.Thread):
    """Uvicorn serving ``netlearn.asgi`` (HTTP + WebSockets + lifespan) on an ephemeral port."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        import uvicorn

        from netlearn.asgi import application

        config = uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="on", log_level="warning",
                                ws="websockets")
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        asyncio.run(self.server.serve())


@pytest.fixture
def asgi_live_server(transactional_db) -> Iterator[str]:
    """A real ASGI server (uvicorn) on loopback, sharing the test database file."""
    port = _free_port()
    thread = _ServerThread(port)
    thread.start()
    deadline = time.monotonic() + 20
    while not thread.server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the ASGI test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    thread.server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (``playwright install`` cannot download here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test`, which installs it.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone_page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    yield page
    context.close()
