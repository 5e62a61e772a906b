"""``manage.py runlab``: the lab alone, in its own process.

Prints one JSON line with every role's address and port, then serves until SIGINT/SIGTERM.
With ``--events`` every lab event is also printed as a JSON line on stderr.
"""
from __future__ import annotations

import json
import signal
import sys
import threading

from django.core.management.base import BaseCommand, CommandError

from netlearn.lab.runner import LabThread
from netlearn.lab.topology import LabConfig


class Command(BaseCommand):
    help = "Run the lab alone until SIGINT/SIGTERM; prints its endpoints as one JSON line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ephemeral", action="store_true", help="let the kernel choose the ports")
        parser.add_argument("--events", action="store_true", help="print every event as JSON on stderr")

    def handle(self, *args, ephemeral: bool = False, events: bool = False, **options) -> None:
        lab = LabThread(LabConfig.ephemeral() if ephemeral else LabConfig())
        if events:
            lab.stream.subscribe(lambda e: print(json.dumps(e.as_dict(), ensure_ascii=False), file=sys.stderr,
                                                 flush=True))
        try:
            lab.start()
        except RuntimeError as exc:
            raise CommandError(f"The lab could not start: {exc}") from exc
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(json.dumps(lab.call(lambda l: l.endpoints())))
        self.stdout.flush()
        while not stop.wait(0.5):
            if not lab.is_alive():
                raise CommandError("The lab stopped unexpectedly.")
        lab.stop()
