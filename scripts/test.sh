#!/usr/bin/env bash
# One command from a fresh clone to the whole test suite: quality gates, then pytest on SQLite and then
# on PostgreSQL, browser tests included. Installs what is missing (Python deps, npm assets, Debian's
# Chromium, a CJK font, PostgreSQL). Fails, never skips, when something cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
source scripts/lib.sh

ensure_chromium
ensure_postgres

export CIVICGRID_ALLOW_DEV_KEY=1
unset DEBUG
CG=.venv/bin/civicgrid

step "ruff lint";            .venv/bin/ruff check src tests benchmarks
step "ruff format";          .venv/bin/ruff format --check src tests benchmarks
step "mypy";                 .venv/bin/mypy src/civicgrid
step "migrations complete";  DATABASE_URL=sqlite:///:memory: $CG makemigrations --check --dry-run

step "pytest on SQLite (tests marked postgres run in the next pass)"
DATABASE_URL="sqlite:///$PWD/var/test-sqlite.sqlite3" .venv/bin/pytest -p no:cacheprovider -m "not postgres" "$@"

step "pytest on PostgreSQL ($PG_URL)"
DATABASE_URL="$PG_URL" .venv/bin/pytest -p no:cacheprovider "$@"
