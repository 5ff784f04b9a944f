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
step "English catalogue complete (every string of the source translated, none fuzzy)"
check_translations

# The two passes run side by side (the machine's two cores; CI has a budget of 10 minutes for the suite),
# each with a data directory of its own; their output is shown one after the other.
step "pytest on SQLite (tests marked postgres run in the other pass) and on PostgreSQL ($PG_URL), in parallel"
mkdir -p var/test-sqlite var/test-postgres
CIVICGRID_DATA_DIR="$PWD/var/test-sqlite" DATABASE_URL="sqlite:///$PWD/var/test-sqlite/test.sqlite3" \
  .venv/bin/pytest -p no:cacheprovider -m "not postgres" "$@" >var/test-sqlite/pytest.log 2>&1 &
sqlite_pid=$!
CIVICGRID_DATA_DIR="$PWD/var/test-postgres" DATABASE_URL="$PG_URL" \
  .venv/bin/pytest -p no:cacheprovider "$@" >var/test-postgres/pytest.log 2>&1 &
postgres_pid=$!
sqlite_rc=0; wait "$sqlite_pid" || sqlite_rc=$?
postgres_rc=0; wait "$postgres_pid" || postgres_rc=$?
step "pytest on SQLite: exit $sqlite_rc";      cat var/test-sqlite/pytest.log
step "pytest on PostgreSQL: exit $postgres_rc"; cat var/test-postgres/pytest.log
[ "$sqlite_rc" -eq 0 ] && [ "$postgres_rc" -eq 0 ] || die "the test suite failed (SQLite exit $sqlite_rc, PostgreSQL exit $postgres_rc)"
