#!/usr/bin/env python
"""Run a command against real PostgreSQL and Redis servers started for it, then stop them.

    .venv/bin/python scripts/with_services.py -- python -m pytest ...

Both servers live in a temporary folder on loopback ports the kernel picks (never the system
services). The command sees ``DATABASE_URL`` and ``REDIS_URL``, so Django's settings, read at
start-up, switch to PostgreSQL (psycopg 3) and the Redis channel layer — the second ``make test``
configuration. Its exit status is the command's.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netlearn.devtools.servers import Postgres, Redis


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1:] if "--" in argv else argv
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="netlearn-services-") as tmp:
        postgres = Postgres(Path(tmp) / "pg")
        redis = Redis(Path(tmp) / "redis")
        try:
            postgres.start()
            postgres.create_database()
            redis.start()
            env = {**os.environ, "DATABASE_URL": postgres.url, "REDIS_URL": redis.url}
            print(f"with-services: PostgreSQL {postgres.url}  Redis {redis.url}", flush=True)
            return subprocess.call(command, env=env)
        finally:
            redis.stop()
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
