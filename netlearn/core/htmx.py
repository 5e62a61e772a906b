"""The request type of views that read ``request.htmx`` (set by django-htmx's middleware), as
django-htmx's documentation recommends for type checkers."""
from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
