"""The web features of the HTTP lesson, through a backend's pipeline with no socket (EmbeddedChannel)."""
from __future__ import annotations

import base64
import hashlib

from netlearn.lab.http import EmbeddedChannel
from netlearn.lab.http.features import CATALOG_ETAG, etag_matches, session_value


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: api.netlearn.test", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def head_of(data: bytes) -> str:
    return data.split(b"\r\n\r\n", 1)[0].decode("latin-1")


def test_a_matching_if_none_match_gets_304_with_no_body_and_no_content_length() -> None:
    first = EmbeddedChannel().write_inbound(request("GET", "/api/catalog"))
    assert head_of(first).startswith("HTTP/1.1 200 ") and f"ETag: {CATALOG_ETAG}" in head_of(first)
    assert "Cache-Control: no-cache" in head_of(first)
    again = EmbeddedChannel().write_inbound(request("GET", "/api/catalog", f"If-None-Match: {CATALOG_ETAG}"))
    assert head_of(again).startswith("HTTP/1.1 304 Not Modified")
    assert again.endswith(b"\r\n\r\n") and "Content-Length" not in head_of(again)
    other = EmbeddedChannel().write_inbound(request("GET", "/api/catalog", 'If-None-Match: "old"'))
    assert head_of(other).startswith("HTTP/1.1 200 ")


def test_etag_comparison_is_weak_over_a_list() -> None:
    assert etag_matches(f'"x", W/{CATALOG_ETAG}', CATALOG_ETAG)
    assert etag_matches("*", CATALOG_ETAG)
    assert not etag_matches(None, CATALOG_ETAG) and not etag_matches('"x"', CATALOG_ETAG)


def test_login_sets_an_httponly_cookie_that_turns_401_into_200_and_403() -> None:
    assert head_of(EmbeddedChannel().write_inbound(request("GET", "/api/me"))).startswith("HTTP/1.1 401 ")
    login = head_of(EmbeddedChannel().write_inbound(request("POST", "/api/login", body=b"{}")))
    cookie_line = next(line for line in login.split("\r\n") if line.startswith("Set-Cookie: "))
    assert "HttpOnly" in cookie_line and "SameSite=Lax" in cookie_line
    cookie = cookie_line.removeprefix("Set-Cookie: ").split(";", 1)[0]
    # Another backend accepts it too: the value is signed, not kept in one backend's memory.
    me = EmbeddedChannel(backend="backend-4").write_inbound(request("GET", "/api/me", f"Cookie: {cookie}"))
    assert head_of(me).startswith("HTTP/1.1 200 ")
    admin = EmbeddedChannel().write_inbound(request("GET", "/api/admin", f"Cookie: {cookie}"))
    assert head_of(admin).startswith("HTTP/1.1 403 ")


def test_a_forged_session_cookie_is_refused() -> None:
    forged = session_value("learner").replace("learner", "admin", 1)
    reply = EmbeddedChannel().write_inbound(request("GET", "/api/me", f"Cookie: sid={forged}"))
    assert head_of(reply).startswith("HTTP/1.1 401 ")


def test_cors_preflight_allows_the_app_origin_only() -> None:
    preflight = head_of(EmbeddedChannel().write_inbound(request(
        "OPTIONS", "/api/hello", "Origin: http://app.netlearn.test", "Access-Control-Request-Method: PUT")))
    assert preflight.startswith("HTTP/1.1 204 ")
    for needed in ("Access-Control-Allow-Origin: http://app.netlearn.test", "Access-Control-Allow-Methods: ",
                   "Access-Control-Max-Age: 600", "Vary: Origin"):
        assert needed in preflight
    stranger = head_of(EmbeddedChannel().write_inbound(request("GET", "/api/hello", "Origin: http://evil.example")))
    assert stranger.startswith("HTTP/1.1 200 ") and "Access-Control-Allow-Origin" not in stranger


def test_redirects_name_their_target_and_308_is_permanent() -> None:
    moved = head_of(EmbeddedChannel().write_inbound(request("GET", "/old-shop")))
    assert moved.startswith("HTTP/1.1 301 ") and "Location: /" in moved
    kept = head_of(EmbeddedChannel().write_inbound(request("POST", "/api/v1/hello", body=b"{}")))
    assert kept.startswith("HTTP/1.1 308 ") and "Location: /api/hello" in kept


def test_websocket_handshake_answers_101_with_the_hashed_key() -> None:
    key = base64.b64encode(b"0123456789abcdef").decode()
    reply = head_of(EmbeddedChannel().write_inbound(request(
        "GET", "/ws", "Connection: Upgrade", "Upgrade: websocket", f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13")))
    expected = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    assert reply.startswith("HTTP/1.1 101 Switching Protocols")
    assert f"Sec-WebSocket-Accept: {expected.decode()}" in reply and "Content-Length" not in reply


def test_websocket_path_without_upgrade_is_426() -> None:
    assert head_of(EmbeddedChannel().write_inbound(request("GET", "/ws"))).startswith("HTTP/1.1 426 ")
