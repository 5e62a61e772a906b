"""Site-wide views: health."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from netlearn.core import labstate


def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the site's and the lab's state: a load balancer's health check can use it.
    Sync, so it runs on the request's pooled thread (netlearn.core.asgi_handler): a stuck lab makes
    ``describe`` wait for its time-out there, never on the site's event loop."""
    return JsonResponse({"status": "ok", "lab": labstate.describe()})
