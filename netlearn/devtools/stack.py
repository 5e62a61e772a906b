"""The production layout of docs/deploy.md, on loopback: nginx → N uvicorn workers → PostgreSQL + Redis.

Each worker is a separate ``uvicorn`` process with ``netlearn.settings.prod`` (HTTPS off: no TLS on
loopback), its own embedded lab on kernel-chosen ports, the Redis channel layer and PostgreSQL.
nginx adds ``X-Upstream`` (the worker's address) to every answer so a test can tell which worker
served what.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from netlearn.devtools.servers import WORKER_KEEPALIVE_TIMEOUT, Nginx, Postgres, Redis, free_port, wait_for_healthy

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def worker_env(*, database_url: str, redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NETLEARN_"))}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update({
        "DJANGO_SETTINGS_MODULE": "netlearn.settings.prod",
        "DJANGO_SECRET_KEY": "scale-test-secret-key-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "NETLEARN_HTTPS": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "NETLEARN_DATA_DIR": str(data_dir),
        "NETLEARN_LAB_MODE": "process",
        "NETLEARN_LAB_EPHEMERAL": "1",
        **extra,
    })
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)


@dataclass
class Worker:
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 40.0) -> Worker:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "uvicorn", "netlearn.asgi:application", "--host", "127.0.0.1", "--port", str(self.port),
             "--lifespan", "on", "--ws", "websockets-sansio", "--timeout-graceful-shutdown", "8",
             "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1", "--no-access-log",
             "--timeout-keep-alive", str(WORKER_KEEPALIVE_TIMEOUT),
             "--ws-per-message-deflate", "false"],
            cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_healthy(f"{self.url}/healthz", self.process, self.log, timeout=timeout)
        return self

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@dataclass
class Stack:
    root: Path
    postgres: Postgres
    redis: Redis
    workers: list[Worker] = field(default_factory=list)
    nginx: Nginx | None = None
    #: Added to every worker's environment (bench/classroom.py --worker-env).
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = worker_env(database_url=self.postgres.url, redis_url=self.redis.url, data_dir=self.root / "data")
        return {**env, **self.extra_env}

    def add_worker(self) -> Worker:
        worker = Worker(free_port(), self.env, self.root / f"worker-{len(self.workers)}.log")
        self.workers.append(worker)
        return worker.start()

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for worker in self.workers:
            worker.stop()
        self.redis.destroy()
        self.postgres.destroy()


def start_stack(workers: int = 2, extra_env: dict[str, str] | None = None) -> Stack:
    """PostgreSQL and Redis in a temp folder, the schema and content, N workers, nginx in front."""
    root = Path(tempfile.mkdtemp(prefix="netlearn-stack-"))
    stack = Stack(root, Postgres(root / "pg"), Redis(root / "redis"), extra_env=dict(extra_env or {}))
    try:
        stack.postgres.start()
        stack.postgres.create_database()
        stack.redis.start()
        env = stack.env
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "seed_content")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        for _ in range(workers):
            stack.add_worker()
        stack.nginx = Nginx([w.port for w in stack.workers], root / "nginx").start()
    except BaseException:
        stack.stop()
        raise
    return stack
