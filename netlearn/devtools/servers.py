"""Real PostgreSQL, Redis and nginx servers on loopback, each in its own temporary folder.

Used by ``scripts/with_services.py`` (the second ``make test`` configuration), by the scale and
fault tests (which stop and restart them) and by ``bench/classroom.py``. PostgreSQL and Redis are
started through the executors of the ``pytest-postgresql`` and ``pytest-redis`` plugins, which run
the real binaries; nginx through a small executor of our own.

PostgreSQL refuses to run as root, and CI runs as root: then every ``pg_ctl`` call goes through
``runuser -u postgres`` (the Debian package creates that user) and the data folder is theirs.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

SERVICES_HINT = ("run `bash scripts/ensure-services.sh` (make test does) to install Debian's postgresql, "
                 "redis-server, nginx")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_healthy(url: str, process: subprocess.Popen, log: Path | None = None, *, timeout: float = 40.0,
                     poll: float = 0.1) -> None:
    """Until ``url`` answers 200 (a server we started, e.g. its ``/healthz``); fail fast with
    the tail of its log if the process exits first."""
    def tail() -> str:
        return log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({process.returncode}): {tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(poll)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s: {tail()}")


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


def _pg_ctl() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError(f"PostgreSQL's pg_ctl not found: {SERVICES_HINT}")
    real = found[-1]
    if os.geteuid() != 0:
        return real
    # As root: a wrapper that runs pg_ctl as the postgres user (the executor calls it for
    # initdb, start, status and stop alike).
    wrapper = Path(tempfile.gettempdir()) / "netlearn-pg_ctl-as-postgres"
    if not wrapper.exists():
        wrapper.write_text(f'#!/bin/sh\ncd /\nexec runuser -u postgres -- {real} "$@"\n')
        wrapper.chmod(0o755)
    return str(wrapper)


def _let_postgres_through(folder: Path) -> None:
    """Temporary folders are 0700 root: let the postgres user traverse the ones above its own."""
    tmp = Path(tempfile.gettempdir()).resolve()
    for ancestor in folder.resolve().parents:
        if ancestor == tmp or tmp not in ancestor.parents:
            break
        ancestor.chmod(ancestor.stat().st_mode | 0o011)


class Postgres:
    """A PostgreSQL cluster of its own: ``start()``, ``stop()``, ``restart()``, ``url``."""

    def __init__(self, root: Path | None = None, *, dbname: str = "netlearn") -> None:
        from pytest_postgresql.executors.proc import PostgreSQLExecutor

        self.root = Path(root or tempfile.mkdtemp(prefix="netlearn-pg-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.dbname = dbname
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            _let_postgres_through(self.root)
        self.executor = PostgreSQLExecutor(
            executable=_pg_ctl(), host="127.0.0.1", port=self.port, datadir=str(self.root / "data"),
            unixsocketdir=str(self.root), logfile=str(self.root / "postgres.log"), startparams="-w",
            dbname=dbname, user="postgres", postgres_options="-c fsync=off -c max_connections=200")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def start(self) -> Postgres:
        self.executor.start()
        self.wait_ready()
        return self

    def _connect_when_ready(self, timeout: float = 60.0) -> psycopg.Connection:
        """A connection once the server accepts them: on a loaded machine the port answers while
        PostgreSQL still says "the database system is starting up"."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True)
            except psycopg.OperationalError as exc:
                if "starting up" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the server accepts sessions (see ``_connect_when_ready``): ``start`` returns only then."""
        self._connect_when_ready(timeout).close()

    def create_database(self) -> None:
        with self._connect_when_ready() as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.dbname}"')

    def stop(self) -> None:
        if self.executor.running():
            self.executor.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    """A Redis server of its own (no persistence): ``start()``, ``stop()``, ``url``."""

    #: Seconds after which the server closes an idle client's connection (Redis's ``timeout``), as a
    #: managed Redis may: the site's clients must cope (netlearn.core.redisconf). 0: never.
    IDLE_TIMEOUT = 30

    def __init__(self, root: Path | None = None, *, idle_timeout: int = IDLE_TIMEOUT) -> None:
        from pytest_redis.executor.process import RedisExecutor

        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(executable):
            raise RuntimeError(f"redis-server not found: {SERVICES_HINT}")
        self.root = Path(root or tempfile.mkdtemp(prefix="netlearn-redis-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.executor = RedisExecutor(executable=executable, databases=16, redis_timeout=idle_timeout,
                                      loglevel="warning", host="127.0.0.1", port=self.port, datadir=self.root,
                                      save="")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        self.executor.start()
        return self

    def stop(self) -> None:
        if self.executor.running():
            self.executor.stop()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


#: How long a worker keeps an idle connection (uvicorn's ``--timeout-keep-alive``, its default,
#: passed explicitly by :mod:`netlearn.devtools.stack` so that the next line holds).
WORKER_KEEPALIVE_TIMEOUT = 5
#: How long nginx keeps an idle connection to a worker: less, so nginx lets go first (see :class:`Nginx`).
UPSTREAM_KEEPALIVE_TIMEOUT = WORKER_KEEPALIVE_TIMEOUT - 1

NGINX_CONF = """\
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
daemon off;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    upstream netlearn {{
{servers}
        keepalive 128;
        keepalive_timeout {keepalive_timeout}s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://netlearn;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 120s;
            proxy_next_upstream error timeout;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


class Nginx:
    """Debian's nginx as a reverse proxy in front of ``upstreams`` (one ``127.0.0.1:port`` each).

    Connections to the workers are kept alive and reused (``keepalive`` in the upstream, and no
    ``Connection: close`` sent for a plain request: the map gives an empty header, which nginx
    leaves out; a WebSocket still gets ``Connection: upgrade``). Without it every request was a
    new TCP connection to a worker, answered and closed, and the worker paid an accept, a new
    protocol object and a close per page. ``keepalive_timeout`` is below the workers' keep-alive, so
    nginx drops an idle connection before the worker does and never sends a request on one the
    worker is closing (a POST there would be a 502: nginx retries only idempotent requests).
    """

    def __init__(self, upstreams: list[int], root: Path | None = None) -> None:
        self.executable = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(self.executable):
            raise RuntimeError(f"nginx not found: {SERVICES_HINT}")
        self.root = Path(root or tempfile.mkdtemp(prefix="netlearn-nginx-"))
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in upstreams)
        # As root the workers would switch to "nobody"; keep them as root inside this temp dir.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = NGINX_CONF.format(root=self.root, servers=servers, port=self.port, user=user,
                                 keepalive_timeout=UPSTREAM_KEEPALIVE_TIMEOUT)
        (self.root / "nginx.conf").write_text(conf)
        (self.root / "tmp").chmod(stat.S_IRWXU)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        self.process = subprocess.Popen([self.executable, "-p", str(self.root), "-c", str(self.root / "nginx.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
