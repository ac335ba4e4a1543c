#!/usr/bin/env bash
# Installs what the tests need beyond Go and gcc, when it is missing:
# Chromium (the dashboards' real-browser tests) and promtool (the Prometheus
# alert rules), both Debian packages. `make test` and CI run this first, so a
# fresh machine needs nothing installed by hand.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus) # only promtool is used
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "the tests need ${missing[*]} (Debian packages); install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q -o DPkg::Lock::Timeout=600 "${missing[@]}"
