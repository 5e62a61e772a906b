"""WebSocket routes; each app contributes its own ``websocket_urlpatterns``."""
from __future__ import annotations

import importlib

websocket_urlpatterns: list = []
for _module in ("netlearn.walks.routing", "netlearn.classroom.routing"):
    try:
        websocket_urlpatterns += importlib.import_module(_module).websocket_urlpatterns
    except ModuleNotFoundError:
        continue
