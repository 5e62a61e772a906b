"""One small control API for failure injection: lessons, the admin and ``runlab`` all use it.

A command is a dict (``{"op": "latency", "backend": 2, "seconds": 0.3}``) or a line of text
(``latency 2 0.3``). Everything is validated and bounded here — a backend number outside 1..4,
a latency above 10 s or an unknown algorithm is refused with :class:`ControlError`, never
passed on. Each component reports the change itself as a CONTROL event on the stream.
"""
from __future__ import annotations

from typing import Any

from .actions import ALGORITHM_ALIASES, ALGORITHMS

HELP = """commands:
  describe                          every component's state
  stop-backend N | start-backend N  stop or start backend N (1-4)
  latency N SECONDS                 add latency to backend N (0-10 s)
  mode N ok|error|close             answer normally, with 500, or close mid-response
  algorithm l4|l7 NAME              round_robin, weighted_round_robin, least_connections, source_hash, peak_ewma
  weights l4|l7 backend-1=3,...     weights for weighted round robin (1-100)
  drop root|tld|authoritative|resolver SHARE   drop that share (0-1) of DNS queries
  flush-dns                         empty the resolver's cache
  kill-instance ID | restart-instance ID       registry instances (runlab --availability)
  kill-active | restore-active      the HA pair's active node (runlab --availability)"""


class ControlError(ValueError):
    """A command the lab will not carry out; the message says why."""


def parse(line: str) -> dict[str, Any]:
    words = line.split()
    if not words:
        raise ControlError("empty command")
    op, args = words[0].replace("-", "_"), words[1:]
    try:
        if op in ("describe", "flush_dns", "kill_active", "restore_active", "help"):
            return {"op": op}
        if op in ("stop_backend", "start_backend"):
            return {"op": op, "backend": int(args[0])}
        if op == "latency":
            return {"op": op, "backend": int(args[0]), "seconds": float(args[1])}
        if op == "mode":
            return {"op": op, "backend": int(args[0]), "mode": args[1]}
        if op == "algorithm":
            return {"op": op, "balancer": args[0], "name": args[1]}
        if op == "weights":
            pairs = dict(item.split("=", 1) for item in args[1].split(","))
            return {"op": op, "balancer": args[0], "weights": {k: int(v) for k, v in pairs.items()}}
        if op == "drop":
            return {"op": op, "role": args[0], "share": float(args[1])}
        if op in ("kill_instance", "restart_instance"):
            return {"op": op, "instance": args[0]}
    except (IndexError, ValueError) as exc:
        raise ControlError(f"bad arguments for {words[0]}: {exc}") from None
    raise ControlError(f"unknown command {words[0]!r} (try: help)")


def _backend(command: dict[str, Any]) -> int:
    n = command.get("backend")
    if not isinstance(n, int) or not 1 <= n <= 4:
        raise ControlError("backend must be 1, 2, 3 or 4")
    return n


def _balancer(command: dict[str, Any]) -> str:
    if command.get("balancer") not in ("l4", "l7"):
        raise ControlError("balancer must be l4 or l7")
    return command["balancer"]


async def apply(lab: Any, command: dict[str, Any]) -> dict[str, Any]:
    """Carry out one command on a running :class:`~netlearn.lab.runner.Lab`; returns its new state."""
    op = command.get("op")
    web, dns = lab.web, lab.dns
    if op == "help":
        return {"help": HELP}
    if op == "describe":
        return lab.describe()
    if op == "stop_backend":
        await web.stop_backend(_backend(command))
    elif op == "start_backend":
        await web.start_backend(_backend(command))
    elif op == "latency":
        seconds = float(command.get("seconds", 0))
        if not 0 <= seconds <= 10:
            raise ControlError("latency must be between 0 and 10 seconds")
        web.set_latency(_backend(command), seconds)
    elif op == "mode":
        if command.get("mode") not in ("ok", "error", "close"):
            raise ControlError("mode must be ok, error or close")
        web.set_mode(_backend(command), command["mode"])
    elif op == "algorithm":
        name = ALGORITHM_ALIASES.get(command.get("name", ""), command.get("name", ""))
        if name not in ALGORITHMS:
            raise ControlError(f"algorithm must be one of {', '.join(ALGORITHMS)}")
        web.set_algorithm(_balancer(command), name)
    elif op == "weights":
        weights = command.get("weights") or {}
        if not all(k in {f"backend-{i}" for i in range(1, 5)} and isinstance(v, int) and 1 <= v <= 100
                   for k, v in weights.items()):
            raise ControlError("weights are backend-N=1..100")
        web.set_weights(_balancer(command), weights)
    elif op == "drop":
        share = float(command.get("share", 0))
        if command.get("role") not in ("root", "tld", "authoritative", "resolver") or not 0 <= share <= 1:
            raise ControlError("drop ROLE SHARE: role root|tld|authoritative|resolver, share 0..1")
        dns.set_drop_share(command["role"], share)
    elif op == "flush_dns":
        dns.resolver.flush_cache()
    elif op in ("kill_instance", "restart_instance", "kill_active", "restore_active"):
        standing = getattr(lab, "availability", None)
        if standing is None:
            raise ControlError("the availability lab is not running (start runlab with --availability)")
        if op == "kill_instance":
            if command.get("instance") not in standing.instances:
                raise ControlError(f"no instance {command.get('instance')!r}")
            await standing.kill_instance(command["instance"])
        elif op == "restart_instance":
            await standing.restart_instance(str(command.get("instance")))
        elif op == "kill_active":
            await standing.kill_active()
        else:
            await standing.restore_active()
    else:
        raise ControlError(f"unknown operation {op!r}")
    return {"ok": True, "op": op}
