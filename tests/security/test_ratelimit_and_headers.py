"""Rate limits answer a friendly 429; responses carry a strict CSP; `next=` never leaves the site."""
from __future__ import annotations

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def test_walk_creation_is_limited_per_learner_with_a_friendly_429(client, settings):
    settings.NETLEARN_RATE_LIMITS = {"walks:index": (3, 60)}
    client.get("/walk/")  # a session, as a browser has
    statuses = [client.post("/walk/", {"url": "http://203.0.113.9/"}).status_code for _ in range(5)]
    assert statuses[:3] != [429] * 3 and statuses[3:] == [429, 429]
    refused = client.post("/walk/", {"url": "http://203.0.113.9/"})
    assert int(refused["Retry-After"]) >= 1
    assert "429" in refused.content.decode() and "<html" in refused.content.decode()
    assert client.get("/walk/").status_code == 200  # reading stays free


def test_another_learner_has_their_own_budget(client, settings, django_user_model):
    settings.NETLEARN_RATE_LIMITS = {"walks:index": (1, 60)}
    client.get("/walk/")
    client.post("/walk/", {"url": "http://203.0.113.9/"})
    assert client.post("/walk/", {"url": "http://203.0.113.9/"}).status_code == 429
    other = client.__class__()
    other.force_login(django_user_model.objects.create_user("bo", password="pw-bo-12345"))
    assert other.post("/walk/", {"url": "http://203.0.113.9/"}).status_code != 429


def test_pages_carry_a_nonce_based_content_security_policy(client):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy and "'unsafe-inline'" not in policy.split("style-src-attr")[0]
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\\\evil.example/",
                                    "javascript:alert(1)", "http://127.0.0.1.evil.example/"])
def test_signup_and_login_never_redirect_off_site(client, django_user_model, target):
    django_user_model.objects.create_user("dana", password="pw-dana-12345")
    page = client.get("/accounts/login/", {"next": target})
    answer = client.post(f"/accounts/login/?next={target}", {"username": "dana", "password": "pw-dana-12345",
                                                           "next": target})
    assert page.status_code == 200
    assert answer.status_code == 302 and not answer["Location"].startswith(("http", "//", "/\\\\", "javascript"))


def test_login_is_throttled_after_repeated_failures(client, settings, django_user_model):
    django_user_model.objects.create_user("eve", password="pw-eve-correct-1")
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post("/accounts/login/", {"username": "eve", "password": "wrong"})
    locked = client.post("/accounts/login/", {"username": "eve", "password": "pw-eve-correct-1"})
    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.content.decode()
