#!/usr/bin/env bash
# Tools the tests and benchmarks use that are not Python packages:
#   Debian's tshark (an independent dissector for the walk's pcapng), strace (the SSRF watch at
#   the system-call level), wrk and haproxy (benchmarks and their baselines), and axe-core from
#   the npm registry (the accessibility gate of the browser tests), unpacked under var/vendor/.
# Installs what is missing when we are root; otherwise says what to install and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_VERSION="${AXE_VERSION:-4.14.1}"
need=""
for tool in tshark strace wrk haproxy; do
  command -v "$tool" >/dev/null || need="$need $tool"
done
if [ -n "$need" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's$need for the tests and benchmarks..."
    apt-get update -qq
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
  else
    echo "The tests need Debian's:$need  (sudo apt-get install$need)" >&2
    exit 1
  fi
fi
axe_dir="var/vendor/axe-core"
if [ ! -f "$axe_dir/axe.min.js" ] || ! grep -q "\"version\": \"$AXE_VERSION\"" "$axe_dir/package.json" 2>/dev/null; then
  command -v npm >/dev/null || { echo "axe-core needs npm (apt-get install npm)" >&2; exit 1; }
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null)
  rm -rf "$axe_dir" && mkdir -p "$axe_dir"
  tar -xzf "$tmp"/axe-core-*.tgz -C "$tmp"
  cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$tmp/package/package.json" "$axe_dir/"
  rm -rf "$tmp"
fi
