"""Load the shipped content (``fixtures/*.json``) without ever overwriting an instructor's edits.

``loaddata`` would overwrite rows on every ``make run``; this command saves only objects that do
not exist yet (matched by natural key where the model has one, else by primary key), so a
second run changes nothing and duplicates nothing, and content edited in the admin survives.
Files load in name order (``10-lessons.json`` before ``20-questions.json``), each in one
transaction: a broken file changes nothing.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core import serializers
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Load fixtures/*.json, adding only what is missing (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dir", default=str(Path(settings.BASE_DIR) / "fixtures"))

    def handle(self, *args, dir: str, **options) -> None:
        added = skipped = 0
        for path in sorted(Path(dir).glob("*.json")):
            with transaction.atomic():
                for wrapped in serializers.deserialize("json", path.read_text(encoding="utf-8"),
                                                       handle_forward_references=True):
                    obj = wrapped.object
                    manager = type(obj)._default_manager
                    if obj.pk is not None and manager.filter(pk=obj.pk).exists():
                        skipped += 1
                        continue
                    wrapped.save()
                    added += 1
        if added or options.get("verbosity", 1) > 1:
            self.stdout.write(f"seed_content: {added} added, {skipped} already present")
