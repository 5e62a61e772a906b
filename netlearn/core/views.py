"""Site-wide views: health."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from netlearn.core import labstate


async def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the site's and the lab's state: a load balancer's health check can use it."""
    return JsonResponse({"status": "ok", "lab": labstate.describe()})
