"""Settings shared by every environment.

Embedded defaults (SQLite in WAL mode, the in-memory channel layer) need nothing started by
hand; ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis without a code change.
"""
from __future__ import annotations

import os
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from netlearn.core.redisconf import asyncio_client_options

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(os.environ.get("NETLEARN_DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = False
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "netlearn.core",
    "netlearn.accounts",
    "netlearn.lessons",
    "netlearn.quizzes",
    "netlearn.walks",
    "netlearn.classroom",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "netlearn.core.static.AsyncWhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "netlearn.core.messages.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "netlearn.urls"
ASGI_APPLICATION = "netlearn.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "netlearn.core.context_processors.lab_banner",
            ],
        },
    }
]


def _database_from_env() -> dict:
    url = os.environ.get("DATABASE_URL")
    if url:
        import dj_database_url

        # Persistent connections, one per pooled request thread (netlearn.core.asgi_handler keeps
        # that number bounded), checked before reuse so a restarted PostgreSQL costs no request.
        return dict(dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True))
    return {
        "ENGINE": "netlearn.core.backends.sqlite3",  # Django's, with a write gate (its docstring)
        "NAME": DATA_DIR / "netlearn.sqlite3",
        # Kept open by the pooled request threads (netlearn.core.asgi_handler): opening a SQLite
        # connection (and registering Django's functions on it) cost more than a page's queries.
        "CONN_MAX_AGE": None,
        # WAL lets readers and one writer work at once; a busy timeout instead of "locked".
        "OPTIONS": {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        },
    }


DATABASES = {"default": _database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def redis_channel_layer(url: str) -> dict:
    """The channel layer on the Redis at ``url`` (also what tests/scale/test_redis_idle.py runs)."""
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 reads with a 5 s socket time-out by default, as long as channels_redis's
        # blocking BZPOPMIN (5 s): every idle consumer would crash (channels_redis#422).
        # max_connections: redis-py 8 caps a pool at 100 and then fails at once ("Too many
        # connections"); a live class of 1,000 joining together needs more (bench/live_class.py).
        # asyncio_client_options: connections the server closed while idle, and a send a cancel
        # always stops (netlearn.core.redisconf).
        "CONFIG": {"hosts": [{"address": url, "socket_timeout": 15, "socket_connect_timeout": 5,
                              "max_connections": 2000, **asyncio_client_options(url)}],
                   "capacity": CHANNEL_CAPACITY},
    }


def _channel_layers_from_env() -> dict:
    url = os.environ.get("REDIS_URL")
    if url:
        return {"default": redis_channel_layer(url)}
    return {"default": {"BACKEND": "netlearn.core.layers.LocalChannelLayer", "CONFIG": {"capacity": CHANNEL_CAPACITY}}}


#: Messages a consumer's channel may queue. group_send silently drops what does not fit (the
#: default is 100): a walk sends up to LIVE_EVENT_CAP events plus its final message, and a busy
#: consumer must not lose the final one.
CHANNEL_CAPACITY = 1000


CHANNEL_LAYERS = _channel_layers_from_env()
#: Set with several workers: walks' live buffers are shared through it (netlearn.core.livebuffer).
NETLEARN_REDIS_URL = os.environ.get("REDIS_URL", "")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ko", _("Korean"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names + gzip, far-future cached by WhiteNoise (netlearn/core/storage.py); needs collectstatic
    # (make setup runs it).
    "staticfiles": {"BACKEND": "netlearn.core.storage.HashedStaticStorage"},
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

def redis_cache(url: str) -> dict:
    """The cache on the Redis at ``url`` (also what tests/scale/test_redis_idle.py runs)."""
    return {"BACKEND": "netlearn.core.cache.FailSoftRedisCache", "LOCATION": url, "KEY_PREFIX": "netlearn",
            "OPTIONS": {"socket_timeout": 5, "socket_connect_timeout": 5}}


def _caches_from_env() -> dict:
    """With ``REDIS_URL`` the cache (rate limits, login throttling) is
    shared by every worker process; without it each process counts on its own."""
    url = os.environ.get("REDIS_URL")
    if url:
        return {"default": redis_cache(url)}
    # Sessions and learners' seen sets live here too: room for a class of thousands (the default
    # of 300 entries would evict them and send every request back to the database).
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "netlearn",
                        "OPTIONS": {"MAX_ENTRIES": 50_000}}}


CACHES = _caches_from_env()
#: Sessions read from the cache (per process, or Redis), written through to the database, which
#: stays the truth: a returning learner's request costs no session query. ``cached_db`` plus a
#: prefetch: a cached page reads its session and the content version in one round trip.
SESSION_ENGINE = "netlearn.core.sessions"
#: Lesson progress is written behind the page through a journal in DATA_DIR (netlearn.lessons.progress).
NETLEARN_PROGRESS_WRITE_BEHIND = True
NETLEARN_PROGRESS_FLUSH_INTERVAL = float(os.environ.get("NETLEARN_PROGRESS_FLUSH_INTERVAL", "0.25"))
#: A worker freezes its start-up heap out of the garbage collector (netlearn.core.heap); 0 leaves
#: CPython's defaults, to measure against. pytest's own process turns it off (tests/conftest.py).
NETLEARN_GC_FREEZE = os.environ.get("NETLEARN_GC_FREEZE", "1") != "0"
#: A worker renders the course's step and question pages into its page caches at start-up
#: (netlearn.background.WarmPages); 0 leaves each page to its first request, to measure against.
NETLEARN_WARM_PAGES = os.environ.get("NETLEARN_WARM_PAGES", "1") != "0"

# The lab: in a child process that the worker starts and supervises (netlearn/lab/process.py: its
# Python then runs on the machine's other core instead of sharing the worker's GIL), or "embedded"
# (a thread of the worker with its own event loop), or "off".
NETLEARN_LAB_MODE = os.environ.get("NETLEARN_LAB_MODE", "process")  # process | embedded | off
# A finished walk is stored and its final page rendered in a child process of the worker
# (netlearn/walks/finisher.py: off the worker's GIL), or "inline" in the worker itself. Default:
# "process" for the one embedded worker, which leaves a core idle; "inline" with DATABASE_URL (the
# stack), whose workers already share the cores: measured on 2 cores (README "Where a walk is
# stored"), the finisher's extra CPU per walk lengthened the stack's step tail there.
NETLEARN_FINISHER = os.environ.get("NETLEARN_FINISHER",
                                   "inline" if os.environ.get("DATABASE_URL") else "process")  # process | inline
#: Kernel-chosen ports for the embedded lab (tests, a second server beside ``make run``).
NETLEARN_LAB_EPHEMERAL = os.environ.get("NETLEARN_LAB_EPHEMERAL", "0") == "1"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"netlearn": {"level": "INFO"}},
}

# --- Security: CSP, login throttling, rate limits (see docs/deploy.md) -------------------------
from csp.constants import NONCE, NONE, SELF  # noqa: E402

INSTALLED_APPS += ["csp", "axes"]
# django-csp's middleware with the header built once (netlearn.core.csp: 0.17 ms a page less).
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "netlearn.core.csp.CachedPolicyCSPMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                  "netlearn.core.ratelimit.RateLimitMiddleware")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # turns a locked-out login into lockout.html

#: Scripts and styles only from our origin or carrying this response's nonce: an injected
#: ``<script>`` or ``on*=`` attribute never runs. Inline ``style=""`` attributes (progress bars,
#: waterfall bars) are allowed: they cannot run code. htmx's own indicator <style> gets the nonce
#: (base.html's htmx-config). WebSockets go to our own origin ('self' covers ws:/wss: in CSP 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

AUTHENTICATION_BACKENDS = ["netlearn.core.throttle.LoginThrottleBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours: 15 minutes
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one guesser cannot lock a learner out everywhere
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "lockout.html"
# The client address is REMOTE_ADDR: behind nginx, uvicorn's --proxy-headers sets it from
# X-Forwarded-For (trusted from the proxy's address only), see docs/deploy.md.
AXES_VERBOSE = False

#: Proxies whose X-Forwarded-For is believed (addresses or networks; netlearn.core.clientaddr).
#: Empty: the connection's address is the client's. Behind nginx on the same host: 127.0.0.1.
NETLEARN_TRUSTED_PROXIES: list[str] = [
    p for p in os.environ.get("NETLEARN_TRUSTED_PROXIES", "").split(",") if p.strip()]
#: One client address may send this many times a learner's limit (a classroom behind one NAT).
NETLEARN_RATE_LIMIT_ADDRESS_FACTOR = int(os.environ.get("NETLEARN_RATE_LIMIT_ADDRESS_FACTOR", "40"))
#: POSTs per learner per window, by URL name (netlearn.core.ratelimit): (limit, seconds).
#: Each is also counted per client address, at NETLEARN_RATE_LIMIT_ADDRESS_FACTOR times the limit.
NETLEARN_RATE_LIMITS: dict[str, tuple[int, int]] = {
    "walks:index": (20, 60),
    "walks:compare": (10, 60),
    "walks:try": (20, 60),
    "quizzes:answer": (60, 60),
    "quizzes:reveal": (60, 60),
    "quizzes:mock_answer": (60, 60),
    "quizzes:mock_start": (10, 60),
    "accounts:signup": (10, 600),
    "accounts:password_reset": (5, 600),
}
