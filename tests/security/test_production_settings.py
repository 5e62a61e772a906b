"""docs/deploy.md's production settings, checked in a fresh process as a worker would load them:
``netlearn.settings.prod`` refuses to start without ``DJANGO_SECRET_KEY``, ``check --deploy`` prints
no issues with the documented environment, and the HTTPS settings really reach the responses (HSTS
for a year with subdomains and preload, the HTTPS redirect, secure cookies) unless ``NETLEARN_HTTPS=0``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
HOST = "netlearn.example.edu"

# One request of each kind through the whole middleware chain of the production settings.
PROBE = f"""
import json, django
HOST = {HOST!r}
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST=HOST)
plain = client.get("/healthz")
secure = client.get("/healthz", secure=True)
print(json.dumps({{"plain_status": plain.status_code, "plain_location": plain.get("Location", ""),
                  "secure_status": secure.status_code, "hsts": secure.get("Strict-Transport-Security", ""),
                  "session_secure": settings.SESSION_COOKIE_SECURE, "csrf_secure": settings.CSRF_COOKIE_SECURE,
                  "session_httponly": settings.SESSION_COOKIE_HTTPONLY,
                  "allowed_hosts": settings.ALLOWED_HOSTS, "csrf_origins": settings.CSRF_TRUSTED_ORIGINS}}))
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "NETLEARN_", "DATABASE_URL", "REDIS_URL"))}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(DJANGO_SETTINGS_MODULE="netlearn.settings.prod", NETLEARN_DATA_DIR=str(tmp_path),
               NETLEARN_LAB_MODE="off", **extra)
    return env


def _documented_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return _env(tmp_path, DJANGO_SECRET_KEY="prod-settings-test-" + "k3y" * 20,
                DJANGO_ALLOWED_HOSTS=f"{HOST},127.0.0.1", DJANGO_CSRF_TRUSTED_ORIGINS=f"https://{HOST}", **extra)


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path) -> None:
    run = subprocess.run([PYTHON, "manage.py", "check"], cwd=ROOT, env=_env(tmp_path), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode != 0
    assert "DJANGO_SECRET_KEY must be set in production" in run.stderr, run.stderr[-2000:]


def test_check_deploy_prints_no_issues_with_the_documented_environment(tmp_path) -> None:
    run = subprocess.run([PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                         env=_documented_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "System check identified no issues" in run.stdout, run.stdout + run.stderr


def _probe(env: dict[str, str]) -> dict:
    run = subprocess.run([PYTHON, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_https_settings_reach_the_responses(tmp_path) -> None:
    seen = _probe(_documented_env(tmp_path))
    assert seen["plain_status"] == 301 and seen["plain_location"] == f"https://{HOST}/healthz"
    assert seen["secure_status"] == 200
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert seen["session_secure"] and seen["csrf_secure"] and seen["session_httponly"]
    # The comma-separated variables become lists.
    assert seen["allowed_hosts"] == [HOST, "127.0.0.1"] and seen["csrf_origins"] == [f"https://{HOST}"]


def test_netlearn_https_0_turns_https_off_for_loopback_tests(tmp_path) -> None:
    seen = _probe(_documented_env(tmp_path, NETLEARN_HTTPS="0"))
    assert seen["plain_status"] == 200 and seen["hsts"] == ""
    assert not seen["session_secure"] and not seen["csrf_secure"]
