"""Site-wide views: health."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static

from netlearn.core import health, labstate


def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the site's, the lab's and the walk finisher's state (``netlearn.core.health``): a
    load balancer's health check can use it.
    Sync, so it runs on the request's pooled thread (netlearn.core.asgi_handler): a stuck lab makes
    ``describe`` wait for its time-out there, never on the site's event loop."""
    return JsonResponse({"status": "ok", "lab": labstate.describe(), **health.reports()})


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico on their own: send them to the site's SVG icon (hashed and cached)."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
