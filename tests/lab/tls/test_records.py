"""The TLS record parser against real handshakes (memory BIOs, no sockets) and hostile bytes."""
from __future__ import annotations

import ssl
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlearn.lab.tls import RecordReader, TlsObserver, TlsParseError, client_context, ensure_lab_pki, server_context
from netlearn.lab.tls.records import parse_client_hello, parse_server_hello, split_handshake


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return ensure_lab_pki(tmp_path_factory.mktemp("ca"))


def _handshake(pki, *, alpn=("h2", "http/1.1"), sni="shop.netlearn.test") -> tuple[TlsObserver, bytes]:
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context(pki, alpn=alpn).wrap_bio(c_in, c_out, server_hostname=sni)
    server = server_context(pki).wrap_bio(s_in, s_out, server_side=True)
    observer, first = TlsObserver(), b""
    for _ in range(4):
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        out = c_out.read()
        first = first or out
        observer.feed("client", out)
        s_in.write(out)
        back = s_out.read()
        observer.feed("server", back)
        c_in.write(back)
    return observer, first


def test_client_hello_matches_what_the_client_was_configured_to_send(pki) -> None:
    observer, _ = _handshake(pki, alpn=("h2", "http/1.1"), sni="www.netlearn.test")
    hello = observer.client_hello
    assert hello is not None
    assert hello.sni == "www.netlearn.test"
    assert hello.alpn == ["h2", "http/1.1"]
    assert 0x0304 in hello.supported_versions
    assert 0x1301 in hello.cipher_suites
    assert any(group == 0x001D and length == 32 for group, length in hello.key_shares)  # x25519


def test_server_hello_selects_tls13_and_later_records_are_marked_encrypted(pki) -> None:
    observer = TlsObserver()
    _, first = _handshake(pki)
    obs, _ = _handshake(pki)
    assert obs.server_hello is not None and obs.server_hello.selected_version == 0x0304
    assert obs.keys_active
    records = observer.feed("client", first)
    assert [r.label for r in records] == ["ClientHello"]
    assert not records[0].encrypted


def test_reader_keeps_partial_records_for_the_next_feed(pki) -> None:
    _, first = _handshake(pki)
    reader = RecordReader()
    assert reader.feed(first[:3]) == [] and reader.pending == 3
    records = reader.feed(first[3:])
    assert len(records) == 1 and records[0].raw == first and reader.pending == 0


@pytest.mark.parametrize("header", [b"\x63\x03\x03\x00\x01", b"\x16\x09\x09\x00\x01", b"\x16\x03\x03\xff\xff"])
def test_reader_refuses_headers_that_cannot_be_tls(header: bytes) -> None:
    with pytest.raises(TlsParseError):
        RecordReader().feed(header)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_give_a_client_hello_or_a_clear_error(data: bytes) -> None:
    try:
        hello = parse_client_hello(data)
    except TlsParseError as exc:
        assert str(exc)  # every refusal says why
    else:
        assert len(hello.random) == 32


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_truncated_or_corrupted_real_hellos_never_crash(pki, data) -> None:
    _, first = _handshake(pki)
    body = split_handshake(first[5:])[0][1]
    cut = data.draw(st.integers(min_value=0, max_value=len(body)))
    flip = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    mutated = bytearray(body[:cut])
    if flip < len(mutated):
        mutated[flip] ^= 0xFF
    for parse in (parse_client_hello, parse_server_hello):
        try:
            parse(bytes(mutated))
        except TlsParseError:
            pass
    observer = TlsObserver()
    record = struct.pack("!BHH", 22, 0x0301, len(mutated) + 4) + b"\x01" + len(mutated).to_bytes(3, "big") + mutated
    observed = observer.feed("client", record[:data.draw(st.integers(min_value=0, max_value=len(record)))])
    assert all(o.error is None or isinstance(o.error, str) for o in observed)


def test_lab_ca_is_generated_once_and_reused(tmp_path) -> None:
    first = ensure_lab_pki(tmp_path)
    again = ensure_lab_pki(tmp_path)
    assert first == again
    assert oct(first.server_key.stat().st_mode & 0o777) == "0o600"
    assert len(list(tmp_path.glob("gen-*"))) == 1
