#!/usr/bin/env bash
# The whole test suite: install everything the tests need, make sure a
# redis-server binary exists (the suite starts its own servers on free
# loopback ports; REDIS_URL points it at another one) and a Chromium for the
# browser tests, then run pytest.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_venv dev
missing=()
if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null; then missing+=(redis-server); fi
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  missing+=(chromium)
fi
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
exec .venv/bin/python -m pytest "$@"
