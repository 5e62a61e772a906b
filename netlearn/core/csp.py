"""django-csp's middleware with the policy string built once, not on every response.

Why: ``CSPMiddleware.process_response`` rebuilds the header from the settings for every response
(``dataclasses.asdict`` deep copies, then ``build_policy`` walks every directive): 0.17 ms a page,
the costliest middleware layer on a cached step page (bench/middleware.py). The string only
changes with the settings and the nonce, so it is built once per settings object with a
placeholder where the nonce goes, and the request's nonce is put in its place. Whenever a
response carries its own policy (the ``csp`` view decorators), or a report-only policy is
configured, or the debug pages are exempt, the library's own code runs unchanged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from csp.constants import HEADER
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

_PLACEHOLDER = "netlearn-nonce-placeholder"
#: Attributes the csp view decorators set on a response: that response needs the library's path.
_PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro",
                 "_csp_replace_ro", "_csp_exempt", "_csp_exempt_ro")


class CachedPolicyCSPMiddleware(CSPMiddleware):
    #: (id of the settings' policy, with a nonce?) → (that policy object, the header). Holding the
    #: object keeps its id from being reused by another policy (tests override the settings).
    _built: dict[tuple[int, bool], tuple[object, str]] = {}

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", None)
        if (settings.DEBUG or not policy or getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
                or any(hasattr(response, name) for name in _PER_RESPONSE)):
            return super().process_response(request, response)
        nonce = getattr(request, "_csp_nonce", None)
        prefixes = tuple(policy.get("EXCLUDE_URL_PREFIXES", None) or ())
        if HEADER not in response and not (prefixes and request.path_info.startswith(prefixes)):
            response[HEADER] = self._policy(policy, nonce)
        if nonce is None:  # as the library does: a nonce asked for after the header is an error
            request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response

    def _policy(self, policy: object, nonce: str | None) -> str:
        key = (id(policy), nonce is not None)
        entry = self._built.get(key)
        if entry is None or entry[0] is not policy:
            if len(self._built) > 16:  # settings overridden many times (tests)
                self._built.clear()
            entry = self._built[key] = (policy, build_policy(nonce=_PLACEHOLDER if nonce is not None else None))
        return entry[1].replace(_PLACEHOLDER, nonce) if nonce is not None else entry[1]
