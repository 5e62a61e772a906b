"""The backend pipeline without a socket (EmbeddedChannel): bytes in, bytes and events out."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlearn.lab.events import Kind
from netlearn.lab.http import Behaviour, EmbeddedChannel
from netlearn.lab.walker.html import find_subresources

GET = b"GET %s HTTP/1.1\r\nHost: shop.netlearn.test\r\n\r\n"


def split_responses(data: bytes) -> list[tuple[bytes, bytes]]:
    """(head, body) pairs from a byte string of Content-Length framed responses."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int([ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")][0].split(b":")[1])
        out.append((head, rest[:length]))
        data = rest[length:]
    return out


def test_index_page_links_three_subresources_and_names_the_backend() -> None:
    ch = EmbeddedChannel(backend="backend-3")
    [(head, body)] = split_responses(ch.write_inbound(GET % b"/"))
    assert head.startswith(b"HTTP/1.1 200 OK")
    for needed in (b"X-Backend: backend-3", b"Server: ", b"Date: ", b"Content-Length: "):
        assert needed in head
    _, found = find_subresources(body.decode())
    assert [url for _, url in found] == ["/static/style.css", "/static/app.js", "/static/logo.svg"]
    assert not ch.closed


@pytest.mark.parametrize(("path", "status", "ctype"), [
    (b"/static/style.css", 200, b"text/css"), (b"/static/app.js", 200, b"text/javascript"),
    (b"/static/logo.svg", 200, b"image/svg+xml"), (b"/health", 200, b"text/plain"),
    (b"/nowhere", 404, b"text/plain"), (b"/api/hello", 200, b"application/json")])
def test_routes(path: bytes, status: int, ctype: bytes) -> None:
    [(head, _)] = split_responses(EmbeddedChannel().write_inbound(GET % path))
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert b"Content-Type: " + ctype in head


def test_api_hello_names_the_backend_in_json() -> None:
    [(_, body)] = split_responses(EmbeddedChannel(backend="backend-4").write_inbound(GET % b"/api/hello"))
    assert json.loads(body)["backend"] == "backend-4"


def test_slow_path_asks_the_shell_to_wait() -> None:
    ch = EmbeddedChannel()
    ch.write_inbound(GET % b"/slow")
    assert ch.delays == [pytest.approx(0.3)]


def test_post_to_a_page_is_405() -> None:
    out = EmbeddedChannel().write_inbound(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    assert out.startswith(b"HTTP/1.1 405 ") and b"Allow: GET, HEAD" in out


def test_head_has_length_but_no_body() -> None:
    out = EmbeddedChannel().write_inbound(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"Content-Length: " in head and body == b""


def test_pipelined_requests_are_answered_in_order_on_one_connection() -> None:
    ch = EmbeddedChannel()
    out = ch.write_inbound(GET % b"/health" + GET % b"/nowhere" + GET % b"/api/hello")
    statuses = [h.split(b" ")[1] for h, _ in split_responses(out)]
    assert statuses == [b"200", b"404", b"200"]
    assert not ch.closed  # keep-alive
    assert ch.write_inbound(GET % b"/health").startswith(b"HTTP/1.1 200")


def test_request_split_in_single_bytes_still_parses() -> None:
    ch = EmbeddedChannel()
    request = GET % b"/health"
    out = b"".join(ch.write_inbound(request[i:i + 1]) for i in range(len(request)))
    assert out.startswith(b"HTTP/1.1 200")


def test_every_handler_reports_in_pipeline_order_with_real_head_bytes() -> None:
    ch = EmbeddedChannel()
    request = b"GET /api/hello HTTP/1.1\r\nhOsT: shop.netlearn.test\r\nX-Odd:  spaced \r\n\r\n"
    ch.write_inbound(request)
    handlers = [(e.detail["index"], e.detail["handler"], e.detail["action"])
                for e in ch.events if e.kind == Kind.HANDLER]
    assert handlers == [(0, "decoder", "decoded"), (1, "logger", "logged"), (2, "router", "routed"),
                        (3, "application", "handled"), (4, "encoder", "encoded"), (1, "logger", "logged")]
    [req] = [e for e in ch.events if e.kind == Kind.REQUEST]
    assert req.data == request and req.layer == 7
    [resp] = [e for e in ch.events if e.kind == Kind.RESPONSE]
    assert resp.detail["status"] == 200 and resp.detail["backend"] == "backend-1" and resp.data.endswith(b"\r\n\r\n")
    assert resp.detail["body_len"] > 0


MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nNo-colon-here\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 20_000 + b"\r\n\r\n", 431),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)) + b"\r\n\r\n", 400),  # a TLS ClientHello
]


@pytest.mark.parametrize(("data", "status"), MALFORMED)
def test_malformed_input_gets_its_status_an_error_event_and_a_close(data: bytes, status: int) -> None:
    ch = EmbeddedChannel()
    out = ch.write_inbound(data)
    assert out.startswith(b"HTTP/1.1 %d " % status)
    assert b"Connection: close" in out
    assert ch.closed
    assert any(e.kind == Kind.ERROR and e.detail["status"] == status for e in ch.events)


def test_oversized_head_is_refused_before_it_ends() -> None:
    ch = EmbeddedChannel()
    out = ch.write_inbound(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 17_000)
    assert out.startswith(b"HTTP/1.1 431 ") and ch.closed


def test_body_over_the_limit_is_413() -> None:
    ch = EmbeddedChannel()
    out = ch.write_inbound(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 1_100_000)
    assert out.startswith(b"HTTP/1.1 413 ") and ch.closed


def test_truncated_head_then_eof_is_400() -> None:
    ch = EmbeddedChannel()
    assert ch.write_inbound(b"GET / HTTP/1.1\r\nHost: a\r\n") == b""
    assert ch.write_inbound(b"").startswith(b"HTTP/1.1 400 ")
    assert ch.closed


def test_half_close_after_a_full_request_is_still_answered() -> None:
    ch = EmbeddedChannel()
    out = ch.write_inbound(GET % b"/health")
    out += ch.write_inbound(b"")
    assert out.startswith(b"HTTP/1.1 200 ") and ch.closed


def test_idle_eof_closes_without_an_answer() -> None:
    ch = EmbeddedChannel()
    assert ch.write_inbound(b"") == b"" and ch.closed


def test_head_timeout_is_408_only_while_a_head_is_arriving() -> None:
    idle = EmbeddedChannel()
    assert idle.timeout() == b""
    slow = EmbeddedChannel()
    slow.write_inbound(b"GET / HTTP/1.1\r\nHo")
    assert slow.timeout().startswith(b"HTTP/1.1 408 ") and slow.closed


def test_http10_request_is_answered_and_closed() -> None:
    ch = EmbeddedChannel()
    out = ch.write_inbound(b"GET /health HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and ch.closed


def test_error_mode_answers_500_and_latency_adds_delay() -> None:
    behaviour = Behaviour(latency=0.25, mode="error")
    ch = EmbeddedChannel(behaviour=behaviour)
    out = ch.write_inbound(GET % b"/")
    assert out.startswith(b"HTTP/1.1 500 ") and ch.delays == [pytest.approx(0.25)]


def test_close_mode_cuts_the_response_in_the_middle() -> None:
    ch = EmbeddedChannel(behaviour=Behaviour(mode="close"))
    out = ch.write_inbound(GET % b"/")
    head, _, body = out.partition(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert 0 < len(body) < length and ch.closed


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(data: bytes) -> None:
    ch = EmbeddedChannel()
    out = ch.write_inbound(data) + ch.write_inbound(b"")
    assert out == b"" or out.startswith(b"HTTP/1.1 ")
    assert ch.closed


VALID = GET % b"/api/hello?x=1"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.sampled_from(["flip", "drop", "dup", "nul", "lf"])),
                min_size=1, max_size=6))
def test_mutated_requests_never_crash(mutations: list[tuple[int, str]]) -> None:
    data = bytearray(VALID)
    for pos, op in mutations:
        pos %= max(len(data), 1)
        if op == "flip" and data:
            data[pos] ^= 0x20
        elif op == "drop" and data:
            del data[pos]
        elif op == "dup":
            data[pos:pos] = data[pos:pos + 1]
        elif op == "nul":
            data[pos:pos] = b"\x00"
        elif op == "lf":
            data[pos:pos] = b"\n"
    ch = EmbeddedChannel()
    out = ch.write_inbound(bytes(data)) + ch.write_inbound(b"")
    assert out == b"" or out.startswith(b"HTTP/1.1 ")
    statuses = {int(line.split(b" ")[1]) for line in out.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")}
    assert statuses <= {200, 400, 404, 405, 431, 501, 505}
