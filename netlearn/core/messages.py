"""Django's message middleware with the storage built only when a request uses it.

Why: ``MessageMiddleware`` builds the default ``FallbackStorage`` (a cookie storage and a session
storage) for every request, ~40 µs, profiled, although most pages (every cached lesson step page)
neither add nor show a message. Here the storage is built on first use; a request that never
touched it has nothing to save, exactly as Django's ``BaseStorage.update`` finds when neither
``used`` nor ``added_new`` is set. Adding, reading and saving messages go through Django's own
storage unchanged.
"""
from __future__ import annotations

from typing import Any

from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty


class LazyMessageMiddleware(MessageMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> Any:
        storage = getattr(request, "_messages", None)
        if type(storage) is SimpleLazyObject and storage._wrapped is empty:  # type: ignore[attr-defined]
            return response  # never used: nothing was read, nothing added, nothing to store
        return super().process_response(request, response)
