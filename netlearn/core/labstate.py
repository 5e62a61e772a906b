"""The Django side's one handle on the embedded lab (set by the ASGI lifespan and its supervisor)."""
from __future__ import annotations

from typing import Any

_lab: Any = None
#: Set by the supervisor while it replaces a lab that died or stopped answering.
_restarting = False


def set_lab(lab: Any) -> None:
    global _lab
    _lab = lab


def get_lab() -> Any:
    return _lab


def set_restarting(value: bool) -> None:
    global _restarting
    _restarting = value


def is_down() -> bool:
    """The lab should be running here but is not (cheap: no call into the lab's loop, so
    every page can ask). True from the moment the thread dies, before the supervisor notices."""
    if _restarting:
        return True
    return _lab is not None and not _lab.is_alive()


def describe() -> dict[str, Any]:
    if _restarting:
        return {"state": "restarting"}
    if _lab is None:
        return {"state": "off"}
    return _lab.describe()
