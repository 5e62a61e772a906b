"""What ``make run`` uses: an instructor's laptop serving a class, so DEBUG is *off* by default.

DEBUG on a class costs every page (Django keeps every SQL query in memory, templates carry debug
information) and shows tracebacks to learners. A developer asks for debug pages with
``make run DEBUG=1`` (or ``NETLEARN_DEBUG=1``): DEBUG on, static files re-read on change, and an
access log in the terminal.
"""
import os

from .base import *  # noqa: F403
from .base import DATA_DIR

DEBUG = os.environ.get("NETLEARN_DEBUG", "0") == "1"
_key_file = DATA_DIR / "dev-secret-key"
if not _key_file.exists():
    import secrets

    _key_file.write_text(secrets.token_urlsafe(50))
SECRET_KEY = _key_file.read_text().strip()  # generated per machine, git-ignored under var/
# Static files: what `make setup` collected (hashed names, gzip, a year's caching: netlearn/core/storage.py),
# and straight from static/ as well; re-read on change only in debug mode (checking files costs every
# request a stat), where pages use the plain names.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
