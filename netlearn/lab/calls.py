"""The calls the site makes into a running :class:`~netlearn.lab.runner.Lab`, as module-level
functions.

Why not lambdas: a lab in its own process (:mod:`netlearn.lab.process`) receives each call
pickled, and pickle sends a function by its module and name, so only a function that can be
imported there can cross. The embedded thread (:class:`~netlearn.lab.runner.LabThread`) takes the
same functions, so the site makes the same calls whichever way its lab runs. Bind arguments with
``functools.partial``; the lab is always the first argument.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runner import ActionRecord, Lab, WalkRecord


async def noop(lab: Lab) -> None:
    """The supervisor's ping: an answer proves the lab's loop turns."""
    return None


async def endpoints(lab: Lab) -> dict[str, Any]:
    return lab.endpoints()


def topology_map(lab: Lab) -> dict[str, str]:
    """Lab address → diagram node id, stored with the walk so a replay draws the same picture."""
    found = lab.endpoints()
    nodes = {lab.config.client_host: "client"}
    for role in ("root", "tld", "authoritative", "resolver", "l4", "l7"):
        nodes[found[role]["host"]] = role
    for index, backend in enumerate(found["backends"], start=1):
        nodes[backend["host"]] = f"backend-{index}"
    return nodes


async def topology(lab: Lab) -> dict[str, str]:
    return topology_map(lab)


async def walk_and_topology(lab: Lab, url: str, *, correlation_id: str, cold: bool = False, **options: Any
                            ) -> tuple[WalkRecord, dict[str, str]]:
    """A learner's walk, and the address → node map the stored walk is drawn with. ``options``
    go to :meth:`~netlearn.lab.runner.Lab.walk` (``protocol="h3"``, say)."""
    return await lab.walk(url, correlation_id=correlation_id, cold=cold, **options), topology_map(lab)


async def action_and_topology(lab: Lab, spec: dict[str, Any], *, correlation_id: str
                              ) -> tuple[ActionRecord, dict[str, str]]:
    """A lesson step's "try it" action, and the map (as :func:`walk_and_topology`)."""
    return await lab.run_action(spec, correlation_id=correlation_id), topology_map(lab)
