"""A learner's browser, minus the browser: cookies, CSRF, form posts, the walk's WebSocket."""
from __future__ import annotations

import asyncio
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
WALK_RE = re.compile(r"/walk/([0-9a-f-]{36})/")
SEQ_RE = re.compile(r'class="walk-step[^"]*"[^>]*data-seq="(\d+)"')


@dataclass
class Answer:
    status: int
    url: str
    body: str
    upstream: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Learner:
    def __init__(self, base: str, *, language: str = "") -> None:
        self.base = base
        self.language = language  # sent as Accept-Language when given
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, path: str, data: dict[str, str] | None = None, *, referer: str | None = None) -> Answer:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        headers = {"Referer": referer or self.base + path} if data is not None else {}
        if self.language:
            headers["Accept-Language"] = self.language
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return Answer(response.status, response.geturl(), response.read().decode(),
                              response.headers.get("X-Upstream", ""))
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.headers.get("Location", "") or error.url, error.read().decode(),
                          error.headers.get("X-Upstream", ""))

    def get(self, path: str) -> Answer:
        return self.request(path)

    def post_form(self, path: str, data: dict[str, str]) -> Answer:
        """GET the form for its CSRF token, then POST it (as a browser would)."""
        page = self.get(path)
        token = CSRF_RE.search(page.body)
        assert token, f"no CSRF token on {path}"
        return self.request(path, {**data, "csrfmiddlewaretoken": token.group(1)})

    def start_walk(self, url: str) -> tuple[str, Answer]:
        answer = self.post_form("/walk/", {"url": url})
        assert answer.status == 302, (answer.status, answer.body[:500])
        match = WALK_RE.search(answer.url)
        assert match, answer.url
        return match.group(1), answer

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


async def watch_walk(base: str, walk_id: str, *, cookie: str = "", timeout: float = 20.0,
                     want_upstream: str | None = None) -> tuple[list[str], str]:
    """Hold the walk's WebSocket until the final render; returns the messages and the worker."""
    import websockets

    url = base.replace("http", "ws", 1) + f"/ws/walk/{walk_id}/"
    headers = {"Cookie": cookie} if cookie else {}
    async with websockets.connect(url, origin=base, additional_headers=headers) as ws:
        upstream = ws.response.headers.get("X-Upstream", "")
        if want_upstream is not None and upstream != want_upstream:
            return [], upstream
        messages: list[str] = []
        async with asyncio.timeout(timeout):
            while True:
                message = await ws.recv()
                messages.append(message)
                if 'id="walk-result"' in message:
                    return messages, upstream
