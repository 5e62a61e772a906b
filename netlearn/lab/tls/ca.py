"""The lab's own certificate authority, made once at first start and reused.

Why a private CA: the lab's names end in ``.test`` (RFC 6761), which no public CA will ever
certify. So the lab makes its own root, issues one server certificate for every lab name, and the
walk's client trusts *only* that root. A real browser trusts a store of ~150 public roots and
would reject these certificates, which is the point the walk page makes.

Keys are generated under the data directory the caller passes (the Django side uses
``settings.DATA_DIR / "lab-ca"``; tests use a temporary directory) and never committed. Each
generation is written into a fresh temporary folder and renamed into place in one step, so two
processes starting at once cannot mix one CA's key with another CA's certificate; the newest
complete generation that is still valid wins. ECDSA P-256 keys (trustme's default) take ~20 ms.
"""
from __future__ import annotations

import datetime as dt
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Every name a lab server answers for over TLS. ``alias``, ``flash``, ``blink`` and the IDNA
#: name are deliberately absent: they are CNAMEs of ``shop``, and a certificate is checked
#: against the name *typed*, not the name DNS ended at, so they show a name-mismatch failure.
LAB_TLS_NAMES = ("netlearn.test", "shop.netlearn.test", "www.netlearn.test", "api.netlearn.test",
                 "backend1.netlearn.test", "backend2.netlearn.test", "backend3.netlearn.test",
                 "backend4.netlearn.test")
GENERATION_PREFIX = "gen-"
#: Regenerate when the server certificate has less than this left.
RENEW_BEFORE = dt.timedelta(days=7)


@dataclass(frozen=True)
class LabPki:
    """Paths of one complete generation. Keys are 0600; the chain lists leaf then CA."""

    directory: Path
    ca_cert: Path
    server_chain: Path
    server_key: Path
    names: tuple[str, ...] = LAB_TLS_NAMES


def _paths(directory: Path) -> LabPki:
    return LabPki(directory=directory, ca_cert=directory / "ca.pem", server_chain=directory / "server-chain.pem",
                  server_key=directory / "server.key")


def _usable(pki: LabPki, now: dt.datetime) -> bool:
    if not all(p.is_file() for p in (pki.ca_cert, pki.server_chain, pki.server_key)):
        return False
    try:
        from cryptography import x509

        leaf = x509.load_pem_x509_certificate(pki.server_chain.read_bytes())
        return leaf.not_valid_after_utc - RENEW_BEFORE > now
    except (ValueError, OSError):
        return False


def ensure_lab_pki(directory: Path | str | None = None) -> LabPki:
    """Return a valid generation under ``directory``, making one if there is none.

    ``None`` means a fresh temporary directory (tests that want isolation)."""
    base = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="netlearn-lab-ca-"))
    base.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    for candidate in sorted(base.glob(GENERATION_PREFIX + "*"), reverse=True):
        pki = _paths(candidate)
        if _usable(pki, now):
            return pki
    return _generate(base, now)


def _generate(base: Path, now: dt.datetime) -> LabPki:
    import trustme

    ca = trustme.CA(organization_name="NetLearn Lab CA (private, for .test only)")
    leaf = ca.issue_cert(*LAB_TLS_NAMES, common_name="shop.netlearn.test", organization_name="NetLearn Lab")
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=base))
    ca.cert_pem.write_to_path(str(staging / "ca.pem"))
    _write_private(staging / "ca.key", ca.private_key_pem.bytes())
    (staging / "server-chain.pem").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    _write_private(staging / "server.key", leaf.private_key_pem.bytes())
    final = base / f"{GENERATION_PREFIX}{now.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    try:
        staging.rename(final)
    except OSError:  # someone else won the race with the same name: use theirs
        return ensure_lab_pki(base)
    return _paths(final)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def server_context(pki: LabPki, *, alpn: tuple[str, ...] = ("h2", "http/1.1")) -> ssl.SSLContext:
    """TLS 1.3 only: the lab teaches the current handshake (one round trip, encrypted certificate)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(certfile=str(pki.server_chain), keyfile=str(pki.server_key))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def client_context(pki: LabPki, *, alpn: tuple[str, ...] = ("h2", "http/1.1")) -> ssl.SSLContext:
    """What the walk's browser uses: trusts the lab CA and nothing else, checks the host name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(pki.ca_cert))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx
