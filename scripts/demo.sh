#!/usr/bin/env bash
# One command from a fresh clone to a running platform with demo data on the embedded SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

export DEBUG="${DEBUG:-true}"
export CIVICGRID_ALLOW_DEV_KEY=1
export DATABASE_URL="${DATABASE_URL:-sqlite:///$PWD/var/demo.sqlite3}"
CG=.venv/bin/civicgrid

$CG migrate -v0
$CG load_demo
$CG verify_audit
# The periodic job (deadlines, supervision, escalation) every 5 minutes, as cron would run it.
$CG events_sweep --every 300 > var/events_sweep.log 2>&1 &
SWEEP_PID=$!
trap 'kill $SWEEP_PID 2>/dev/null' EXIT
echo
ADDR="${CIVICGRID_DEMO_ADDR:-127.0.0.1:8000}"
echo "CivicGrid is serving on http://$ADDR  (API docs: http://$ADDR/api/docs/ ; Ctrl-C stops)"
$CG runserver "$ADDR" --noreload
