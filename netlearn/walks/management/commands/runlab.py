"""``manage.py runlab``: the lab alone, in its own process.

Prints one JSON line with every role's address and port, then serves until SIGINT/SIGTERM.
Lines on standard input are control commands (``stop-backend 2``, ``latency 3 0.5``,
``algorithm l4 least_connections``, ``kill-active``, ``help``; see ``netlearn.lab.control``);
each answer is one JSON line. ``--events`` prints every lab event as a JSON line on stderr, and
``--availability`` also runs the registry with its instances, the HA pair and the NIO server.
"""
from __future__ import annotations

import functools
import json
import signal
import sys
import threading

from django.core.management.base import BaseCommand, CommandError

from netlearn.lab import control
from netlearn.lab.availability_config import AvailabilityConfig
from netlearn.lab.runner import LabThread
from netlearn.lab.topology import LabConfig


class Command(BaseCommand):
    help = "Run the lab alone until SIGINT/SIGTERM; prints its endpoints as one JSON line; reads commands on stdin."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ephemeral", action="store_true", help="let the kernel choose the ports")
        parser.add_argument("--events", action="store_true", help="print every event as JSON on stderr")
        parser.add_argument("--availability", action="store_true",
                            help="also run the registry, the HA pair and the NIO server")

    def handle(self, *args, ephemeral: bool = False, events: bool = False, availability: bool = False,
               **options) -> None:
        availability_config = None
        if availability:
            availability_config = AvailabilityConfig.ephemeral() if ephemeral else AvailabilityConfig()
        lab = LabThread(LabConfig.ephemeral() if ephemeral else LabConfig(), availability=availability_config)
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
        self._say(lab.call(lambda lab: lab.endpoints()))
        threading.Thread(target=self._commands, args=(lab,), name="runlab-stdin", daemon=True).start()
        while not stop.wait(0.5):
            if not lab.is_alive():
                raise CommandError("The lab stopped unexpectedly.")
        lab.stop()

    def _commands(self, lab: LabThread) -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                command = control.parse(line)
                result = lab.submit(functools.partial(control.apply, command=command)).result(30)
            except control.ControlError as exc:
                result = {"ok": False, "error": str(exc)}
            except Exception as exc:  # noqa: BLE001 - a bad command never stops the lab
                result = {"ok": False, "error": repr(exc)}
            self._say(result)

    def _say(self, document: dict) -> None:
        self.stdout.write(json.dumps(document, ensure_ascii=False, default=str))
        self.stdout.flush()
