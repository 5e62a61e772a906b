"""Field rules shared by the content importer and the admin forms, so both reject the same things."""
from __future__ import annotations

import re
from typing import Any

from netlearn.core.diagram import diagram_problems

__all__ = ["diagram_problems", "lab_action_problems", "layers_problems", "slug_problems"]

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

#: The fixed list of lab actions (docs/content-format.md): kind -> {field: allowed values or type}.
LAB_ACTIONS: dict[str, dict[str, Any]] = {
    "walk": {"url": str},
    "dns_query": {"name": str, "type": ("A", "AAAA", "CNAME", "NS", "MX", "TXT", "SOA"),
                  "server": ("resolver", "root", "tld", "authoritative")},
    "lb_distribution": {"balancer": ("l4", "l7"), "algorithm": str, "requests": int},
    "backend_fault": {"backend": (1, 2, 3, 4), "fault": ("stop", "slow", "error")},
    "ha_failover": {},
    "io_models": {},
    "http_exchange": {"scenario": ("caching", "cookies", "cors", "status", "websocket")},
}


def slug_problems(value: Any, path: str) -> list[str]:
    if not isinstance(value, str) or not _SLUG.match(value) or len(value) > 80:
        return [f"{path}: expected a slug (lower-case letters, digits and dashes), got {value!r}"]
    return []


def layers_problems(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return [f"{path}: expected a list of OSI layer numbers 1-7"]
    problems = [f"{path}[{i}]: OSI layer must be 1-7, got {v}" for i, v in enumerate(value) if not 1 <= v <= 7]
    if len(set(value)) != len(value):
        problems.append(f"{path}: a layer is listed twice")
    return problems


def lab_action_problems(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{path}: expected null or an object with a 'kind'"]
    kind = value.get("kind")
    if kind not in LAB_ACTIONS:
        return [f"{path}.kind: expected one of {sorted(LAB_ACTIONS)}, got {kind!r}"]
    spec = LAB_ACTIONS[kind]
    problems = []
    for key in set(value) - {"kind", *spec}:
        problems.append(f"{path}.{key}: not a field of a {kind!r} action")
    for key, rule in spec.items():
        if key not in value:
            problems.append(f"{path}.{key}: missing")
            continue
        item = value[key]
        if isinstance(rule, tuple):
            if item not in rule:
                problems.append(f"{path}.{key}: expected one of {list(rule)}, got {item!r}")
        elif rule is int:
            if not isinstance(item, int) or isinstance(item, bool) or not 1 <= item <= 1000:
                problems.append(f"{path}.{key}: expected a whole number 1-1000")
        elif not isinstance(item, str) or not item.strip():
            problems.append(f"{path}.{key}: expected a non-empty string")
    if kind == "walk" and isinstance(value.get("url"), str) and not value["url"].startswith(("http://", "https://")):
        problems.append(f"{path}.url: expected an http:// or https:// URL")
    return problems
