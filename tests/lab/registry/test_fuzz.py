"""Arbitrary bytes never crash the sans-I/O parsers: they parse or raise their own clear error."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netlearn.lab.ha import AdvertError, parse
from netlearn.lab.iomodels import EmbeddedChannel
from netlearn.lab.registry import RegistryError, parse_message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_registry_parser_only_raises_registry_errors(body: bytes) -> None:
    try:
        parse_message(body)
    except RegistryError as exc:
        assert exc.code and exc.status in (400, 413)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=16))
def test_advert_parser_only_raises_advert_errors(data: bytes) -> None:
    try:
        advert = parse(data)
    except AdvertError as exc:
        assert exc.code
    else:
        assert len(data) == 12 and parse(advert.serialize()) == advert


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_the_pipeline_answers_every_line_or_closes(chunks: list[bytes]) -> None:
    channel = EmbeddedChannel(max_frame=256)
    for chunk in chunks:
        if not channel.open:
            break
        channel.write_inbound(chunk)
    channel.advance_time(10)
    replies = channel.read_all_outbound()
    assert all(r.startswith(("OK", "ERR", "BYE")) for r in replies)
