"""The lab web site every backend serves: one page with three sub-resources, an API, a slow path.

The page is the same on every backend on purpose (a balanced site must look identical whoever
answers); only ``X-Backend`` and ``/api/hello`` tell the backends apart, which is exactly what a
learner inspects to see the balancer at work. The page links a stylesheet, a script and an image
so that the walker's "rendering" step has real sub-resources to fetch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

INDEX_HTML = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>NetLearn Shop</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/style.css">
<script src="/static/app.js" defer></script>
</head>
<body>
<header><img src="/static/logo.svg" alt="NetLearn Shop logo" width="48" height="48"><h1>NetLearn Shop</h1></header>
<main>
<p>This page was served by one of four identical backends behind a load balancer.
Look at the <code>X-Backend</code> response header to see which one answered.</p>
<p id="hello">Asking <code>/api/hello</code>&hellip;</p>
</main>
</body>
</html>
"""

STYLE_CSS = b"""body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; color: #1d2433; }
header { display: flex; align-items: center; gap: 1rem; }
h1 { font-size: 1.6rem; margin: 0; }
code { background: #eef1f6; padding: 0 .25rem; border-radius: 3px; }
"""

APP_JS = b"""document.addEventListener("DOMContentLoaded", function () {
  fetch("/api/hello").then(function (r) { return r.json(); }).then(function (data) {
    document.getElementById("hello").textContent = "API answered from " + data.backend + ".";
  }).catch(function () {
    document.getElementById("hello").textContent = "The API did not answer.";
  });
});
"""

LOGO_SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48" width="48" height="48">
<rect width="48" height="48" rx="10" fill="#2456d6"/>
<circle cx="14" cy="24" r="5" fill="#fff"/><circle cx="34" cy="14" r="5" fill="#fff"/>
<circle cx="34" cy="34" r="5" fill="#fff"/>
<path d="M14 24 L34 14 M14 24 L34 34" stroke="#fff" stroke-width="3"/>
</svg>
"""

STATIC: dict[str, tuple[str, bytes]] = {
    "/": ("text/html; charset=utf-8", INDEX_HTML),
    "/index.html": ("text/html; charset=utf-8", INDEX_HTML),
    "/static/style.css": ("text/css; charset=utf-8", STYLE_CSS),
    "/static/app.js": ("text/javascript; charset=utf-8", APP_JS),
    "/static/logo.svg": ("image/svg+xml", LOGO_SVG),
}

#: How long ``/slow`` takes before answering: long enough to see, short enough for a lesson.
SLOW_DELAY = 0.3


#: Paths of the web-features demo (see :mod:`.features`): path -> (route name, allowed methods).
FEATURE_ROUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "/api/catalog": ("catalog", ("GET", "HEAD")),
    "/api/login": ("login", ("POST",)),
    "/api/me": ("me", ("GET", "HEAD")),
    "/api/admin": ("admin", ("GET", "HEAD")),
    "/ws": ("websocket", ("GET",)),
    "/old-shop": ("redirect", ("GET", "HEAD", "POST")),
    "/api/v1/hello": ("redirect", ("GET", "HEAD", "POST")),
}


@dataclass(frozen=True)
class Route:
    """What the router decided: a route name the application handler dispatches on."""

    # "static" | "hello" | "slow" | "health" | "not_found" | "method_not_allowed" | "options" | a FEATURE_ROUTES name
    name: str
    path: str
    allow: str = "GET, HEAD"


def route_for(method: str, target: str) -> Route:
    """Map a request to a route. Pure: the router handler only adds the event around it."""
    path = target.split("?", 1)[0].split("#", 1)[0] or "/"
    if path in FEATURE_ROUTES:
        name, methods = FEATURE_ROUTES[path]
        allow = ", ".join((*methods, "OPTIONS"))
        if method == "OPTIONS":
            return Route("options", path, allow)
        return Route(name if method in methods else "method_not_allowed", path, allow)
    if path in STATIC or path in ("/api/hello", "/slow", "/health"):
        if method == "OPTIONS":
            return Route("options", path, "GET, HEAD, OPTIONS")
        if method not in ("GET", "HEAD"):
            return Route("method_not_allowed", path, "GET, HEAD, OPTIONS")
    if path in STATIC:
        return Route("static", path)
    if path == "/api/hello":
        return Route("hello", path)
    if path == "/slow":
        return Route("slow", path)
    if path == "/health":
        return Route("health", path)
    return Route("not_found", path)


def hello_body(backend: str, *, method: str, path: str, client: str) -> bytes:
    return json.dumps({"backend": backend, "message": f"Hello from {backend}", "method": method, "path": path,
                       "client": client}).encode()
