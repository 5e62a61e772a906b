"""Pure rules of a live session: join codes and display names. No database, no clock."""
from __future__ import annotations

import re
import secrets
import unicodedata

from django.utils.translation import gettext as _

#: No 0/O, 1/I/L: a code read aloud in a lecture hall or typed on a phone should not be misread.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
NAME_MAX = 40
_SPACES = re.compile(r"\s+")


class ClassroomError(ValueError):
    """A refused request; the message is shown as is to the person who made it."""

    def __init__(self, message: str, *, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str:
    """``ab-c 2de`` → ``ABC2DE``: spaces, dashes and case do not matter (full-width digits too)."""
    text = unicodedata.normalize("NFKC", raw or "").upper()
    return "".join(ch for ch in text if ch.isalnum())[:32]


def is_well_formed_code(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in code)


def clean_display_name(raw: str) -> str:
    """A name everyone in the room will see. Refused (with the reason) rather than silently
    changed: markup, control characters, empty, longer than NAME_MAX."""
    name = _SPACES.sub(" ", unicodedata.normalize("NFKC", raw or "")).strip()
    if not name:
        raise ClassroomError(_("Type a name the room will see."), code="name_empty")
    if len(name) > NAME_MAX:
        raise ClassroomError(_("That name is too long: at most %(n)d characters.") % {"n": NAME_MAX}, code="name_long")
    if any(ch in "<>" for ch in name) or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise ClassroomError(_("Names cannot contain < or > or invisible characters."), code="name_markup")
    return name
