"""Shared fixtures: a real ASGI server in a thread, real headless Chromium, artifacts.

Django's async-safety guard stays ON everywhere (a lazy ORM access on an event loop must fail
here as it would in production), except inside Playwright tests: Playwright's sync API keeps an
event loop running in the main thread, so the test's own ORM calls would raise
SynchronousOnlyOperation. The ``browser`` fixture lifts the guard on the main thread only, while
Playwright runs (browser tests run last): the ASGI server threads they talk to keep it. Server
processes the tests start (tests/scale, tests/faults) get an environment without any ``DJANGO_*``
variable of this process, so the guard is on there too.
"""
from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.syscall_watch import SyscallWatch

ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
os.environ.pop(ASYNC_UNSAFE, None)


class _GuardLiftedOnOneThread:
    """Stands in for the ``os`` module inside ``django.utils.asyncio`` (whose guard reads
    ``os.environ``): the test's own thread sees ``DJANGO_ALLOW_ASYNC_UNSAFE`` set, every other
    thread (the ASGI server the test talks to) sees the real environment, guard on."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread

    @property
    def environ(self) -> dict[str, str] | os._Environ[str]:
        if threading.current_thread() is self.thread:
            return {**os.environ, ASYNC_UNSAFE: "true"}
        return os.environ

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)


@pytest.fixture(autouse=True)
def _no_lab_left_running() -> Iterator[None]:
    """A test that starts a lab thread (``LabThread``) must leave none running: a leaked lab keeps
    dialling its backends (health checks) and would blur every later test's socket watch."""
    before = {t for t in threading.enumerate() if t.name == "netlearn-lab"}
    yield
    from tests.waiting import eventually_sync

    def leaked() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "netlearn-lab" and t not in before and t.is_alive()]

    eventually_sync(lambda: not leaked(), "every lab thread this test started has stopped")


ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM = os.environ.get("NETLEARN_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(autouse=True, scope="session")
def _no_heap_freeze_in_pytest() -> None:
    """A real worker freezes its start-up heap out of the garbage collector (netlearn/core/heap.py,
    the last lifespan service). The in-process servers here (``asgi_live_server``) run that lifespan
    in pytest's own process, where it would freeze every earlier test's objects for the rest of the
    run and change the collector for every later test. Server processes the tests start keep it
    (tests/core/test_heap.py checks it there)."""
    from django.conf import settings

    settings.NETLEARN_GC_FREEZE = False


@pytest.fixture(autouse=True)
def _default_language_after_each_test() -> Iterator[None]:
    """Django's locale middleware activates a request's language in the thread that served it and
    never deactivates it; with the test client that thread is the test's own. A Korean request in
    one test then made the next test's messages Korean (tests/classroom/test_services.py failed
    after tests/quizzes in one run). Each test ends back in the default language."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_channel_layers() -> Iterator[None]:
    """Each test gets its own channel layer objects. ``channels_redis`` keeps one receive state per
    layer object (a count, a lock, the loop receiving), and this process runs a new event loop for
    each async test and each test server, where a worker runs one loop for its life. State one
    loop left in the shared object broke the next loop's receives: once a test's teardown hang
    left "Two event loops are trying to receive()" for the next three tests, and once (CI of
    `3c09c77`, after 1,000 tests in one process) a live-class browser test's sockets stopped
    receiving with "Lock ... is bound to a different event loop", which no run of those tests
    alone repeated. The likeliest path, not proven: a receive an ended loop left suspended, whose
    ``finally`` ran later (the garbage collector closing it) against the next loop's count and lock."""
    yield
    from channels.layers import channel_layers

    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Every test starts with empty caches: database rows (and their primary keys) are new in each
    test, while the per-process caches (sessions, seen sets, rendered pages, rate limits) are not."""
    from django.core.cache import cache

    from netlearn.lessons import pagecache
    from netlearn.quizzes import cards as quiz_cards
    from netlearn.quizzes import selectors as quiz_selectors
    from netlearn.quizzes import views as quiz_views

    cache.clear()
    pagecache.pages.clear()
    quiz_views.question_pages.clear()
    quiz_cards.card_pages.clear()
    quiz_selectors._displayed.clear()
    yield


@pytest.fixture(scope="session")
def redis_server():
    """A Redis of our own for the tests that need one (``services``), started once a session."""
    from netlearn.devtools.servers import Redis

    server = Redis().start()
    yield server
    server.destroy()


@pytest.fixture
def redis_caches(redis_server, settings) -> None:
    """The site's cache (and so sessions, seen sets, the content version) in that Redis, empty, as
    on the scaled-out stack (``netlearn.settings.base.redis_cache``)."""
    from django.core.cache import caches

    from netlearn.settings.base import redis_cache

    settings.CACHES = {"default": redis_cache(redis_server.url)}
    caches["default"].clear()


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
                                ws="websockets-sansio",  # as make run and deploy.md serve
                                timeout_graceful_shutdown=8)
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        asyncio.run(self.server.serve())


@pytest.fixture
def asgi_live_server(transactional_db) -> Iterator[str]:
    """A real ASGI server (uvicorn) on loopback, sharing the test database file (no lab)."""
    yield from _serve()


@pytest.fixture
def asgi_live_server_with_lab(transactional_db, settings) -> Iterator[str]:
    """The same server with the embedded lab started by the ASGI lifespan, on ephemeral ports."""
    settings.NETLEARN_LAB_MODE = "embedded"
    settings.NETLEARN_LAB_EPHEMERAL = True
    yield from _serve()


@pytest.fixture
def asgi_live_server_with_lab_process(transactional_db, settings) -> Iterator[str]:
    """The same server with its lab in a child process (``NETLEARN_LAB_MODE = "process"``)."""
    settings.NETLEARN_LAB_MODE = "process"
    settings.NETLEARN_LAB_EPHEMERAL = True
    yield from _serve()


@pytest.fixture
def asgi_live_server_with_finisher(transactional_db, settings) -> Iterator[str]:
    """The same server as make run starts it: the lab in a child process, and finished walks
    stored and rendered in another (``NETLEARN_FINISHER = "process"``)."""
    settings.NETLEARN_LAB_MODE = "process"
    settings.NETLEARN_LAB_EPHEMERAL = True
    settings.NETLEARN_FINISHER = "process"
    yield from _serve()


def _serve() -> Iterator[str]:
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
    # A server left running keeps its loop, and with it whatever it was receiving from the shared
    # channel layer: channels_redis refuses a second loop, and the next test's server would break.
    assert not thread.is_alive(), "the ASGI test server did not stop within 15 s"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (``playwright install`` cannot download here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test`, which installs it.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, pytest.MonkeyPatch.context() as patch:
        import django.utils.asyncio

        patch.setattr(django.utils.asyncio, "os", _GuardLiftedOnOneThread(threading.current_thread()))
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


@pytest.fixture
def connect_watch() -> Iterator[SyscallWatch]:
    """Every network destination this process dials during the test, from ``strace`` (all threads,
    the lab's uvloop thread included): see ``tests/syscall_watch.py``."""
    from tests.syscall_watch import watch_this_process

    watch = watch_this_process()
    try:
        yield watch
        watch.stop()
    finally:
        watch.close()


@pytest.fixture
async def lab():
    """A whole lab (DNS, balancers, backends) on the lab's addresses with ephemeral ports."""
    from netlearn.lab.runner import Lab
    from netlearn.lab.topology import LabConfig

    the_lab = Lab(LabConfig.ephemeral(health_interval=0.2, health_threshold=2))
    await the_lab.start()
    try:
        yield the_lab
    finally:
        await the_lab.stop()


@pytest.fixture
async def embedded_lab(transactional_db):
    """The embedded lab attached to this test's event loop, as the ASGI lifespan would attach it."""
    from netlearn.lab.topology import LabConfig
    from netlearn.walks import bridge

    thread = await bridge.start_embedded_lab(LabConfig.ephemeral())
    try:
        yield thread
    finally:
        await bridge.stop_embedded_lab()


@pytest.fixture(params=["embedded", "process"])
async def lab_either_way(request, transactional_db, settings):
    """The worker's lab attached as the lifespan attaches it, once in a thread and once in a child
    process (``NETLEARN_LAB_MODE``): for the tests of what the site sees of a walk."""
    from netlearn.lab.topology import LabConfig
    from netlearn.walks import bridge

    settings.NETLEARN_LAB_MODE = request.param
    lab = await bridge.start_embedded_lab(LabConfig.ephemeral())
    try:
        yield lab
    finally:
        await bridge.stop_embedded_lab()


def pytest_collection_modifyitems(config, items) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the main thread
    for the rest of the session, and pytest-asyncio cannot start its own loop after that."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture
def shipped_course(transactional_db) -> None:
    """The whole shipped course (lessons, glossary, questions, quizzes) in the test database."""
    from django.conf import settings

    from netlearn.core.content import import_document, load_files

    import_document(load_files(sorted((Path(settings.BASE_DIR) / "fixtures" / "content").glob("*.json"))),
                    mode="add_missing")
