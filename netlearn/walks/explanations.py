"""Friendly, translated explanations for every way a walk can be refused or fail."""
from __future__ import annotations

from django.utils.translation import gettext as _


def explain(code: str, detail: dict | None = None) -> dict[str, str]:
    """``{"title", "why", "internet"}``: what happened, why the lab stops, what the real Internet would do."""
    d = {k: str(v) for k, v in (detail or {}).items()}
    host = d.get("host", "")
    table = {
        "empty": (_("Type a URL to walk"), _("The box is empty. Try http://shop.netlearn.test/."), ""),
        "too_long": (_("That URL is too long"),
                     _("The lab walks URLs of up to %(limit)s characters.") % {"limit": d.get("limit", "2048")},
                     _("Browsers and servers have limits too: many servers answer 414 URI Too Long.")),
        "control_chars": (_("That URL contains control characters"),
                          _("Line breaks and other control characters cannot appear in a URL."), ""),
        "malformed": (_("That is not a URL we can parse"),
                      _("Check the brackets and the port: the URL parser rejected it."), ""),
        "scheme": (_("The lab only walks http:// and https:// URLs"),
                   _("“%(scheme)s:” is not a web request the lab can show, so nothing was sent.")
                   % {"scheme": d.get("scheme", "")},
                   _("A browser hands file:, ftp: or javascript: URLs to other machinery, not to DNS and TCP.")),
        "credentials": (_("URLs with a user name or password are not walked"),
                        _("Credentials in a URL (user:password@host) are a classic way to disguise a link, so the "
                          "lab refuses them."),
                        _("Modern browsers warn about or strip them too.")),
        "no_host": (_("The URL has no host name"), _("Add a host, for example shop.netlearn.test."), ""),
        "bad_host": (_("That host name is not valid"),
                     _("“%(host)s” is not a valid DNS name (labels of 1–63 letters, digits and hyphens).")
                     % {"host": host}, ""),
        "ip_literal": (_("The lab walks names, not IP addresses"),
                       _("“%(host)s” is an IP address. The lab only dials its own servers, found through its own DNS, "
                         "so a typed address — in any notation — is refused without a connection.") % {"host": host},
                       _("On the real Internet a browser would skip DNS and connect to that address directly.")),
        "outside_lab": (_("That name is outside the lab"),
                        _("“%(host)s” is not under netlearn.test, the lab's own zone, so no query or connection was "
                          "made. The lab never sends traffic off this machine.") % {"host": host},
                        _("On the real Internet your resolver would ask the root, then the TLD, then the domain's "
                          "authoritative servers — exactly the steps a lab walk shows.")),
        "port": (_("The lab serves only the standard port"),
                 _("Port %(port)s is not served by the lab; use the scheme's default port %(expected)s.")
                 % {"port": d.get("port", ""), "expected": d.get("expected", "")},
                 _("On the real Internet a closed port answers the SYN with RST: “connection refused”.")),
        "bad_port": (_("That port number is not valid"), _("Ports are whole numbers from 1 to 65535."), ""),
        "scheme_unavailable": (_("HTTPS is not running in this lab"),
                               _("This lab was started without its TLS servers, so https:// cannot be walked here. "
                                 "Try the same URL with http://."), ""),
        "cert_invalid": (_("The certificate does not match"),
                         _("The server's certificate is not valid for the name you typed, so the browser stopped "
                           "before sending any request. A CNAME does not change the name a certificate is "
                           "checked against: only the name in the address bar counts."),
                         _("A browser shows a full-page warning (NET::ERR_CERT_COMMON_NAME_INVALID).")),
        "no_quic": (_("No HTTP/3 here"), _("This address has no QUIC listener in the lab."), ""),
        "address_outside_lab": (_("The name points outside the lab"),
                                _("The lab's DNS answered %(address)s, which is not one of the lab's servers, so the "
                                  "walk stopped before connecting.") % {"address": d.get("address", "")},
                                _("This is how DNS rebinding and SSRF are stopped: check the address you are about "
                                  "to dial, not just the name.")),
        "nxdomain": (_("NXDOMAIN: that name does not exist"),
                     _("The authoritative server for netlearn.test answered that the name does not exist. "
                       "The resolver caches that negative answer (RFC 2308)."),
                     _("A browser shows “This site can’t be reached”.")),
        "dns_timeout": (_("DNS did not answer"),
                        _("The resolver did not answer in time, even after a retry."),
                        _("Browsers retry and then show a DNS error.")),
        "refused": (_("Connection refused"), _("The server answered the SYN with RST: nothing listens there."), ""),
        "reset": (_("Connection reset"), _("The connection was reset before a complete answer arrived."), ""),
        "closed": (_("The server hung up"), _("The server closed the connection without answering."), ""),
        "timeout": (_("The server did not answer in time"), _("The walk waited and gave up."), ""),
        "lab_error": (_("The lab hit a problem"), _("Something failed inside the lab; the site is fine. Try again."),
                      ""),
        "worker_lost": (_("The server process running this walk stopped"),
                        _("The walk ran inside one of the site's server processes, and that process stopped before "
                          "it could finish. The other processes keep serving: start the walk again."), ""),
    }
    if code.startswith("http_"):
        status = code.split("_", 1)[1]
        return {"title": _("The server side answered %(status)s") % {"status": status},
                "why": _("A 5xx status means the failure is on the server side: a 502 from a balancer says the "
                         "backend failed, 503 that no backend is available, 504 that a backend was too slow."),
                "internet": ""}
    title, why, internet = table.get(code, (_("The walk stopped"), _("Code: %(code)s") % {"code": code}, ""))
    return {"title": title, "why": why, "internet": internet}
