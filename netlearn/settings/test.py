"""Tests: a real SQLite file (live servers and threads share it), fast hashing, no DEBUG."""
from .base import *  # noqa: F403
from .base import DATA_DIR, DATABASES

DEBUG = False
SECRET_KEY = "test-only-not-secret"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # One file per pytest process, so several test runs on one machine never share a database.
    import os

    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-netlearn-{os.getpid()}.sqlite3")}
# In-process live servers lend their pooled threads to requests; a connection kept open there
# would stop pytest-django from dropping the PostgreSQL test database at the end. The real
# worker processes of tests/scale run the production setting (persistent connections).
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
NETLEARN_LAB_MODE = "off"  # tests that need the embedded lab switch it on (see tests/conftest.py)
NETLEARN_FINISHER = "inline"  # tests of the finisher's process start one (tests/walks/test_finisher.py)
NETLEARN_LAB_EPHEMERAL = True
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Progress written in the request, so tests wrapped in a transaction see it; the write-behind
# journal is tested on its own and with real worker processes (tests/lessons/test_progress_journal.py).
NETLEARN_PROGRESS_WRITE_BEHIND = False
# Practice answers likewise (netlearn.quizzes.answerlog); their journal is tested with real workers
# (tests/quizzes/test_answer_journal.py).
NETLEARN_ANSWERS_WRITE_BEHIND = False
# A test server's start renders no pages ahead: tests of the page caches start them empty, and the
# warm-up is tested on its own and under a real `make run` (tests/lessons/test_warm_pages.py).
NETLEARN_WARM_PAGES = False
