"""Static files under content-hashed names, compressed, in every setting that serves them.

WhiteNoise's ``CompressedManifestStaticFilesStorage`` writes ``site.3f2a….css`` plus ``.gz`` next
to each file at collectstatic time (``make setup`` runs it); WhiteNoise then answers hashed names
with a ten-year ``immutable`` cache and the compressed variant. Pages use the hashed names whenever
DEBUG is off (production and ``make run``); with DEBUG on they use the plain names, re-read on
change. A process started without collectstatic falls back to the plain names instead of failing.
"""
from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.storage import StaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedStaticStorage(CompressedManifestStaticFilesStorage):
    #: A file missing from the manifest (added after collectstatic) keeps its plain name instead
    #: of failing the page.
    manifest_strict = False

    def url(self, name: Any, force: bool = False) -> str:
        try:
            return super().url(name, force=force)
        except ValueError:  # not collected (a process started without collectstatic): the plain name
            return StaticFilesStorage.url(self, name)
