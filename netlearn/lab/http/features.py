"""The web features the HTTP lesson demonstrates for real: validators and 304, cookies, CORS, redirects.

Theory of operation
-------------------
Pure functions from a request to an answer, so the backend's application handler stays a small
dispatcher and the rules can be tested without a socket:

- ``/api/catalog`` carries a strong ``ETag`` and ``Cache-Control: no-cache`` (store it, but ask
  before reuse); a conditional GET whose ``If-None-Match`` matches is answered 304 with no body.
- ``POST /api/login`` sets a session cookie (``HttpOnly; SameSite=Lax``). The cookie's value is
  signed with a key every backend of this process shares, so whichever backend the balancer picks
  can check it: the lesson's "shared session store" without a database. ``/api/me`` answers 401
  without it, ``/api/admin`` 403 with it (authenticated, but a member, not an admin).
- CORS: ``Origin: http://app.netlearn.test`` is allowed on ``/api/*``; ``OPTIONS`` with
  ``Access-Control-Request-Method`` is a preflight answered 204 with the allowed methods and
  headers. Any other origin gets no ``Access-Control-Allow-Origin``, so a browser would block it.
- ``/old-shop`` is 301 to ``/`` and ``/api/v1/hello`` 308 to ``/api/hello`` (308 keeps the method).
- ``/ws`` with ``Upgrade: websocket`` is answered ``101 Switching Protocols`` with the
  ``Sec-WebSocket-Accept`` that proves the server read the key; :mod:`.websocket` takes over.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from websockets.utils import accept_key

from .messages import HttpRequest, HttpResponse

ALLOWED_ORIGINS = ("http://app.netlearn.test",)
CORS_METHODS = "GET, POST, PUT, DELETE"
CORS_HEADERS = "Content-Type, Authorization"
CORS_MAX_AGE = "600"
SESSION_COOKIE = "sid"
SESSION_USER = "learner"
REDIRECTS = {"/old-shop": (301, "Moved Permanently", "/"), "/api/v1/hello": (308, "Permanent Redirect", "/api/hello")}

CATALOG = json.dumps({"items": [{"id": 1, "name": "router", "price": 120},
                                {"id": 2, "name": "switch", "price": 80}]}).encode()
CATALOG_ETAG = '"' + hashlib.sha256(CATALOG).hexdigest()[:16] + '"'

#: Signs session cookies; one per process, shared by every backend in it (see the module doc).
_SESSION_KEY = secrets.token_bytes(32)
JSON = ("Content-Type", "application/json")
TEXT = ("Content-Type", "text/plain; charset=utf-8")


def session_value(user: str) -> str:
    mac = hmac.new(_SESSION_KEY, user.encode(), hashlib.sha256).hexdigest()[:24]
    return f"{user}.{mac}"


def session_user(request: HttpRequest) -> str | None:
    """The user a valid session cookie names, or None (no cookie, or a forged one)."""
    for part in (request.header("cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            user = value.rsplit(".", 1)[0]
            if hmac.compare_digest(value, session_value(user)):
                return user
    return None


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison over a list, ``*`` matches anything."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags


def cors_headers(request: HttpRequest) -> list[tuple[str, str]]:
    """What an API response adds for a cross-origin caller: nothing unless the origin is allowed."""
    origin = request.header("origin")
    if origin not in ALLOWED_ORIGINS:
        return []
    return [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true"), ("Vary", "Origin")]


def options_answer(request: HttpRequest, allow: str) -> HttpResponse:
    """A CORS preflight (``Access-Control-Request-Method`` present) or a plain ``OPTIONS``."""
    headers = [("Allow", allow)]
    if request.header("access-control-request-method") and request.header("origin") in ALLOWED_ORIGINS:
        headers += [("Access-Control-Allow-Methods", CORS_METHODS), ("Access-Control-Allow-Headers", CORS_HEADERS),
                    ("Access-Control-Max-Age", CORS_MAX_AGE)]
    return HttpResponse(204, "No Content", b"", headers + cors_headers(request))


def catalog_answer(request: HttpRequest) -> HttpResponse:
    headers = [("ETag", CATALOG_ETAG), ("Cache-Control", "no-cache")]
    if etag_matches(request.header("if-none-match"), CATALOG_ETAG):
        return HttpResponse(304, "Not Modified", b"", headers)
    return HttpResponse(200, "OK", CATALOG, [JSON, *headers])


def login_answer() -> HttpResponse:
    cookie = f"{SESSION_COOKIE}={session_value(SESSION_USER)}; Path=/; HttpOnly; SameSite=Lax"
    body = json.dumps({"user": SESSION_USER, "role": "member"}).encode()
    return HttpResponse(200, "OK", body, [JSON, ("Set-Cookie", cookie), ("Cache-Control", "no-store")])


def me_answer(request: HttpRequest, *, admin_only: bool) -> HttpResponse:
    user = session_user(request)
    if user is None:
        return HttpResponse(401, "Unauthorized", b'{"error": "log in first"}',
                            [JSON, ("WWW-Authenticate", 'Cookie realm="netlearn", cookie-name="sid"')])
    if admin_only:
        return HttpResponse(403, "Forbidden", json.dumps({"error": f"{user} is not an admin"}).encode(), [JSON])
    return HttpResponse(200, "OK", json.dumps({"user": user, "role": "member"}).encode(),
                        [JSON, ("Cache-Control", "private, no-store")])


def redirect_answer(path: str) -> HttpResponse:
    status, reason, location = REDIRECTS[path]
    return HttpResponse(status, reason, f"{status} {reason}: see {location}\n".encode(), [TEXT, ("Location", location)])


def websocket_answer(request: HttpRequest) -> HttpResponse:
    """101 when the request is a valid WebSocket opening handshake (RFC 6455 §4.2), else 400/426."""
    upgrade = (request.header("upgrade") or "").lower()
    key = request.header("sec-websocket-key")
    if upgrade != "websocket" or "upgrade" not in (request.header("connection") or "").lower():
        return HttpResponse(426, "Upgrade Required", b"426: this path speaks WebSocket only\n",
                            [TEXT, ("Upgrade", "websocket")], close=True)
    if not key or request.header("sec-websocket-version") != "13":
        return HttpResponse(400, "Bad Request", b"400: Sec-WebSocket-Key and version 13 are required\n", [TEXT],
                            close=True)
    return HttpResponse(101, "Switching Protocols", b"", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                          ("Sec-WebSocket-Accept", accept_key(key))])
