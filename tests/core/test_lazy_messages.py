"""netlearn.core.messages.LazyMessageMiddleware: Django's messages, stored and shown as before,
with the storage built only by a request that uses it."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path


def _add(request: HttpRequest) -> HttpResponse:
    messages.success(request, "Saved.")
    return HttpResponse("added")


def _show(request: HttpRequest) -> HttpResponse:
    return HttpResponse("|".join(str(m) for m in messages.get_messages(request)))


def _plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("plain")


urlpatterns = [path("add/", _add), path("show/", _show), path("plain/", _plain)]


def test_a_message_added_is_shown_on_the_next_page_once_and_untouched_pages_keep_it(settings) -> None:
    settings.ROOT_URLCONF = __name__
    client = Client()
    assert client.get("/add/").cookies["messages"].value  # stored in the cookie, as Django does
    plain = client.get("/plain/")
    assert "messages" not in plain.cookies  # a page that never looked leaves the cookie alone
    assert client.get("/show/").content == b"Saved."
    assert client.get("/show/").content == b""  # shown once


def test_a_page_that_never_uses_messages_builds_no_storage(settings) -> None:
    settings.ROOT_URLCONF = __name__
    response = Client().get("/plain/")
    storage = response.wsgi_request._messages
    assert storage._wrapped.__class__ is object  # django.utils.functional.empty: never built
    assert "messages" not in response.cookies
