"""The lab is a plain Python package: importing all of it must not pull in Django."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import netlearn.lab

_PROBE = """
import importlib, json, pkgutil, sys
import netlearn.lab
names = ["netlearn.lab"] + [m.name for m in pkgutil.walk_packages(netlearn.lab.__path__, "netlearn.lab.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "django": sorted(m for m in sys.modules if m.split(".")[0] == "django")}))
"""


def test_no_lab_module_imports_django() -> None:
    repo = Path(netlearn.lab.__file__).resolve().parent.parent.parent
    env = {"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"}  # no DJANGO_SETTINGS_MODULE either
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        cwd=repo,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {m.name for m in pkgutil.walk_packages(netlearn.lab.__path__, "netlearn.lab.")}
    assert expected <= set(report["modules"]) and "netlearn.lab.dns.resolution" in report["modules"]
    assert report["django"] == []
