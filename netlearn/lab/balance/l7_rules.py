"""The L7 proxy's fixed rules, shared by the session (``l7_session``) and the WebSocket tunnel
(``l7_upgrade``) without either importing the other: its name, the hop-by-hop headers it drops,
the status codes it answers itself."""
from __future__ import annotations

SERVER = "netlearn-l7/1.0 (h11)"
VIA = "1.1 l7.netlearn.test (netlearn-l7)"
#: Headers that describe one hop, never forwarded (RFC 9110 §7.6.1); Content-Length is recomputed.
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authenticate", b"proxy-authorization",
              b"te", b"trailer", b"transfer-encoding", b"upgrade", b"content-length"}
REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
           431: "Request Header Fields Too Large", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


class ProxyError(Exception):
    """A status the proxy answers itself (502, 504, ...), with the reason shown to the learner."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
