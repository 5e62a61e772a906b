"""``manage.py walk URL [--json] [--pcap FILE] [--cold | --warm]``: a real walk from the command line.

The command starts a lab of its own in this process, on the lab's addresses with kernel-chosen
ports (so it works beside ``make run``), walks the URL for real, prints the steps and stops the
lab again. It shares nothing with a running server: events cannot cross processes here.

``--pcap FILE`` writes the walk's frames as pcapng (with the TLS key log), the same file as
``/walk/<id>.pcapng``. ``--cold`` (the default) resolves from an empty cache, so the root, TLD and
authoritative referrals are on the wire; ``--warm`` first resolves the name once, unrecorded, so
the walk shows the resolver's cache hit and its remaining TTL.
"""
from __future__ import annotations

import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from netlearn.lab.calls import topology_map
from netlearn.lab.capture.pcapng import pcapng_bytes
from netlearn.lab.runner import LabThread
from netlearn.lab.topology import LabConfig
from netlearn.walks import packetview, presenters, selectors


class Command(BaseCommand):
    help = "Walk a lab URL for real and print every step (--json: one JSON document)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("url")
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument("--pcap", metavar="FILE", help="write the walk's frames as pcapng to FILE")
        cache = parser.add_mutually_exclusive_group()
        cache.add_argument("--cold", dest="cold", action="store_true", default=True,
                           help="resolve from an empty DNS cache (default): root → TLD → authoritative")
        cache.add_argument("--warm", dest="cold", action="store_false",
                           help="warm the resolver's cache first: the walk shows the cache hit")

    def handle(self, *args, url: str, json: bool = False, pcap: str | None = None, cold: bool = True,
               **options) -> None:
        lab = LabThread(LabConfig.ephemeral())
        try:
            lab.start()
        except RuntimeError as exc:
            raise CommandError(f"The lab could not start: {exc}") from exc
        try:
            cid = uuid.uuid4().hex

            async def walk(running):
                if not cold:
                    await running.walk(url, fetch_subresources=False)  # fills the shared cache; not recorded
                return await running.walk(url, correlation_id=cid, cold=cold), topology_map(running)

            record, topology = lab.submit(walk).result(60)
        finally:
            lab.stop()
        events = record.event_dicts()
        frames = packetview.annotate_frames(record.frames, topology)
        steps = presenters.build_steps(events, topology)
        outcome = record.outcome
        if pcap:
            try:
                with open(pcap, "wb") as f:
                    f.write(pcapng_bytes(frames, keylog=record.capture.get("keylog", "")))
            except OSError as exc:
                raise CommandError(f"Could not write {pcap}: {exc.strerror or exc}") from exc
        if json:
            document = {"id": cid, "url": url, "status": outcome.status, "code": outcome.code,
                        "backends": outcome.backends,
                        "duration_ms": round((outcome.finished - outcome.started) * 1000, 3),
                        "steps": [selectors.step_document(s) for s in steps],
                        "capture": selectors.capture_summary(record.capture),
                        "frames": [selectors.frame_document(f) for f in frames]}
            self.stdout.write(_dumps(document))
            return
        for s in steps:
            peers = ""
            if s.event.get("src") and s.event.get("dst"):
                peers = f"  {s.event['src'][0]}:{s.event['src'][1]} → {s.event['dst'][0]}:{s.event['dst'][1]}"
            size = f"  [{s.event['data_len']} B]" if s.event.get("data_len") else ""
            self.stdout.write(f"{s.t_ms:9.3f} ms  L{s.layer}  {s.component:<13} {s.summary}{peers}{size}")
        capture = record.capture
        self.stdout.write(f"\n{len(frames)} frames on the wire, {capture.get('mode')}"
                          + (f" ({capture.get('reason')})" if capture.get("reason") else "")
                          + (f"; {capture.get('lost')} lost" if capture.get("lost") else "")
                          + ("; cut short: not every close arrived in time" if capture.get("cut_short") else "")
                          + (f"; written to {pcap}" if pcap else ""))
        self.stdout.write(f"\n{outcome.status}" + (f" ({outcome.code})" if outcome.code else "")
                          + (f", answered by {', '.join(outcome.backends)}" if outcome.backends else ""))


def _dumps(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)
