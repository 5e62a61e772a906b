"""Run the DNS part of the lab alone: ``python -m netlearn.lab.dns [--ephemeral] [--events]``.

Prints one JSON line with every role's address and port, then serves until SIGINT/SIGTERM, so
that ``dig @127.0.1.4 -p 15353 shop.netlearn.test`` can be tried without the web site.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from ..stream import EventStream
from ..topology import LabConfig
from . import ROLES, start_dns


async def _serve(config: LabConfig, show_events: bool) -> None:
    stream = EventStream()
    dns = await start_dns(config, stream)
    described = dns.describe()
    print(
        json.dumps(
            {role: {"host": described[role]["host"], "port": described[role]["port"]} for role in ROLES}
        ),
        flush=True,
    )
    if show_events:  # after the JSON line, so that scripts can read it first
        stream.subscribe(lambda e: print(f"{e.component:>13} {e.kind.value:<8} {e.summary}", flush=True))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        await dns.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ephemeral", action="store_true", help="let the kernel choose the ports")
    parser.add_argument("--events", action="store_true", help="print every event as it happens")
    args = parser.parse_args()
    asyncio.run(_serve(LabConfig.ephemeral() if args.ephemeral else LabConfig(), args.events))


if __name__ == "__main__":
    main()
