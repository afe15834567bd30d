#!/usr/bin/env bash
# Install everything the tests need (Debian packages included) and run the whole suite:
# lint, formatting, types, then pytest. Safe to run again: installed parts are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
need=()
for pkg in chromium hugo virtuoso-opensource; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test]'

ruff check sdwiki tests bench
ruff format --check sdwiki tests bench
mypy --strict sdwiki
python3 -m pytest -q -p no:cacheprovider
