"""``manage.py walk URL [--json]``: a real walk from the command line.

The command starts a lab of its own in this process, on the lab's addresses with kernel-chosen
ports (so it works beside ``make run``), walks the URL for real, prints the steps and stops the
lab again. It shares nothing with a running server: events cannot cross processes here.
"""
from __future__ import annotations

import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from netlearn.lab.runner import LabThread
from netlearn.lab.topology import LabConfig
from netlearn.walks import presenters, selectors
from netlearn.walks.services import topology_map


class Command(BaseCommand):
    help = "Walk a lab URL for real and print every step (--json: one JSON document)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("url")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args, url: str, json: bool = False, **options) -> None:
        lab = LabThread(LabConfig.ephemeral())
        try:
            lab.start()
        except RuntimeError as exc:
            raise CommandError(f"The lab could not start: {exc}") from exc
        try:
            cid = uuid.uuid4().hex

            async def walk(running):
                return await running.walk(url, correlation_id=cid), topology_map(running)

            record, topology = lab.submit(walk).result(60)
        finally:
            lab.stop()
        events = [e.as_dict() for e in record.events]
        steps = presenters.build_steps(events, topology)
        outcome = record.outcome
        if json:
            document = {"id": cid, "url": url, "status": outcome.status, "code": outcome.code,
                        "backends": outcome.backends,
                        "duration_ms": round((outcome.finished - outcome.started) * 1000, 3),
                        "steps": [selectors.step_document(s) for s in steps]}
            self.stdout.write(_dumps(document))
            return
        for s in steps:
            peers = ""
            if s.event.get("src") and s.event.get("dst"):
                peers = f"  {s.event['src'][0]}:{s.event['src'][1]} → {s.event['dst'][0]}:{s.event['dst'][1]}"
            size = f"  [{s.event['data_len']} B]" if s.event.get("data_len") else ""
            self.stdout.write(f"{s.t_ms:9.3f} ms  L{s.layer}  {s.component:<13} {s.summary}{peers}{size}")
        self.stdout.write(f"\n{outcome.status}" + (f" ({outcome.code})" if outcome.code else "")
                          + (f", answered by {', '.join(outcome.backends)}" if outcome.backends else ""))


def _dumps(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)
