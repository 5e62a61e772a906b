"""The Makefile's choice of interpreter (README, "Which Python"), run with real ``make`` and a real
virtualenv in a scratch folder holding only the Makefile and an empty requirements file.

* Debian's optimised ``/usr/bin/python3.11`` is the default when the machine has it.
* A ``.venv`` made from another interpreter is made again from the chosen one, once: the next
  ``make deps`` has nothing to do.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = Path("/usr/bin/python3.11")


def _scratch(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "requirements.txt").write_text("")
    return tmp_path


def _make(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PY", "MAKEFLAGS", "VIRTUAL_ENV")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)


def _base(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import os, sys; print(os.path.realpath(sys._base_executable))"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(not DEBIAN_PYTHON.exists(), reason="no Debian python3.11 on this machine")
def test_debians_python_is_the_default(tmp_path: Path) -> None:
    planned = _make(_scratch(tmp_path), "-n", "deps").stdout
    assert f"{DEBIAN_PYTHON} -m venv .venv" in planned, planned


def test_a_venv_from_another_python_is_made_again_once(tmp_path: Path) -> None:
    folder = _scratch(tmp_path)
    # A ".venv" whose python says it was made elsewhere: a script answering the Makefile's question.
    fake = folder / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho /opt/some-other-python3.11\n")
    fake.chmod(0o755)
    chosen = Path(sys.executable)  # this test's own interpreter: a real one, whatever the machine
    first = _make(folder, f"PY={chosen}", "deps")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "was made from another Python" in first.stdout
    assert _base(folder / ".venv" / "bin" / "python") == _base(chosen)
    second = _make(folder, f"PY={chosen}", "deps")
    assert second.returncode == 0 and "Nothing to be done" in second.stdout, second.stdout + second.stderr
