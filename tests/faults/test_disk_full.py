"""Fill the disk under the data directory of a real uvicorn worker (embedded SQLite in WAL mode).

Every write (a quiz answer, a walk, a lesson page recording progress, an instructor's admin edit)
answers 507 with a friendly page in the learner's language, the process keeps serving, and once
space is freed the same submission succeeds, counted once, with the database intact.

The data directory is a 16 MiB tmpfs mounted for the test (we may be root), else one mounted
inside a user and mount namespace that only the server sees (``unshare -rm``: the test fills it
through ``/proc/<pid>/root`` and queries the database with ``nsenter``), else the test is skipped
with the reason. No PostgreSQL or Redis: it runs in ``make test``'s first, embedded pass.
"""
from __future__ import annotations

import errno
import http.cookiejar
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from netlearn.devtools.servers import free_port, wait_for_healthy
from netlearn.lessons.services import VISITOR_SESSION_KEY
from tests.scale.client import CSRF_RE, Learner

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SIZE = "16m"
EN_TITLE = "The server's storage is full"
EN_TEXT = "Nothing was half-saved"
KO_TITLE = "서버의 저장 공간이 가득 찼습니다"
KO_TEXT = "절반만 저장된 것은 없으며"
INSTRUCTOR = ("disk-teacher", "Full-disk-teacher-2026!")
LEAKS = ("Traceback", "OperationalError", "database or disk is full", "Server Error (500)")


# --- the small filesystem -----------------------------------------------------------------------

def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30)


def _mount_mode(probe: Path) -> str:
    """"mount" (we may mount here), "unshare" (only inside a namespace), or skip with both reasons."""
    probe.mkdir()
    try:
        tried = _run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe))
    except FileNotFoundError as exc:
        tried = subprocess.CompletedProcess([], 127, "", str(exc))
    if tried.returncode == 0:
        _run("umount", str(probe))
        return "mount"
    try:
        nested = _run("unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs '{probe}'")
    except FileNotFoundError as exc:
        nested = subprocess.CompletedProcess([], 127, "", str(exc))
    if nested.returncode == 0:
        return "unshare"
    # `make test` sets NETLEARN_REQUIRE_TMPFS=1: there the full-disk tests must run, so a machine
    # where the mount fails is a failure to fix (run as root, or allow user namespaces), not a skip.
    give_up = pytest.fail if os.environ.get("NETLEARN_REQUIRE_TMPFS") == "1" else pytest.skip
    give_up(f"cannot mount a small tmpfs for the data directory: mount said {tried.stderr.strip()!r} "
                f"(exit {tried.returncode}); unshare -rm said {nested.stderr.strip()!r} "
                f"(exit {nested.returncode})")


@dataclass
class Site:
    url: str
    process: subprocess.Popen
    data: Path  # where the test sees the data directory (through /proc/<pid>/root when namespaced)
    log: Path
    namespaced: bool
    db_inside: Path  # the database's path as the server sees it

    @property
    def db(self) -> Path:
        return self.data / "netlearn.sqlite3"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int | None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


SITE_SECRET_KEY = "disk-full-test-secret-key-" + "x" * 40


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "NETLEARN_", "DATABASE_URL", "REDIS_URL"))}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update({"DJANGO_SETTINGS_MODULE": "netlearn.settings.prod",
                "DJANGO_SECRET_KEY": SITE_SECRET_KEY,
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "NETLEARN_HTTPS": "0",
                "NETLEARN_DATA_DIR": str(data), "NETLEARN_LAB_MODE": "embedded",
                "NETLEARN_LAB_EPHEMERAL": "1",
                "NETLEARN_INSTRUCTOR_PASSWORD": INSTRUCTOR[1], "PYTHON": PYTHON})
    return env


def _start(mode: str, data: Path, log: Path, timeout: float = 60.0) -> Site:
    """migrate, seed_content, an instructor, then exec uvicorn (one shell: one namespace for all)."""
    port = free_port()
    script = ('set -e; cd "$ROOT"; "$PYTHON" manage.py migrate --noinput -v 0; '
              '"$PYTHON" manage.py seed_content; '
              f'"$PYTHON" manage.py createinstructor {INSTRUCTOR[0]} --no-input; '
              f'exec "$PYTHON" -m uvicorn netlearn.asgi:application --host 127.0.0.1 --port {port} '
              '--lifespan on --ws websockets-sansio --timeout-graceful-shutdown 8')
    command = ["sh", "-c", script]
    if mode == "unshare":
        mount = f'mount -t tmpfs -o size={SIZE} tmpfs "$NETLEARN_DATA_DIR"'
        command = ["unshare", "-rm", "sh", "-c", f"{mount} && {script}"]
    env = {**_env(data), "ROOT": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    view = Path(f"/proc/{process.pid}/root{data}") if mode == "unshare" else data
    site = Site(f"http://127.0.0.1:{port}", process, view, log, mode == "unshare", data / "netlearn.sqlite3")
    try:
        wait_for_healthy(f"{site.url}/healthz", process, log, timeout=timeout, poll=0.2)
    except RuntimeError:
        site.stop()
        raise
    return site


def _eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for a state (lesson progress and answers are written behind the page, within a fraction
    of a second)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the state never came"
        time.sleep(0.05)


@pytest.fixture
def small_site(tmp_path) -> Iterator[Site]:
    mode = _mount_mode(tmp_path / "probe")
    data = tmp_path / "data"
    data.mkdir()
    mounted = False
    site = None
    try:
        if mode == "mount":
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(data)],
                           check=True, capture_output=True, timeout=30)
            mounted = True
        site = _start(mode, data, tmp_path / "site.log")
        yield site
    finally:
        if site is not None:
            site.stop()
        if mounted and _run("umount", str(data)).returncode != 0:
            _run("umount", "-l", str(data))


def _fill(directory: Path) -> int:
    """Write a filler file until the filesystem refuses (ENOSPC), in big then small chunks."""
    written = 0
    with open(directory / "filler.bin", "wb", buffering=0) as filler:
        for size in (1 << 20, 1 << 12, 512):
            chunk = b"\xa5" * size
            while True:
                try:
                    written += filler.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return written


# --- a learner's browser ---------------------------------------------------------------------------

class _Form(HTMLParser):
    """The fields of the first ``<form>`` whose class contains ``css`` (hidden values, one radio)."""

    def __init__(self, css: str) -> None:
        super().__init__()
        self.css, self.inside, self.done = css, False, False
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.done and self.css in a.get("class", "").split():
            self.inside, self.action = True, a.get("action", "")
        elif self.inside and tag == "input" and a.get("name"):
            first_radio = a.get("type") == "radio" and a["name"] not in self.fields
            if a.get("type") in ("hidden", "text") or first_radio:
                self.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside, self.done = False, True


def _form(html: str, css: str) -> tuple[str, dict[str, str]]:
    parser = _Form(css)
    parser.feed(html)
    assert parser.fields, f"no form .{css}"
    return parser.action, parser.fields


def _send(learner: Learner, path: str, data: dict[str, str] | None = None, **headers: str):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(learner.base + path, data=body,
                                     headers={"Referer": learner.base + path, **headers})
    try:
        with learner.opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def _friendly(status: int, body: str, *, korean: bool = False) -> None:
    assert status == 507, (status, body[:800])
    for text in ((KO_TITLE, KO_TEXT) if korean else (EN_TITLE, EN_TEXT)):
        assert text in body, body[:800]
    for leak in LEAKS:
        assert leak not in body, leak


def _earlier_session(db: _Database, learner: Learner, data: dict[str, str]) -> None:
    """A session row holding ``data``, encoded by the site's own session store with the site's key,
    and its cookie in ``learner``."""
    from django.test import override_settings

    from netlearn.core.sessions import SessionStore

    key = secrets.token_hex(16)
    with override_settings(SECRET_KEY=SITE_SECRET_KEY):
        encoded = SessionStore().encode(data)
    expires = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    db.rows("INSERT INTO django_session (session_key, session_data, expire_date) VALUES (?, ?, ?)",
            key, encoded, expires)
    learner.jar.set_cookie(http.cookiejar.Cookie(
        0, "sessionid", key, None, False, "127.0.0.1", False, False, "/", True, False, None, True, None, None, {}))


# --- the database, seen from beside the server -------------------------------------------------------

_QUERY = """
import json, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], timeout=20, isolation_level=None)
print(json.dumps(connection.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()))
"""


class _Database:
    """SQL on the site's database from beside the server, in autocommit (never holding a snapshot).

    Mounted here: one connection of ours. Namespaced: each query in a short process that joins the
    server's namespaces (SQLite resolves the ``/proc/<pid>/root`` link, so it cannot go through it)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.connection = None
        if not site.namespaced:
            self.connection = sqlite3.connect(site.db, timeout=20, isolation_level=None)

    def rows(self, sql: str, *args: object) -> list[tuple]:
        if self.connection is not None:
            return self.connection.execute(sql, args).fetchall()
        done = subprocess.run(
            ["nsenter", "-t", str(self.site.process.pid), "-U", "-m", "--preserve-credentials",
             PYTHON, "-c", _QUERY, str(self.site.db_inside), sql, json.dumps(args)],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        return [tuple(row) for row in json.loads(done.stdout)]

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def test_a_full_disk_answers_507_in_plain_words_and_nothing_is_corrupted(small_site: Site) -> None:
    site = small_site
    db = _Database(site)
    try:
        _scenario(site, db)
    finally:
        db.close()
    # uvicorn ends a graceful shutdown by re-raising the SIGTERM it caught (see test_sigterm.py).
    assert site.stop() in (0, -signal.SIGTERM), site.log.read_text()[-3000:]
    assert "Application shutdown complete." in site.log.read_text()
    if not site.namespaced:  # once more with the server gone
        with sqlite3.connect(f"file:{site.db}?mode=ro", uri=True) as final:
            assert final.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _scenario(site: Site, db: _Database) -> None:
    keys = [k for (k,) in db.rows("SELECT key FROM quizzes_question WHERE type = 'single' "
                                  "ORDER BY key LIMIT 2")]
    assert len(keys) == 2, "seed_content gave no single-choice questions"
    lesson, _steps = db.rows("SELECT l.slug, count(*) FROM lessons_lesson l "
                             "JOIN lessons_step s ON s.lesson_id = l.id "
                             "GROUP BY l.id HAVING count(*) >= 2 ORDER BY l.slug LIMIT 1")[0]

    # Before: a learner answers one question and reads a step; an instructor logs in to the admin.
    learner = Learner(site.url)
    action, fields = _form(learner.get(f"/quizzes/q/{keys[0]}/").body, "q-form")
    status, _, body = _send(learner, action, fields)
    assert status == 200, body[:800]
    assert learner.get(f"/lessons/{lesson}/1/").status == 200
    _eventually(lambda: db.rows("SELECT count(*) FROM lessons_stepview")[0][0] == 1)  # progress is written behind
    _eventually(lambda: db.rows("SELECT count(*) FROM quizzes_attempt")[0][0] == 1)  # and so are answers
    teacher = Learner(site.url)
    login = teacher.post_form("/admin/login/?next=/admin/",
                              {"username": INSTRUCTOR[0], "password": INSTRUCTOR[1], "next": "/admin/"})
    assert login.status == 302 and login.url.endswith("/admin/"), (login.status, login.body[:500])
    topic_id, topic_slug, topic_en, topic_ko = db.rows("SELECT id, slug, name_en, name_ko FROM quizzes_topic "
                                                      "ORDER BY id LIMIT 1")[0]
    before = {
        "attempts": db.rows("SELECT id, anon_id, question_id, token, answer, correct, score "
                            "FROM quizzes_attempt"),
        "views": db.rows("SELECT id, step_id, visitor FROM lessons_stepview ORDER BY id"),
        "sessions": db.rows("SELECT session_key, session_data FROM django_session ORDER BY session_key"),
    }
    assert len(before["attempts"]) == 1 and len(before["views"]) == 1
    # The forms the learner and the instructor are about to send (rendered while there is room).
    answer_action, answer = _form(learner.get(f"/quizzes/q/{keys[1]}/").body, "q-form")
    walk_action, walk = _form(learner.get("/walk/").body, "walk-form")
    walk["url"] = "http://shop.netlearn.test/"
    change = f"/admin/quizzes/topic/{topic_id}/change/"
    token = CSRF_RE.search(teacher.get(change).body)
    assert token, "no CSRF token on the admin change form"
    edit = {"csrfmiddlewaretoken": token.group(1), "slug": topic_slug, "name_en": topic_en + " (edited)",
            "name_ko": topic_ko, "_save": "Save"}
    # A first-time visitor who will click "Check answer" without picking one: the view answers
    # 400 and writes nothing, but it gave them a learner id, and the session is saved afterwards,
    # in SessionMiddleware.process_response (outside the view).
    newcomer = Learner(site.url)
    newcomer_action, newcomer_form = _form(newcomer.get(f"/quizzes/q/{keys[1]}/").body, "q-form")
    newcomer_form.pop("choice")
    assert "sessionid" not in newcomer.cookie_header()
    # The same click from a visitor whose session already exists without a learner id (one an
    # earlier NetLearn saved: its walk page gave none): the session is updated, and Django reports
    # that failure as SessionInterrupted (a 400).
    returning = Learner(site.url)
    _earlier_session(db, returning, {VISITOR_SESSION_KEY: "earlier-visitor-key"})
    returning_action, returning_form = _form(returning.get(f"/quizzes/q/{keys[1]}/").body, "q-form")
    returning_form.pop("choice")
    # Today's walk page gives every id with the session it creates: that click has nothing to
    # write, so it gets the form's own answer (pick a choice), full disk or not.
    walker = Learner(site.url)
    assert walker.get("/walk/").status == 200 and "sessionid" in walker.cookie_header()
    walker_action, walker_form = _form(walker.get(f"/quizzes/q/{keys[1]}/").body, "q-form")
    walker_form.pop("choice")

    # Fill the disk. The WAL is emptied first (a checkpoint that truncates it): SQLite could
    # otherwise rewrite frames it already owns and need no new space at all.
    assert db.rows("PRAGMA wal_checkpoint(TRUNCATE)")[0][0] == 0
    filled = _fill(site.data)
    assert filled > 1 << 20, filled
    assert os.statvfs(site.data).f_bavail == 0

    # Every write is refused with the friendly page, in English and in Korean, page or fragment.
    status, headers, body = _send(learner, answer_action, answer)
    _friendly(status, body)
    assert "<html" in body and 'class="site-nav"' in body  # the site's own layout
    status, _, body = _send(learner, answer_action, answer, **{"Accept-Language": "ko"})
    _friendly(status, body, korean=True)
    status, headers, body = _send(learner, answer_action, answer, **{"HX-Request": "true"})
    _friendly(status, body)
    assert "<html" not in body and headers.get("HX-Retarget") == "#main", dict(headers)
    status, _, body = _send(learner, walk_action, walk)
    _friendly(status, body)
    status, _, body = _send(learner, f"/lessons/{lesson}/2/")
    _friendly(status, body)
    first_time = Learner(site.url)
    status, _, body = _send(first_time, f"/lessons/{lesson}/1/", **{"Accept-Language": "ko"})
    _friendly(status, body, korean=True)
    status, _, body = _send(teacher, change, edit)
    _friendly(status, body)
    status, _, body = _send(newcomer, newcomer_action, newcomer_form)
    _friendly(status, body)
    status, _, body = _send(returning, returning_action, returning_form, **{"Accept-Language": "ko"})
    _friendly(status, body, korean=True)
    status, _, body = _send(walker, walker_action, walker_form)
    assert status == 400 and EN_TITLE not in body, (status, body[:800])
    # Reading still works, and the process is alive and healthy.
    assert site.alive()
    assert learner.get("/healthz").status == 200
    assert learner.get(f"/quizzes/q/{keys[0]}/").status == 200
    assert db.rows("SELECT count(*) FROM quizzes_attempt")[0][0] == 1
    # ... and no refused answer waits in the answer journal to be written later: it was not recorded.
    assert not any(p.stat().st_size for p in (site.data / "answer-journal").glob("*.journal"))

    # Free the space: the very same submissions now succeed, the answer counted once.
    (site.data / "filler.bin").unlink()
    status, _, body = _send(learner, answer_action, answer)
    assert status == 200, body[:800]
    assert EN_TITLE not in body
    status, _, _ = _send(learner, answer_action, answer)  # a double click after the error: still one attempt
    assert status == 200
    status, headers, _ = _send(learner, walk_action, walk)
    assert status == 302 and "/walk/" in headers.get("Location", ""), status
    assert _send(learner, f"/lessons/{lesson}/2/")[0] == 200
    status, headers, body = _send(teacher, change, edit)
    assert status == 302, body[:800]
    assert site.alive()

    assert db.rows("PRAGMA integrity_check") == [("ok",)]
    _eventually(lambda: db.rows("SELECT count(*) FROM quizzes_attempt")[0][0] >= 2)  # written behind the page
    attempts = db.rows("SELECT id, anon_id, question_id, token, answer, correct, score FROM quizzes_attempt "
                       "ORDER BY id")
    assert attempts[0] == before["attempts"][0]  # the earlier answer, untouched
    assert len(attempts) == 2 and attempts[1][1] == attempts[0][1], attempts  # one new, same learner
    assert db.rows("SELECT id, step_id, visitor FROM lessons_stepview ORDER BY id")[:1] == before["views"]
    visitor = before["views"][0][2]
    _eventually(lambda: db.rows("SELECT count(*) FROM lessons_stepview WHERE visitor = ?", visitor) == [(2,)])
    sessions = dict(db.rows("SELECT session_key, session_data FROM django_session"))
    assert all(sessions.get(key) == data for key, data in before["sessions"])
    assert db.rows("SELECT slug, name_en, name_ko FROM quizzes_topic WHERE id = ?", topic_id) == [
        (topic_slug, topic_en + " (edited)", topic_ko)]
    log = site.log.read_text(errors="replace")
    assert log.count("Storage full:") == 9, log[-3000:]  # one line for each refused request
    # ... and not Django's own lines (with tracebacks) as well.
    assert "Traceback" not in log and "SessionInterrupted" not in log, log[-5000:]


# --- the handler on its own ------------------------------------------------------------------------

def _raised(error: BaseException, cause: BaseException | None = None) -> BaseException:
    """``error`` as Django re-raises a driver's exception (``raise ... from cause``), with its traceback."""
    try:
        try:
            if cause is not None:
                raise cause
            raise error
        except BaseException as inner:
            if inner is error:
                raise
            raise error from inner
    except BaseException as outer:  # noqa: BLE001
        return outer


def test_storage_full_is_recognised_through_the_exception_chain() -> None:
    import sqlite3 as driver

    import psycopg.errors
    from django.db import utils

    from netlearn.core.errors import is_storage_full

    assert is_storage_full(_raised(utils.OperationalError("database or disk is full"),
                                   driver.OperationalError("database or disk is full")))
    assert is_storage_full(_raised(utils.OperationalError("could not extend file"),
                                   psycopg.errors.DiskFull("could not extend file \"base/16384/2619\"")))
    assert is_storage_full(_raised(RuntimeError("the upload failed"),
                                   OSError(errno.ENOSPC, "No space left on device")))
    assert not is_storage_full(_raised(utils.OperationalError("database is locked")))
    assert not is_storage_full(_raised(ValueError("a plain bug")))
    assert not is_storage_full(None)


def _handled(request, error: BaseException):
    """What ``handler500`` answers, called as Django does: inside the ``except`` block."""
    from netlearn.core.errors import server_error

    try:
        raise error
    except BaseException:  # noqa: BLE001
        return server_error(request)


def test_handler500_answers_507_in_the_learners_language_and_500_for_anything_else(rf, caplog) -> None:
    from django.db import utils

    full = utils.OperationalError("database or disk is full")
    with caplog.at_level("ERROR", logger="netlearn.core.errors"):
        page = _handled(rf.post("/quizzes/q/x/answer/"), full)
    _friendly(page.status_code, page.content.decode())
    assert 'class="site-nav"' in page.content.decode() and page["Retry-After"] == "30"
    assert len(caplog.records) == 1 and caplog.records[0].getMessage().startswith(
        "Storage full: POST /quizzes/q/x/answer/ could not be saved "
        "(OperationalError: database or disk is full)")
    assert not caplog.records[0].exc_info  # one clear line, no traceback
    korean = _handled(rf.post("/walk/", HTTP_ACCEPT_LANGUAGE="ko"), full)
    _friendly(korean.status_code, korean.content.decode(), korean=True)
    assert korean["Content-Language"] == "ko"
    fragment = _handled(rf.post("/walk/", HTTP_HX_REQUEST="true"), full)
    _friendly(fragment.status_code, fragment.content.decode())
    assert "<html" not in fragment.content.decode()
    assert (fragment["HX-Retarget"], fragment["HX-Reswap"]) == ("#main", "afterbegin show:top")
    other = _handled(rf.get("/", HTTP_ACCEPT_LANGUAGE="ko"), ValueError("a plain bug"))
    body = other.content.decode()
    assert other.status_code == 500 and "서버 쪽에서 문제가 생겼습니다" in body
    assert all(leak not in body for leak in (*LEAKS, "a plain bug", EN_TITLE))


def _grow_session(request):
    """A view that writes nothing itself: only the session, saved after it by SessionMiddleware."""
    from django.http import HttpResponse

    request.session["notes"] = os.urandom(int(request.GET["bytes"])).hex()  # incompressible
    return HttpResponse("noted")


from django.urls import path as _path  # noqa: E402 - this module is also the URLconf of the test below

from netlearn.urls import handler400, handler500  # noqa: E402, F401 - the site's own handlers

urlpatterns = [_path("grow/", _grow_session)]


@pytest.mark.django_db(transaction=True)
def test_a_session_that_cannot_be_saved_in_middleware_gets_the_507_page(settings) -> None:
    """A real SQLite "database or disk is full" (the database may not grow: ``max_page_count``),
    raised in ``SessionMiddleware.process_response``, i.e. after the view answered 200."""
    from django.db import connection
    from django.test import Client

    if connection.vendor != "sqlite":
        pytest.skip("max_page_count is SQLite's; the PostgreSQL error is recognised by the test above")
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    assert client.get("/grow/?bytes=16").status_code == 200  # a session row exists
    connection.ensure_connection()
    with connection.cursor() as cursor:
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        free, size = (cursor.execute(f"PRAGMA {p}").fetchone()[0] for p in ("freelist_count", "page_size"))
        cursor.execute(f"PRAGMA max_page_count = {pages}")
    try:
        page = client.get(f"/grow/?bytes={(free + 8) * size}", HTTP_ACCEPT_LANGUAGE="ko")
        _friendly(page.status_code, page.content.decode(), korean=True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA max_page_count = 4294967294")
    assert client.get("/grow/?bytes=16").status_code == 200  # room again: the same request works
