"""The URL policy: an allow-list decided before any socket exists."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlearn.lab.walker.url import LAB_SUFFIX, ParsedUrl, Refusal, parse_lab_url


@pytest.mark.parametrize("url, host, target", [
    ("http://shop.netlearn.test/", "shop.netlearn.test", "/"),
    ("shop.netlearn.test", "shop.netlearn.test", "/"),
    ("HTTP://Shop.NetLearn.Test/a/b?c=d#frag", "shop.netlearn.test", "/a/b?c=d"),
    ("http://shop.netlearn.test./", "shop.netlearn.test", "/"),
    ("http://shop.netlearn.test:80/", "shop.netlearn.test", "/"),
])
def test_lab_urls_are_accepted(url: str, host: str, target: str) -> None:
    parsed = parse_lab_url(url)
    assert isinstance(parsed, ParsedUrl)
    assert parsed.ascii_host == host
    assert parsed.target == target
    assert parsed.port == 80


def test_idna_name_is_converted_to_punycode() -> None:
    parsed = parse_lab_url("http://가게.netlearn.test/")
    assert isinstance(parsed, ParsedUrl)
    assert parsed.host == "가게.netlearn.test"
    assert parsed.ascii_host.startswith("xn--") and parsed.ascii_host.endswith(".netlearn.test")
    assert parsed.is_idna


def test_fragment_never_reaches_the_wire() -> None:
    parsed = parse_lab_url("http://shop.netlearn.test/page#section")
    assert isinstance(parsed, ParsedUrl)
    assert parsed.fragment == "section" and "#" not in parsed.target


@pytest.mark.parametrize("url, code", [
    ("", "empty"),
    ("   ", "empty"),
    ("http://example.com/", "outside_lab"),
    ("http://netlearn.test.evil.com/", "outside_lab"),
    ("http://evilnetlearn.test/", "outside_lab"),
    ("http://localhost/", "outside_lab"),
    ("http://127.0.0.1/", "ip_literal"),
    ("http://127.0.2.1/", "ip_literal"),
    ("http://2130706433/", "ip_literal"),
    ("http://0177.0.0.1/", "ip_literal"),
    ("http://0x7f.0.0.1/", "ip_literal"),
    ("http://0x7f000001/", "ip_literal"),
    ("http://[::1]/", "ip_literal"),
    ("http://[::ffff:127.0.0.1]/", "ip_literal"),
    ("http://169.254.169.254/latest/meta-data/", "ip_literal"),
    ("file:///etc/passwd", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("ftp://shop.netlearn.test/", "scheme"),
    ("gopher://shop.netlearn.test/", "scheme"),
    ("http://user:pass@shop.netlearn.test/", "credentials"),
    ("http://shop.netlearn.test@example.com/", "credentials"),
    ("http://shop.netlearn.test:8080/", "port"),
    ("http://shop.netlearn.test:99999/", "bad_port"),
    ("http://shop.netlearn.test/\r\nX-Injected: 1", "control_chars"),
    ("http://" + "a" * 64 + ".netlearn.test/", "bad_host"),
    ("http://sh op.netlearn.test/", "bad_host"),
    ("http://shop.netlearn.test/" + "x" * 3000, "too_long"),
])
def test_everything_else_is_refused_with_a_reason(url: str, code: str) -> None:
    result = parse_lab_url(url)
    assert isinstance(result, Refusal), result
    assert result.code == code


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_verdict_and_accepted_hosts_stay_in_the_lab(text: str) -> None:
    result = parse_lab_url(text)
    assert isinstance(result, (ParsedUrl, Refusal))
    if isinstance(result, ParsedUrl):
        assert result.ascii_host == LAB_SUFFIX or result.ascii_host.endswith("." + LAB_SUFFIX)
        assert result.scheme in ("http", "https")


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"https?://[a-z0-9.@:\[\]%-]{1,40}(/[a-z0-9/?=&#%.-]{0,20})?", fullmatch=True))
def test_url_shaped_input_never_escapes_the_lab(text: str) -> None:
    result = parse_lab_url(text)
    if isinstance(result, ParsedUrl):
        assert result.ascii_host.endswith(LAB_SUFFIX)
