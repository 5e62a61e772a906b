"""The Django side's one handle on the embedded lab (set by the ASGI lifespan)."""
from __future__ import annotations

from typing import Any

_lab: Any = None


def set_lab(lab: Any) -> None:
    global _lab
    _lab = lab


def get_lab() -> Any:
    return _lab


def describe() -> dict[str, Any]:
    if _lab is None:
        return {"state": "off"}
    return _lab.describe()
