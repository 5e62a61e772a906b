"""The handlers, tested the Netty way: through the embedded channel, no network, no real clock."""
from __future__ import annotations

import pytest

from netlearn.lab.iomodels import EmbeddedChannel, LineDecoder
from netlearn.lab.iomodels.pipeline import FrameTooLong


def test_echo_and_upper_answer_in_order() -> None:
    channel = EmbeddedChannel()
    assert channel.write_inbound(b"ECHO hi\r\nUPPER abc\n")
    assert channel.read_all_outbound() == ["OK hi", "OK ABC"]


def test_a_request_split_across_reads_is_reassembled() -> None:
    channel = EmbeddedChannel()
    assert not channel.write_inbound(b"EC")
    assert channel.write_inbound(b"HO split\n")
    assert channel.read_all_outbound() == ["OK split"]


def test_slow_reply_waits_for_the_channel_clock() -> None:
    channel = EmbeddedChannel()
    channel.write_inbound(b"SLOW 500 later\n")
    assert channel.read_outbound() is None and channel.pending == 1
    channel.advance_time(0.499)
    assert channel.read_outbound() is None
    channel.advance_time(0.001)
    assert channel.read_all_outbound() == ["OK later"]


def test_hash_is_a_sha256_prefix() -> None:
    import hashlib

    channel = EmbeddedChannel()
    channel.write_inbound(b"HASH abc\n")
    assert channel.read_all_outbound() == ["OK " + hashlib.sha256(b"abc").hexdigest()[:16]]


@pytest.mark.parametrize("line, error", [(b"NOPE\n", "ERR unknown command 'NOPE'"), (b"\n", "ERR empty request"),
                                         (b"SLOW forever\n", "ERR SLOW takes milliseconds from 0 to 5000"),
                                         (b"SLOW 999999\n", "ERR SLOW takes milliseconds from 0 to 5000")])
def test_bad_requests_get_clear_errors_and_keep_the_channel(line: bytes, error: str) -> None:
    channel = EmbeddedChannel()
    channel.write_inbound(line)
    assert channel.read_all_outbound() == [error]
    assert channel.open


def test_quit_closes_and_drops_what_follows() -> None:
    channel = EmbeddedChannel()
    channel.write_inbound(b"QUIT\nECHO ignored\n")
    assert channel.read_all_outbound() == ["BYE"]
    assert not channel.open
    with pytest.raises(ConnectionError):
        channel.write_inbound(b"ECHO again\n")


def test_an_endless_line_is_bounded_and_closes() -> None:
    channel = EmbeddedChannel(max_frame=16)
    channel.write_inbound(b"x" * 17)
    (reply,) = channel.read_all_outbound()
    assert reply.startswith("ERR") and "exceed 16" in reply
    assert not channel.open


def test_decoder_rejects_a_long_complete_line() -> None:
    decoder = LineDecoder(max_frame=4)
    with pytest.raises(FrameTooLong):
        decoder.feed(b"ECHO long\n")
