"""Tests: a real SQLite file (live servers and threads share it), fast hashing, no DEBUG."""
from .base import *  # noqa: F403
from .base import DATABASES, DATA_DIR

DEBUG = False
SECRET_KEY = "test-only-not-secret"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # One file per pytest process, so several test runs on one machine never share a database.
    import os

    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-netlearn-{os.getpid()}.sqlite3")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
NETLEARN_LAB_MODE = "off"  # tests that need the embedded lab switch it on (see tests/conftest.py)
NETLEARN_LAB_EPHEMERAL = True
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
