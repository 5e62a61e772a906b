#!/usr/bin/env bash
# The second test configuration and the scale/fault tests start real PostgreSQL, Redis and nginx
# servers on loopback in temporary folders (never the system services). Install Debian's packages
# when a binary is missing and we are root; otherwise say what to install and fail.
set -euo pipefail
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
need=""
[ -n "$pg_bin" ] && [ -x "$pg_bin/pg_ctl" ] || need="postgresql"
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || need="$need redis-server"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need="$need nginx-light"
if [ -z "$need" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's $need for the PostgreSQL/Redis/nginx tests..."
  apt-get update -qq
  # policy-rc.d: install the binaries but do not start the system-wide services.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
  exit 0
fi
echo "The PostgreSQL/Redis/nginx tests need Debian's: $need" >&2
echo "Install them with:  sudo apt-get install $need" >&2
exit 1
