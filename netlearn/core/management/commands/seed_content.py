"""Load the shipped course (``fixtures/content/*.json``) without overwriting instructors' edits.

``loaddata`` would overwrite rows on every ``make run``. This command imports in ``add_missing``
mode: objects whose key already exists are left as they are, so a second run changes nothing
and duplicates nothing, and content edited in the admin survives. The files are merged and
validated as one document before anything is written (see ``netlearn.core.content``).
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from netlearn.core.content import ContentError, import_document, load_files


class Command(BaseCommand):
    help = "Load fixtures/content/*.json, adding only what is missing (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dir", default=str(Path(settings.BASE_DIR) / "fixtures" / "content"))

    def handle(self, *args, dir: str, **options) -> None:
        paths = sorted(Path(dir).glob("*.json"))
        try:
            stats = import_document(load_files(paths), mode="add_missing")
        except ContentError as exc:
            raise CommandError("The shipped content is invalid:\n  " + "\n  ".join(exc.problems)) from exc
        if stats.added or options.get("verbosity", 1) > 1:
            self.stdout.write(f"seed_content: {stats.added} added, {stats.skipped} already present")
