"""Friendly error pages in the learner's language.

``server_error`` is the site's ``handler500``. Django calls it inside the ``except`` block of
``convert_exception_to_response`` for an exception from a view *or* from a middleware (a new
session saved in ``SessionMiddleware.process_response``, for example), so it is the one place
that sees every write that failed. A full disk under the data directory (SQLite's "database or
disk is full", PostgreSQL's DiskFull, ``OSError(ENOSPC)``) is answered ``507 Insufficient
Storage`` with a page that says so in plain words; any other error gets a generic friendly 500.

``bad_request`` (``handler400``) is needed too: when an *existing* session cannot be updated,
Django's database session store turns any database error into ``UpdateError`` and the session
middleware into ``SessionInterrupted`` ("the session was deleted…"), a 400; the full disk is
still in that exception's ``__context__``.

Nothing is half-saved when that happens: a quiz answer, a new walk, a lesson's progress and an
admin edit are each one statement or one ``transaction.atomic`` block, which the database rolls
back when it cannot grow its journal; the same submission succeeds once space is freed
(tests/faults/test_disk_full.py fills a real disk under a real worker).
"""
from __future__ import annotations

import errno
import logging
import shutil
import sys
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import translation
from django.views import defaults

logger = logging.getLogger(__name__)

STORAGE_FULL_STATUS = 507  # Insufficient Storage (RFC 4918)
#: Seconds a client may wait before trying again (a hint: freeing space needs an operator).
STORAGE_FULL_RETRY_AFTER = 30
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13  # primary result code; extended codes keep it in their low byte
_PG_DISK_FULL = "53100"  # SQLSTATE disk_full
_FULL_MESSAGES = ("database or disk is full", "no space left on device", "disk quota exceeded")
#: Marks a request whose storage-full error was already logged (a view and then the session
#: middleware may both fail on the same request: one log line, not two).
_LOGGED = "_netlearn_storage_full_logged"


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it was raised from or while handling (``__cause__``/``__context__``)."""
    pending, seen = [exc], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(e for e in (current.__context__, current.__cause__) if e is not None)


def storage_full_error(exc: BaseException | None) -> BaseException | None:
    """The exception in ``exc``'s chain (``exc`` itself, what it was raised from or while handling)
    that says the disk or the database's storage is full, or None."""
    if exc is None:
        return None
    for error in _chain(exc):
        if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
            return error
        if _PG_DISK_FULL in (getattr(error, "sqlstate", None), getattr(error, "pgcode", None)):
            return error  # psycopg 3 / psycopg2 DiskFull (Django wraps it in its OperationalError)
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == _SQLITE_FULL:
            return error
        message = str(error).lower()
        if any(text in message for text in _FULL_MESSAGES):
            return error
    return None


def is_storage_full(exc: BaseException | None) -> bool:
    return storage_full_error(exc) is not None


def _language(request: HttpRequest) -> str:
    """The learner's language even when the error came before LocaleMiddleware set it."""
    try:
        return getattr(request, "LANGUAGE_CODE", None) or translation.get_language_from_request(request)
    except Exception:  # noqa: BLE001 - an error page must not fail on a malformed header
        return settings.LANGUAGE_CODE


def _free_bytes() -> int | None:
    try:
        return shutil.disk_usage(settings.DATA_DIR).free
    except (OSError, AttributeError):
        return None


def _log_storage_full(request: HttpRequest, exc: BaseException) -> None:
    if getattr(request, _LOGGED, False):
        return
    exc = storage_full_error(exc) or exc  # the disk's own words, not SessionInterrupted's
    try:
        setattr(request, _LOGGED, True)
    except AttributeError:
        pass
    logger.error(
        "Storage full: %s %s could not be saved (%s: %s); answered %d Insufficient Storage, its writes "
        "rolled back. Free space under %s (%s bytes free now): the same request will then succeed.",
        request.method, request.path, type(exc).__name__, exc, STORAGE_FULL_STATUS,
        getattr(settings, "DATA_DIR", "?"), _free_bytes())


def _page(request: HttpRequest, template: str, fragment: str, status: int) -> HttpResponse:
    """The full page in the site's layout; the bare fragment for htmx or when the layout itself
    cannot be rendered (it reads the session and the user, and the database may be unreadable)."""
    with translation.override(_language(request)):
        language = translation.get_language()
        content: str | None = None
        if not request.headers.get("HX-Request"):
            try:
                content = render_to_string(template, request=request)
            except Exception:
                logger.warning("the %s error page fell back to its plain version", status, exc_info=True)
        if content is None:
            body = render_to_string(fragment)
            content = body if request.headers.get("HX-Request") else (
                f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
                f"<title>NetLearn</title></head><body><main>{body}</main></body></html>")
    response = HttpResponse(content, status=status)
    response["Content-Language"] = language
    response["Cache-Control"] = "no-store"
    return response


def storage_full(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """507 with the friendly "storage is full" page (or an htmx fragment), logged once."""
    _log_storage_full(request, exc)
    response = _page(request, "507.html", "_507.html", STORAGE_FULL_STATUS)
    response["Retry-After"] = str(STORAGE_FULL_RETRY_AFTER)
    if request.headers.get("HX-Request"):
        # The form's own target stays as it is (the learner's answer is still in it): the message
        # goes to the top of the page, for htmx to swap in (it does not swap errors by default).
        response["HX-Retarget"] = "#main"
        response["HX-Reswap"] = "afterbegin show:top"
    response._has_been_logged = True  # type: ignore[attr-defined]  # our one ERROR line above, not also Django's (with its traceback)
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler400``: 507 for a session that could not be saved on a full disk, else Django's 400."""
    if exception is not None and is_storage_full(exception):
        return storage_full(request, exception)
    return defaults.bad_request(request, exception or Exception("bad request"))


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: 507 when the storage is full, a friendly 500 for anything else."""
    exc = sys.exc_info()[1]
    if exc is not None and is_storage_full(exc):
        return storage_full(request, exc)
    return _page(request, "500.html", "_500.html", 500)
