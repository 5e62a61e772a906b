"""The one error a lab action raises for a spec it will not run (``actions``, ``http_exchange``)."""
from __future__ import annotations


class ActionError(ValueError):
    """A spec the lab will not run; the message is shown to the learner."""
