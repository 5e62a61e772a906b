"""netlearn.core.csrf: Django's CSRF secrets and masks come from one os.urandom call, same alphabet,
same length, every character reachable, and Django's masking and checks still accept them."""
from __future__ import annotations

import pytest
from django.middleware import csrf as django_csrf
from django.test import Client

from netlearn.core.csrf import ALPHABET, new_csrf_string


def test_django_draws_its_csrf_strings_from_ours() -> None:
    assert django_csrf._get_new_csrf_string is new_csrf_string


def test_strings_have_djangos_length_and_alphabet_and_every_character_occurs() -> None:
    drawn = [new_csrf_string() for _ in range(400)]
    assert {len(s) for s in drawn} == {django_csrf.CSRF_SECRET_LENGTH}
    assert set("".join(drawn)) == set(ALPHABET)  # 12,800 draws: every one of the 62 characters
    assert len(set(drawn)) == len(drawn)


def test_a_masked_token_unmasks_to_the_cookie_secret_and_differs_every_time() -> None:
    secret = new_csrf_string()
    tokens = {django_csrf._mask_cipher_secret(secret) for _ in range(50)}
    assert len(tokens) == 50
    assert all(django_csrf._unmask_cipher_token(token) == secret for token in tokens)


@pytest.mark.django_db
def test_a_form_post_needs_the_token_and_passes_with_it() -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    token = page.context["csrf_token"]
    assert client.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 403
    assert client.post("/accounts/login/", {"username": "x", "password": "y",
                                            "csrfmiddlewaretoken": str(token)}).status_code != 403
