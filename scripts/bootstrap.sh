#!/usr/bin/env bash
# Installs everything CivicGrid needs on a fresh Debian machine, idempotently:
# Python venv with the locked dependencies, the front-end libraries from npm, compiled translations.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh
log() { printf '\033[1;34m[civicgrid]\033[0m %s\n' "$*"; }
apt_install() { apt_get_install "$@"; }

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13)' 2>/dev/null; then
  log "Python 3.11 or 3.12 is needed; installing Debian's python3"
  apt_install python3 python3-venv python3-dev
  PYTHON=python3
fi
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PYTHON" -m venv .venv 2>/dev/null || { apt_install python3-venv; rm -rf .venv; "$PYTHON" -m venv .venv; }
fi
stamp=".venv/.installed-$(sha256sum requirements/dev.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "installing the locked Python dependencies (requirements/dev.lock)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements/dev.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  rm -f .venv/.installed-*; touch "$stamp"
fi

if ! command -v npm >/dev/null 2>&1; then
  log "installing Node.js and npm (Debian) for the front-end libraries"
  apt_install nodejs npm
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing front-end libraries from package-lock.json (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

if ! command -v msgfmt >/dev/null 2>&1; then
  log "installing gettext for the translations"
  apt_install gettext
fi
(cd src/civicgrid && CIVICGRID_ALLOW_DEV_KEY=1 ../../.venv/bin/civicgrid compilemessages -v0)
