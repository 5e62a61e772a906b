"""Parse a learner's URL and decide, before any socket exists, whether the lab may walk it.

A URL typed by a learner is input from a stranger. The policy is an allow-list, not a
block-list: only names under the lab zone, only the schemes the walk teaches, only the lab's
own addresses. Anything else is refused with a machine-readable ``code`` (the site turns it into
a friendly explanation in the learner's language) and no connection is ever attempted.

IP literals are refused even when they name a lab address: the point of the walk is the DNS
step, and refusing every literal form (decimal ``2130706433``, octal ``0177.0.0.1``, hex
``0x7f.1``, IPv6, bracketed) closes the classic SSRF encodings without having to parse them all
the way a C library would.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

LAB_SUFFIX = "netlearn.test"
MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = {"http": 80, "https": 443}
_NUMERIC_HOST = re.compile(r"^[0-9a-fA-Fx.:\[\]]+$")


@dataclass(frozen=True)
class Refusal:
    """Why a URL cannot be walked. ``code`` is stable (templates and tests key on it)."""

    code: str
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedUrl:
    """A URL the lab may walk, with every parsing decision kept for the URL step of the walk."""

    original: str
    scheme: str
    host: str  # as typed (Unicode allowed), lower-cased
    ascii_host: str  # IDNA (Punycode) form: what really goes into DNS and the Host header
    port: int  # the URL's port (explicit or the scheme's default)
    port_explicit: bool
    path: str
    query: str
    fragment: str

    @property
    def target(self) -> str:
        """The request target sent on the wire (the fragment never leaves the browser)."""
        return self.path + (f"?{self.query}" if self.query else "")

    @property
    def is_idna(self) -> bool:
        return self.ascii_host != self.host

    def as_dict(self) -> dict[str, object]:
        return {
            "original": self.original,
            "scheme": self.scheme,
            "host": self.host,
            "ascii_host": self.ascii_host,
            "port": self.port,
            "port_explicit": self.port_explicit,
            "path": self.path,
            "query": self.query,
            "fragment": self.fragment,
            "target": self.target,
        }


@dataclass(frozen=True)
class LabTarget:
    """Where a lab address really listens: ports below 1024 need root, so port 80 of a lab
    name is served on a high port. The walk shows both."""

    host: str
    port: int
    role: str


def parse_lab_url(text: str, *, schemes: frozenset[str] | None = None) -> ParsedUrl | Refusal:
    """Parse and vet a URL; never raises for bad input."""
    if not isinstance(text, str) or not text.strip():
        return Refusal("empty")
    text = text.strip()
    if len(text) > MAX_URL_LENGTH:
        return Refusal("too_long", {"limit": str(MAX_URL_LENGTH)})
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return Refusal("control_chars")
    if "://" not in text:
        scheme_match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", text)
        if (scheme_match and scheme_match.group(1).lower() not in ALLOWED_SCHEMES
                and not text[len(scheme_match.group(0)):].isdigit()):
            return Refusal("scheme", {"scheme": scheme_match.group(1).lower()})
        text = "http://" + text  # what a browser's address bar does
    try:
        parts = urlsplit(text)
    except ValueError:
        return Refusal("malformed")
    scheme = parts.scheme.lower()
    allowed = schemes if schemes is not None else frozenset(ALLOWED_SCHEMES)
    if scheme not in allowed:
        return Refusal("scheme", {"scheme": scheme})
    if "@" in parts.netloc:
        return Refusal("credentials")
    host_or_refusal = _host(parts)
    if isinstance(host_or_refusal, Refusal):
        return host_or_refusal
    host, ascii_host = host_or_refusal
    try:
        explicit_port = parts.port
    except ValueError:
        return Refusal("bad_port")
    default_port = ALLOWED_SCHEMES[scheme]
    if explicit_port is not None and explicit_port != default_port:
        return Refusal("port", {"port": str(explicit_port), "expected": str(default_port)})
    return ParsedUrl(
        original=text,
        scheme=scheme,
        host=host,
        ascii_host=ascii_host,
        port=explicit_port or default_port,
        port_explicit=explicit_port is not None,
        path=parts.path or "/",
        query=parts.query,
        fragment=parts.fragment,
    )


def _host(parts: SplitResult) -> tuple[str, str] | Refusal:
    raw = parts.hostname  # lower-cased, brackets stripped
    if not raw:
        return Refusal("no_host")
    host = raw.rstrip(".")
    if _is_ip_literal(host, parts.netloc):
        return Refusal("ip_literal", {"host": host})
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return Refusal("bad_host", {"host": host})
    if len(ascii_host) > 253 or any(not 0 < len(label) <= 63 for label in ascii_host.split(".")):
        return Refusal("bad_host", {"host": host})
    if not re.fullmatch(r"[a-z0-9.-]+", ascii_host):
        return Refusal("bad_host", {"host": host})
    if ascii_host != LAB_SUFFIX and not ascii_host.endswith("." + LAB_SUFFIX):
        return Refusal("outside_lab", {"host": host})
    return host, ascii_host


def _is_ip_literal(host: str, netloc: str) -> bool:
    if "[" in netloc:
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    # Decimal, octal and hex forms that inet_aton() would accept: all digits/dots/x.
    return bool(_NUMERIC_HOST.match(host)) and not re.search(r"[g-wyzG-WYZ]", host)
