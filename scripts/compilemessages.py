"""Compile every locale/*/LC_MESSAGES/*.po into its .mo.

Django's own ``compilemessages`` needs GNU gettext's ``msgfmt``; ``polib`` does the same job
in pure Python, so a fresh machine needs nothing beyond the pinned requirements.
"""
from __future__ import annotations

from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    po_files = [*ROOT.glob("locale/*/LC_MESSAGES/*.po"), *ROOT.glob("netlearn/**/locale/*/LC_MESSAGES/*.po")]
    for po_path in sorted(po_files):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
        print(f"compiled {po_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
