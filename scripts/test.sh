#!/usr/bin/env bash
# The whole test suite: install everything the tests need, make sure a
# redis-server binary exists (the suite starts its own servers on free
# loopback ports; REDIS_URL points it at another one), then run pytest.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_venv dev
if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null; then
  apt_install redis-server
fi
exec .venv/bin/python -m pytest "$@"
