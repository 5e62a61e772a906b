"""Report Korean text in the database that strays from docs/terms.ko.tsv.

Instructors edit lessons, glossary entries and questions in the admin, where no test runs:
``python manage.py check_terms_ko`` reads what is stored now, exactly as ``export_content`` would
write it, and prints one line per finding (field, form found, what to write and why). It changes
nothing; the exit status is 1 when something was found, so it can gate a publishing script.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from netlearn.core.content import export_document
from netlearn.core.vocabulary import Checker, korean_fields


class Command(BaseCommand):
    help = "Check the stored course's Korean text against docs/terms.ko.tsv (reports only)."

    def handle(self, *args, **options) -> None:
        findings = Checker().check_all(korean_fields(export_document()))
        for finding in findings:
            self.stdout.write(str(finding))
        if findings:
            raise CommandError(f"{len(findings)} Korean term(s) stray from docs/terms.ko.tsv")
        self.stdout.write("Korean text follows docs/terms.ko.tsv.")
