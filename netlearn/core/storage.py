"""Static files under content-hashed names, compressed, in every setting that serves them.

WhiteNoise's ``CompressedManifestStaticFilesStorage`` writes ``site.3f2a….css`` plus ``.gz`` next
to each file at collectstatic time; WhiteNoise then answers hashed names with a ten-year
``immutable`` cache and the compressed variant. Django hands out the hashed URL only when DEBUG is
off, and ``make run`` (the dev settings) keeps DEBUG on for its error pages: this storage always
hands out the hashed URL, so every page a learner sees loads cacheable, compressed files.
"""
from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.storage import StaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedStaticStorage(CompressedManifestStaticFilesStorage):
    #: A file missing from the manifest (added after collectstatic) keeps its plain name instead
    #: of failing the page.
    manifest_strict = False

    def url(self, name: Any, force: bool = True) -> str:
        try:
            return super().url(name, force=force)
        except ValueError:  # not collected (a process started without collectstatic): the plain name
            return StaticFilesStorage.url(self, name)
