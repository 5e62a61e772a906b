"""ASGI entry point and composition root: HTTP (Django), WebSockets (Channels) and the lifespan,
which runs the background services chosen here (``netlearn/background.py``: the progress journal, the embedded lab)."""
from __future__ import annotations

import os
import sys

# How long a thread may hold the GIL before another that waits gets it (Python's default 5 ms).
# The worker's site loop, its page threads and the embedded lab's threads take turns on one GIL,
# so a step page served on the loop can wait a few of these slices. A knob to measure with
# (bench/classroom.py --worker-env NETLEARN_GIL_SWITCH_INTERVAL=0.001); unset: Python's default.
# Measured (1,000 learners, 2 runs each, alternately): 1 ms served 141-143 req/s with the class in
# and step p99 284-379 ms, 5 ms 156-158 req/s and 254-376 ms: more switching, no shorter tail.
if os.environ.get("NETLEARN_GIL_SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["NETLEARN_GIL_SWITCH_INTERVAL"]))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netlearn.settings.dev")

from netlearn.core.asgi_handler import get_asgi_application

# Django must be set up before consumers (and their models) are imported. Each request's sync
# code runs on one of a few long-lived threads (see netlearn.core.asgi_handler).
# Threads: 1 on SQLite (the embedded defaults), 2 with PostgreSQL (DATABASE_URL). On SQLite a
# thread never waits on a network and every write takes the database's one lock, so a second
# thread only contends for the GIL and that lock: measured with bench/classroom.py (1,000 learners,
# README "Inside each worker"), 1 thread served as much as 2 with fewer learners turned away and a
# shorter step-page tail. A slow client cannot hold the one thread (it is given back before the
# answer is sent); a slow view can, while it runs: NETLEARN_SYNC_THREADS=2 brings the second back.
# With PostgreSQL (DATABASE_URL) 2: its threads wait on a socket, so a second one has work while the
# first waits; more only contend for the GIL beside the loop. Measured on the stack (nginx, 2 workers,
# PostgreSQL, Redis on 2 cores), 1,000 learners, 3 alternating pairs: 2 threads step p99 365-449 ms
# against 8 threads' 890-1,414 ms at the same rate served (README "Inside each worker"). A database
# on another machine, with longer waits, may want more: NETLEARN_SYNC_THREADS overrides both.
DEFAULT_SYNC_THREADS = "2" if os.environ.get("DATABASE_URL") else "1"
django_asgi_app = get_asgi_application(threads=int(os.environ.get("NETLEARN_SYNC_THREADS", DEFAULT_SYNC_THREADS)),
                                       max_waiting=int(os.environ.get("NETLEARN_MAX_WAITING", "256")),
                                       max_queue_delay=float(os.environ.get("NETLEARN_MAX_QUEUE_DELAY", "2.0")),
                                       on_loop=os.environ.get("NETLEARN_STEP_PAGES_ON_LOOP", "1") != "0")

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from netlearn.background import EmbeddedLab, ProgressJournal, WalkFinisher, WarmPages  # noqa: E402
from netlearn.core.heap import SettledHeap  # noqa: E402
from netlearn.core.lifespan import LifespanApp  # noqa: E402
from netlearn.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        # WarmPages: the course's pages rendered before the first request (netlearn/background.py).
        # Last: once the lab is up, the start-up heap is frozen out of the garbage collector's full
        # collections (netlearn/core/heap.py: they stalled the loop 140-240 ms every ~3 s under a
        # class). NETLEARN_GC_FREEZE=0 (settings) leaves CPython's defaults (to measure against).
        "lifespan": LifespanApp([ProgressJournal(), WalkFinisher(), EmbeddedLab(), WarmPages(), SettledHeap()]),
    }
)
