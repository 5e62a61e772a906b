"""The client's address, believing ``X-Forwarded-For`` only when a trusted proxy sent it.

Why here and not only uvicorn's ``--proxy-headers``: rate limits key on the address, and a
client that may write its own ``X-Forwarded-For`` could pick a fresh address per request. So the
header counts only when the connection comes from an address in ``NETLEARN_TRUSTED_PROXIES``
(addresses or networks, e.g. ``127.0.0.1`` for nginx on the same host); then the client is the
right-most address in the header that is not itself a trusted proxy (each proxy appends the
address it saw, so entries left of that may have been written by the client). Behind uvicorn's
``--proxy-headers`` ``REMOTE_ADDR`` is already the client and is not a proxy: it is used as is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: HttpRequest) -> str:
    """The address of the client that sent ``request`` (see the module docstring)."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    networks = _networks(tuple(getattr(settings, "NETLEARN_TRUSTED_PROXIES", ())))
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded or not _trusted(remote, networks):
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:  # garbage where an address belongs: the last proxy is all we know
                return remote
    return hops[0] if hops else remote
