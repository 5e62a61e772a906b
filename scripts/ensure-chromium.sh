#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (playwright install cannot
# download here). Install it when missing and we are root; otherwise say what to install.
set -euo pipefail
CHROMIUM="${NETLEARN_CHROMIUM:-/usr/bin/chromium}"
# Korean pages need a CJK font, or screenshots show empty boxes.
need=""
[ -x "$CHROMIUM" ] || need="chromium"
fc-list 2>/dev/null | grep -qi "noto.*cjk" || need="$need fonts-noto-cjk"
if [ -z "$need" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's $need for the browser tests (about 30 s)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
  exit 0
fi
if [ -x "$CHROMIUM" ]; then
  echo "Note: no CJK font (fonts-noto-cjk); Korean screenshots will show boxes." >&2
  exit 0
fi
echo "The browser tests need Chromium at $CHROMIUM." >&2
echo "Install it with:  sudo apt-get install chromium   (or set NETLEARN_CHROMIUM to its path)" >&2
exit 1
