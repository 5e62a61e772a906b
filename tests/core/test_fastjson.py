"""Walk events and frames written through ujson (``netlearn/core/fastjson.py``; issue 18) read
back as the same values the standard library's JSON gives, and migrations see the plain field."""
from __future__ import annotations

import json
import math

import pytest

from netlearn.core.fastjson import FastJSONEncoder, FastJSONField
from netlearn.walks.models import Walk

#: Plain data as walks hold it, and the corners where encoders differ: float forms, big ints,
#: non-ASCII and astral text, escapes, keys that are not strings, tuples, nesting.
VALUES = [
    {"ts": 1764759600.123456, "seq": 0, "data_hex": "47455420", "detail": {"step": "url", "n": None, "ok": True}},
    [1e-05, 1e16, 0.1, -0.0, 5e-324, 1.7976931348623157e308, 2**63, 2**64, -(2**63), 123456789012345678901234567890],
    "한국어 é \u2028 </script> \"quoted\" \\ \t \ud83d\ude00 😀",
    "\x00 NUL (PostgreSQL's jsonb refuses it, whichever encoder wrote it)",
    {1: "int key", None: "none key", 1.5: "float key"}, (1, (2, [3])), [[[[{"deep": [{}]}]]]], {}, [], "", 0, None,
]


@pytest.mark.parametrize("value", VALUES)
def test_reads_back_what_the_standard_library_would(value) -> None:
    fast = json.dumps(value, cls=FastJSONEncoder)
    assert json.loads(fast) == json.loads(json.dumps(value))


def test_what_ujson_cannot_write_is_left_to_the_standard_library() -> None:
    assert json.dumps([math.nan, math.inf], cls=FastJSONEncoder) == "[NaN, Infinity]"
    with pytest.raises(TypeError):
        json.dumps({"a": b"bytes"}, cls=FastJSONEncoder)
    assert json.dumps({"b": 1, "a": 2}, cls=FastJSONEncoder, sort_keys=True, indent=1) == json.dumps(
        {"b": 1, "a": 2}, sort_keys=True, indent=1)


def test_migrations_see_the_plain_json_field() -> None:
    for name in ("events", "frames"):
        field = Walk._meta.get_field(name)
        assert isinstance(field, FastJSONField) and field.encoder is FastJSONEncoder
        _name, path, _args, kwargs = field.deconstruct()
        assert path == "django.db.models.JSONField" and "encoder" not in kwargs


@pytest.mark.django_db
def test_a_walk_row_reads_back_as_through_the_standard_encoder() -> None:
    """Beside a plain JSONField of the same row (``params``): the same values back, whatever the
    database makes of them (PostgreSQL's jsonb turns 1e16 into an int and -0.0 into 0)."""
    walk = Walk.objects.create(url="http://shop.netlearn.test/", events=VALUES[:3], frames=VALUES[:3],
                               params=VALUES[:3])
    stored = Walk.objects.get(id=walk.id)
    assert stored.events == stored.frames == stored.params and stored.events[0] == VALUES[0]
