"""CSRF strings drawn from one ``os.urandom`` call instead of one ``SystemRandom`` call per character.

Why: every page with a form (every lesson step page: the language switcher) asks Django's
``get_token`` for a freshly masked token, and Django draws the 32-character mask with
``get_random_string``: 32 ``SystemRandom.choice`` calls, each a ``getrandom`` system call. Measured
in process: ~155 µs for a token on a loaded core, ~45 µs with this. Only the source of the random
characters changes: the same kernel CSPRNG (``SystemRandom`` reads ``os.urandom`` too), the same
alphabet and length, and every character uniformly drawn (bytes at or above the largest multiple
of 62 below 256 are thrown away, so no character is likelier than another). Django's own
``get_token``, ``rotate_token``, masking, cookie and checks are used unchanged.
"""
from __future__ import annotations

import os

from django.middleware import csrf

ALPHABET = csrf.CSRF_ALLOWED_CHARS
#: Bytes below this map evenly onto the alphabet (248 = 4 × 62); the rest are drawn again.
_UNBIASED_BELOW = 256 - 256 % len(ALPHABET)


def new_csrf_string(length: int = csrf.CSRF_SECRET_LENGTH) -> str:
    """``length`` characters of the CSRF alphabet, each uniformly random from the kernel's CSPRNG."""
    chars: list[str] = []
    while len(chars) < length:
        chars.extend(ALPHABET[byte % len(ALPHABET)] for byte in os.urandom(length + 8) if byte < _UNBIASED_BELOW)
    return "".join(chars[:length])


def install() -> None:
    """Make Django's CSRF code draw its secrets and masks with :func:`new_csrf_string`."""
    csrf._get_new_csrf_string = new_csrf_string
