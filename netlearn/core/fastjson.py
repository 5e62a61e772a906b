"""JSON columns written with ujson: a walk's events and frames are ~100 KB of JSON, and the
standard library's encoder was a third of storing a walk (issue 18, bench/walk.py --cpu).

What is stored is the same data: ujson writes the same values (numbers in their shortest
round-trip form, strings escaped to ASCII as ``json.dumps`` does), only without the blanks after
``,`` and ``:``; ``tests/core/test_fastjson.py`` reads real walks back both ways. Anything ujson
will not write as the standard library would (a NaN, an int past 64 bits, a non-JSON type with
``default``) is left to the standard library's encoder.
"""
from __future__ import annotations

import json
from typing import Any

import ujson
from django.db import models


class FastJSONEncoder(json.JSONEncoder):
    """``json.dumps(value, cls=FastJSONEncoder)``, the way Django's JSONField calls its encoder
    (SQLite and PostgreSQL alike), through ujson when nothing but plain data is asked for."""

    def encode(self, o: Any) -> str:
        if self.indent is None and not self.sort_keys and not self.skipkeys:
            try:
                return ujson.dumps(o, ensure_ascii=self.ensure_ascii, escape_forward_slashes=False,
                                   reject_bytes=True, allow_nan=False)
            except (TypeError, OverflowError, ValueError):
                pass  # bytes, a custom type, NaN/Infinity, a huge int: as the standard library does it
        return super().encode(o)


class FastJSONField(models.JSONField):
    """A JSONField encoded with :class:`FastJSONEncoder`. To migrations it is the plain
    ``models.JSONField`` it stores the same data as: the encoder is how values are written, not
    what the column is, so swapping it needs no migration (and adds none to merge)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("encoder", FastJSONEncoder)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        if kwargs.get("encoder") is FastJSONEncoder:
            del kwargs["encoder"]
        return name, "django.db.models.JSONField", args, kwargs
