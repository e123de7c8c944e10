#!/usr/bin/env bash
# The main job: install, then run the example project on embedded defaults
# (SQLite + the in-process memory store): migrate, seed demo data, replay a
# listening workload through the cache and print its report, then serve the
# site and admin on http://127.0.0.1:8000/ (Ctrl-C stops it).
# Set REDIS_URL / DATABASE_URL to use Redis / PostgreSQL instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_venv all
exec .venv/bin/python manage.py demo "$@"
