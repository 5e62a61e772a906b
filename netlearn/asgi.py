"""ASGI entry point and composition root: HTTP (Django), WebSockets (Channels) and the lifespan,
which runs the background services chosen here (``netlearn/background.py``: the progress journal, the embedded lab)."""
from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netlearn.settings.dev")

from netlearn.core.asgi_handler import get_asgi_application

# Django must be set up before consumers (and their models) are imported. Each request's sync
# code runs on one of a few long-lived threads (see netlearn.core.asgi_handler).
django_asgi_app = get_asgi_application(threads=int(os.environ.get("NETLEARN_SYNC_THREADS", "8")),
                                       max_waiting=int(os.environ.get("NETLEARN_MAX_WAITING", "256")),
                                       max_queue_delay=float(os.environ.get("NETLEARN_MAX_QUEUE_DELAY", "2.0")),
                                       on_loop=os.environ.get("NETLEARN_STEP_PAGES_ON_LOOP", "1") != "0")

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from netlearn.background import EmbeddedLab, ProgressJournal  # noqa: E402
from netlearn.core.lifespan import LifespanApp  # noqa: E402
from netlearn.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        "lifespan": LifespanApp([ProgressJournal(), EmbeddedLab()]),
    }
)
