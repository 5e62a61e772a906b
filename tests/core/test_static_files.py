"""Static files as production and `make run` serve them: hashed names, compressed, cached for a
year; and a favicon, so browsers stop fetching a 404 page on every visit."""
from __future__ import annotations

import gzip

import pytest
from django.core.management import call_command
from django.templatetags.static import static
from django.test import Client, RequestFactory

STORAGES = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "netlearn.core.storage.HashedStaticStorage"}}


@pytest.fixture
def collected(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = STORAGES
    settings.WHITENOISE_AUTOREFRESH = False
    settings.WHITENOISE_USE_FINDERS = False
    settings.DEBUG = False  # as make run and production (the STORAGES change resets the storage)
    call_command("collectstatic", interactive=False, verbosity=0)
    return settings.STATIC_ROOT


async def test_hashed_names_are_compressed_and_cached_for_a_year(collected):
    from netlearn.core.static import AsyncWhiteNoiseMiddleware

    url = static("css/site.css")
    assert url.startswith("/static/css/site.") and url != "/static/css/site.css", url
    assert (collected / url.removeprefix("/static/")).with_suffix(".css.gz").exists() or any(
        p.name.endswith(".css.gz") for p in (collected / "css").iterdir())

    async def never(request):
        raise AssertionError("a static file reached the views")

    middleware = AsyncWhiteNoiseMiddleware(never)
    response = await middleware(RequestFactory().get(url, HTTP_ACCEPT_ENCODING="gzip"))
    assert response.status_code == 200
    assert "max-age=315360000" in response["Cache-Control"] and "immutable" in response["Cache-Control"]
    assert response["Content-Encoding"] == "gzip"
    body = b"".join([chunk async for chunk in response] if hasattr(response, "__aiter__") else response)
    assert b":root" in gzip.decompress(body)


@pytest.mark.django_db
def test_favicon_is_served_and_linked():
    client = Client()
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith(".svg")
    assert client.get(response["Location"]).status_code == 200
    assert 'rel="icon"' in client.get("/walk/").content.decode()
