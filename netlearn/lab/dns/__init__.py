"""The lab's DNS: a root, a ``test.`` TLD, the ``netlearn.test.`` authority and a recursive resolver.

One call starts it all, in dependency order (the resolver must know where the others really
listen, and with port 0 that is only known once they are bound)::

    dns = await start_dns(config, stream)
    dns.resolver.address          # where stub resolvers (the walker, dig) send their questions
    dns.set_drop_share("authoritative", 0.5)
    await dns.stop()

Layout: :mod:`.wire` (shared message policy), :mod:`.zone` (zone data), :mod:`.authority`
(answers from a zone), :mod:`.cache` and :mod:`.resolution` (iterative resolution, sans-I/O),
:mod:`.server` and :mod:`.resolver_server` (the asyncio shells).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..stream import EventStream
from ..topology import LAB_ZONE, LabConfig
from .authority import Authority
from .resolver_server import ResolverServer, Upstream
from .server import DnsServer, DnsServerBase
from .zone import Zone, root_zone, tld_zone

__all__ = ["DnsLab", "DnsServer", "ResolverServer", "Upstream", "start_dns", "ROLES"]

ROLES = ("root", "tld", "authoritative", "resolver")


@dataclass
class DnsLab:
    root: DnsServer
    tld: DnsServer
    authoritative: DnsServer
    resolver: ResolverServer

    def component(self, role: str) -> DnsServerBase:
        if role not in ROLES:
            raise KeyError(f"unknown DNS role {role!r} (one of {', '.join(ROLES)})")
        return getattr(self, role)

    def describe(self) -> dict[str, dict[str, Any]]:
        return {role: self.component(role).describe() for role in ROLES}

    def set_drop_share(self, role: str, p: float) -> None:
        self.component(role).set_drop_share(p)

    async def stop(self) -> None:
        """Stop in reverse order: the resolver first, so no walk is left asking a stopped server."""
        for role in reversed(ROLES):
            await self.component(role).stop()


async def start_dns(
    config: LabConfig,
    stream: EventStream,
    *,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
    upstream_timeout: float = 1.0,
) -> DnsLab:
    """Start the four DNS roles on the config's addresses; stop the started ones if one fails.

    Referrals carry addresses only (glue), so the resolver tells the servers apart by address.
    When the roles share one address (hosts without 127.0.0.0/8 routing), the glue names each
    role's usual lab address instead and the resolver's upstream map translates it to the real
    endpoint: the walk still reads "ask 127.0.1.2" and the packet goes to 127.0.0.1:<port>.
    """
    rng = rng or random.Random()
    glue = _glue_addresses(config)
    common: dict[str, Any] = {"max_connections": config.max_connections, "io_timeout": config.io_timeout}
    root_auth = Authority(root_zone(root_ip=glue["root"], tld_ip=glue["tld"]), role="root")
    tld_auth = Authority(
        tld_zone(root_ip=glue["root"], tld_ip=glue["tld"], authoritative_ip=glue["authoritative"]), role="tld"
    )
    lab_auth = Authority(Zone.from_file(config.zone_file, LAB_ZONE), role="authoritative")
    root, tld, authoritative = (
        DnsServer(endpoint, stream, role, authority=authority, rng=random.Random(rng.random()), **common)
        for endpoint, role, authority in (
            (config.root, "root", root_auth),
            (config.tld, "tld", tld_auth),
            (config.authoritative, "authoritative", lab_auth),
        )
    )
    started: list[DnsServerBase] = []
    try:
        for server in (root, tld, authoritative):
            await server.start()
            started.append(server)
        upstreams = {glue[s.name]: Upstream(s.address, s.name) for s in (root, tld, authoritative)}
        resolver = ResolverServer(
            config.resolver,
            stream,
            "resolver",
            upstreams=upstreams,
            clock=clock,
            timeout=upstream_timeout,
            rng=random.Random(rng.random()),
            **common,
        )
        await resolver.start()
    except BaseException:
        for part in reversed(started):
            await part.stop()
        raise
    return DnsLab(root=root, tld=tld, authoritative=authoritative, resolver=resolver)


def _glue_addresses(config: LabConfig) -> dict[str, str]:
    hosts = {"root": config.root.host, "tld": config.tld.host, "authoritative": config.authoritative.host}
    if len(set(hosts.values())) == len(hosts):
        return hosts
    usual = LabConfig()
    return {"root": usual.root.host, "tld": usual.tld.host, "authoritative": usual.authoritative.host}
