"""Template context every page gets."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _

from netlearn.core import labstate


def lab_banner(request: HttpRequest) -> dict[str, Any]:
    """``lab_banner`` while the embedded lab is down: lessons and quizzes keep working, walks
    wait for the supervisor to bring the lab back (templates/base.html shows it)."""
    if labstate.is_down():
        return {"lab_banner": _("The lab is restarting…")}
    return {}
