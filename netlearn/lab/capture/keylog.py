"""Per-walk TLS key logs (``SSLKEYLOGFILE`` format) so a walk's pcapng can be decrypted.

OpenSSL (through ``SSLContext.keylog_filename``, which also works for ``SSLObject`` over memory
BIOs) and aioquic (``QuicConfiguration.secrets_log_file``) both append to a file; each walk gets its
own private file (mode 0600), read and removed when the walk is collected. These are keys of the
lab's throwaway certificates for one loopback connection: storing them with the walk is the point.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

_SAFE = re.compile(r"[^0-9a-zA-Z_-]")


def keylog_path(correlation_id: str) -> str:
    path = Path(tempfile.gettempdir()) / f"netlearn-keylog-{os.getpid()}-{_SAFE.sub('', correlation_id)[:64]}.txt"
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        os.close(fd)
    return str(path)


def collect_keylog(correlation_id: str) -> str:
    """The walk's key lines (comments dropped), and the file removed; "" when it logged none."""
    path = Path(tempfile.gettempdir()) / f"netlearn-keylog-{os.getpid()}-{_SAFE.sub('', correlation_id)[:64]}.txt"
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    finally:
        path.unlink(missing_ok=True)
    return "".join(line + "\n" for line in text.splitlines() if line.strip() and not line.startswith("#"))
