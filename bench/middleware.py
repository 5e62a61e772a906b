"""bench/middleware: what each middleware layer costs a cached lesson step page, in process.

Not a test: a measurement. It seeds a throw-away database (as bench/pages does), then, in this
process with the production settings, serves the same step page to a returning anonymous learner
through Django's sync handler (the chain netlearn.core.asgi_handler runs in one hop) with every
layer's ``__call__`` timed (CPU time, ``time.process_time``): a layer's own cost is its time minus
the time of the layer inside it; "the view" is Django's URL resolution, the view and what it
calls (page cache, slots, response). Medians of ``--rounds`` rounds of ``--requests`` requests.
The test client's own work (building the request, reading the response) is outside every layer
and not counted; the ASGI server's is measured by bench/pages and bench/classroom instead.

    .venv/bin/python bench/middleware.py [--requests 2000] [--rounds 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pages import PATH, _env, _seed


class _Timer:
    """Inclusive CPU seconds per layer, summed over the requests of a round."""

    def __init__(self) -> None:
        self.inclusive: dict[str, float] = {}

    def wrap(self, cls: type, name: str, method: str = "__call__") -> None:
        original = getattr(cls, method)
        timer = self

        def timed(self: object, *args: object, **kwargs: object) -> object:
            start = time.process_time()
            try:
                return original(self, *args, **kwargs)
            finally:
                timer.inclusive[name] = timer.inclusive.get(name, 0.0) + time.process_time() - start

        setattr(cls, method, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON line with the figures")
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="netlearn-bench-mw-")
    env = _env(data_dir, threads=1)
    try:
        _seed(env, data_dir)
        os.environ.update(env)
        import django

        django.setup()
        from django.conf import settings
        from django.test import Client
        from django.test.utils import setup_test_environment

        setup_test_environment()
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        from django.core.handlers.base import BaseHandler
        from django.utils.module_loading import import_string

        full = list(settings.MIDDLEWARE)
        timer = _Timer()
        for path in full:
            timer.wrap(import_string(path), path)
        timer.wrap(BaseHandler, "view", "_get_response")
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.get(PATH)  # a learner's session and CSRF cookie: from now on a returning learner
        for _ in range(100):
            assert client.get(PATH).status_code == 200
        order = [*full, "view"]
        own: dict[str, list[float]] = {name: [] for name in order}
        totals = []
        for _ in range(args.rounds):
            timer.inclusive.clear()
            for _ in range(args.requests):
                client.get(PATH)
            for outer, inner in zip(order, order[1:] + [None]):
                spent = timer.inclusive[outer] - (timer.inclusive[inner] if inner else 0.0)
                own[outer].append(spent * 1000 / args.requests)
            totals.append(timer.inclusive[order[0]] * 1000 / args.requests)
        layers = {name: round(statistics.median(values), 4) for name, values in own.items()}
        total = statistics.median(totals)
        doc = {"bench": "middleware", "path": PATH, "requests": args.requests, "rounds": args.rounds,
               "load_avg_1m": os.getloadavg()[0], "all_layers_ms": round(total, 4), "own_ms": layers}
        if args.json:
            print(json.dumps(doc))
            return
        print(f"GET {PATH}, a returning anonymous learner, Django's sync handler in process; medians of "
              f"{args.rounds} rounds x {args.requests} requests; load average {doc['load_avg_1m']:.1f}")
        print(f"{'middleware + view, CPU per request':<58}{total:8.3f} ms")
        for name, ms in layers.items():
            print(f"  {name:<56}{ms:8.3f} ms")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
