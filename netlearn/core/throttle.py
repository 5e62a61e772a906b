"""Login throttling (django-axes) that also lets non-web code authenticate.

Axes' backend refuses any ``authenticate()`` call without a request, which breaks management
commands and the test client's ``login()``. Those are not a brute-force path (no network
attacker reaches them), so without a request this backend steps aside and the next backend
(Django's ``ModelBackend``) decides; every web login still goes through Axes.
"""
from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend


class LoginThrottleBackend(AxesStandaloneBackend):
    def authenticate(self, request: Any, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
