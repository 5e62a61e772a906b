"""Site-wide views: health."""
from __future__ import annotations

import asyncio

from django.http import HttpRequest, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static

from netlearn.core import labstate


async def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the site's and the lab's state: a load balancer's health check can use it.
    Asked in a thread: a stuck lab makes ``describe`` wait for its time-out, not the site's loop."""
    return JsonResponse({"status": "ok", "lab": await asyncio.to_thread(labstate.describe)})


async def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico on their own: send them to the site's SVG icon (hashed and cached)."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
