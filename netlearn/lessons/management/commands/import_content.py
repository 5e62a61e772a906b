"""Import a content document, replacing objects with the same keys: all or nothing.

The whole file is validated first; any problem rejects it with every problem listed by path
(``lessons[0].steps[2].body.ko: missing or empty``) and the database is left unchanged.
"""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from netlearn.core.content import ContentError, import_document, load_files


class Command(BaseCommand):
    help = "Import content JSON files (replace mode). Rejects the whole import on any problem."

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", help="JSON files in the content format")
        parser.add_argument("--add-missing", action="store_true",
                            help="only add objects whose key does not exist yet (like seed_content)")

    def handle(self, *args, paths: list[str], add_missing: bool = False, **options) -> None:
        files = [Path(p) for p in paths]
        for path in files:
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
        try:
            stats = import_document(load_files(files), mode="add_missing" if add_missing else "replace")
        except ContentError as exc:
            raise CommandError(
                f"Import rejected, nothing was changed ({len(exc.problems)} problem(s)):\n  "
                + "\n  ".join(exc.problems)
            ) from exc
        for name, (added, updated, skipped) in stats.by_section.items():
            self.stdout.write(f"{name}: {added} added, {updated} updated, {skipped} unchanged")
        self.stdout.write(self.style.SUCCESS(f"Imported: {stats.added} added, {stats.updated} updated."))
