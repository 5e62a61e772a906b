"""Write every track, lesson, glossary term (and the quizzes' sections) as one JSON document.

``python manage.py export_content > course.json``; ``import_content course.json`` reads it back.
"""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from netlearn.core.content import export_document


class Command(BaseCommand):
    help = "Export all course content as JSON (docs/content-format.md) to stdout or --output."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", "-o", help="write to this file instead of stdout")

    def handle(self, *args, output: str | None = None, **options) -> None:
        text = json.dumps(export_document(), ensure_ascii=False, indent=2) + "\n"
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
            self.stderr.write(f"exported to {output}")
        else:
            self.stdout.write(text, ending="")
