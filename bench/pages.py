"""bench/pages: the same lesson step page under our production ASGI set-up and under gunicorn WSGI.

Not a test: a measurement. It seeds a throw-away database, starts
  * ASGI: uvicorn (uvloop + httptools) with --workers 2, production settings, and
  * WSGI: gunicorn with 2 sync workers, the same settings and database,
then runs ``wrk`` against each in alternation (ASGI, WSGI, ASGI, WSGI, ...) so drift in the
machine's load hits both, and prints requests/s, p50, p99 and the ASGI/WSGI ratio.

The request carries the session cookie of a returning anonymous learner, the page's common case
(a first visit also writes the session and the progress row once).

    .venv/bin/python bench/pages.py [--duration 10] [--rounds 2] [--connections 32]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
PATH = "/lessons/what-happens-when-you-type-a-url/3/"
sys.path.insert(0, str(ROOT))

from netlearn.devtools.servers import free_port as _free_port  # noqa: E402
from netlearn.devtools.servers import wait_for_healthy  # noqa: E402


def _env(data_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "netlearn.settings.prod", "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "NETLEARN_HTTPS": "0", "NETLEARN_DATA_DIR": data_dir, "NETLEARN_LAB_MODE": "off",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def _seed(env: dict[str, str], data_dir: str) -> None:
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    # Lessons and glossary only: the page under test needs nothing else.
    merged: dict = {"format": "netlearn-content", "version": 1}
    for path in sorted((ROOT / "fixtures" / "content").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for key in ("tracks", "glossary", "lessons"):
            merged.setdefault(key, []).extend(doc.get(key, []))
    course = Path(data_dir) / "course.json"
    course.write_text(json.dumps(merged), encoding="utf-8")
    subprocess.run([PY, "manage.py", "import_content", "--add-missing", str(course)], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def _wait(port: int, proc: subprocess.Popen) -> None:
    wait_for_healthy(f"http://127.0.0.1:{port}{PATH}", proc, timeout=30, poll=0.2)


def _session_cookie(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{PATH}") as r:
        cookies = r.headers.get_all("Set-Cookie") or []
    pairs = [c.split(";", 1)[0] for c in cookies]
    return "; ".join(pairs)


def _wrk(port: int, cookie: str, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-H", f"Cookie: {cookie}",
         "-H", "Accept-Language: en", f"http://127.0.0.1:{port}{PATH}"],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": _ms(out, "50%"), "p99": _ms(out, "99%"), "errors": int(non2xx.group(1)) if non2xx else 0}


def _ms(out: str, label: str) -> float:
    value, unit = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/pages needs wrk: apt-get install wrk")
    data_dir = tempfile.mkdtemp(prefix="netlearn-bench-")
    env = _env(data_dir)
    _seed(env, data_dir)
    asgi_port, wsgi_port = _free_port(), _free_port()
    servers = {
        "ASGI uvicorn": subprocess.Popen(
            [PY, "-m", "uvicorn", "netlearn.asgi:application", "--host", "127.0.0.1", "--port", str(asgi_port),
             "--workers", str(args.workers), "--loop", "uvloop", "--http", "httptools", "--lifespan", "on",
             "--no-access-log", "--log-level", "warning"], cwd=ROOT, env=env, start_new_session=True),
        "WSGI gunicorn": subprocess.Popen(
            [PY, "-m", "gunicorn", "django.core.wsgi:get_wsgi_application()", "-b", f"127.0.0.1:{wsgi_port}",
             "-w", "2", "-k", "sync", "--log-level", "warning"], cwd=ROOT, env=env, start_new_session=True),
    }
    ports = {"ASGI uvicorn": asgi_port, "WSGI gunicorn": wsgi_port}
    try:
        for name, proc in servers.items():
            _wait(ports[name], proc)
        cookie = _session_cookie(asgi_port)
        for port in ports.values():  # warm every worker's caches
            _wrk(port, cookie, 2, args.connections)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name in servers:
                results[name].append(_wrk(ports[name], cookie, args.duration, args.connections))
        print(f"\nGET {PATH}  wrk -t2 -c{args.connections} -d{args.duration}s x {args.rounds} rounds, alternating")
        print(f"{'server':<16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}")
        summary = {}
        for name, runs in results.items():
            rps = sum(r["rps"] for r in runs) / len(runs)
            p50 = sum(r["p50"] for r in runs) / len(runs)
            p99 = sum(r["p99"] for r in runs) / len(runs)
            errors = sum(int(r["errors"]) for r in runs)
            summary[name] = rps
            print(f"{name:<16}{rps:>10.0f}{p50:>10.1f}{p99:>10.1f}{errors:>9}")
        ratio = summary["ASGI uvicorn"] / summary["WSGI gunicorn"]
        print(f"ASGI / WSGI throughput: {ratio:.0%} (ASGI: uvicorn --workers {args.workers}, async views; "
              "WSGI: gunicorn 2 sync workers)")
    finally:
        for proc in servers.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in servers.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
