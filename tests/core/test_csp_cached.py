"""The cached CSP header (netlearn.core.csp) is exactly what django-csp builds for the same nonce."""
from __future__ import annotations

import re

import pytest
from csp.utils import build_policy

pytestmark = pytest.mark.django_db


def test_the_header_is_the_librarys_with_this_responses_nonce(client) -> None:
    headers = []
    for _ in range(2):
        response = client.get("/accounts/login/")
        html = response.content.decode()
        nonce = re.search(r'"inlineStyleNonce": "([^"]+)"', html).group(1)
        assert response["Content-Security-Policy"] == build_policy(nonce=nonce)
        headers.append(response["Content-Security-Policy"])
    assert headers[0] != headers[1]  # a fresh nonce every response


def test_a_response_without_a_nonce_gets_the_policy_without_one(client) -> None:
    response = client.get("/healthz")
    assert response["Content-Security-Policy"] == build_policy() and "nonce-" not in build_policy()


def test_overridden_settings_are_followed(client, settings) -> None:
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    assert client.get("/healthz")["Content-Security-Policy"] == "default-src 'none'"
