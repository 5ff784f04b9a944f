# Helpers shared by the scripts (sourced, not run).
step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
die() { printf '\033[1;31mERROR:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_get_install() {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@"
}

ensure_chromium() {
  # Browser tests drive Debian's Chromium through Playwright (Playwright's own browser download is
  # not used: government intranets and CI have no route to it). A CJK font renders the Chinese UI.
  local need=()
  [ -x /usr/bin/chromium ] || need+=(chromium)
  fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-noto-cjk)
  if [ ${#need[@]} -gt 0 ]; then
    step "installing ${need[*]} (Debian)"
    apt_get_install "${need[@]}" || die "could not install ${need[*]}; browser tests cannot run"
  fi
  [ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing; browser tests cannot run"
}

ensure_postgres() {
  PG_URL="${PG_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
  export PG_URL
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    step "installing PostgreSQL (Debian)"
    apt_get_install postgresql postgresql-client || die "could not install PostgreSQL"
    FRESH_PG=1
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    step "starting PostgreSQL"
    local version
    version=$(ls /etc/postgresql | sort -V | tail -1)
    [ -n "$version" ] || die "no PostgreSQL cluster in /etc/postgresql"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not start on 127.0.0.1:5432"
  fi
  if ! psql "$PG_URL" -qtAc 'select 1' >/dev/null 2>&1; then
    if [ "${FRESH_PG:-0}" = 1 ] || [ "${CIVICGRID_CONFIGURE_PG:-0}" = 1 ]; then
      # A cluster this script just installed: allow local TCP logins for the test run and create the
      # database. (An existing server's authentication is never changed.)
      step "configuring the freshly installed PostgreSQL for local tests"
      local version hba
      version=$(ls /etc/postgresql | sort -V | tail -1)
      hba="/etc/postgresql/$version/main/pg_hba.conf"
      as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
      sleep 1
      psql "postgres://postgres@127.0.0.1:5432/postgres" -qtAc "select 1 from pg_database where datname='test'" | grep -q 1 \
        || psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "create database test"
    fi
    psql "$PG_URL" -qtAc 'select 1' >/dev/null 2>&1 || die "cannot connect to PostgreSQL at $PG_URL"
  fi
}

# The English catalogue must hold every string the source marks for translation, each translated and
# none fuzzy. makemessages rewrites the catalogue in place, so it works on a copy of the package's
# locale directory's file and puts the original back.
check_translations() {
  local po=src/civicgrid/locale/en/LC_MESSAGES/django.po saved untranslated fuzzy
  saved=$(mktemp)
  cp "$po" "$saved"
  (cd src/civicgrid && ../../.venv/bin/civicgrid makemessages -l en --no-obsolete -v0)
  untranslated=$(msgattrib --untranslated --no-obsolete "$po" | grep -c '^#:' || true)
  fuzzy=$(msgattrib --only-fuzzy --no-obsolete "$po" | grep -c '^#:' || true)
  if [ "$untranslated" -ne 0 ] || [ "$fuzzy" -ne 0 ]; then
    msgattrib --untranslated --no-obsolete "$po" | grep -A1 '^#:' | head -40
    msgattrib --only-fuzzy --no-obsolete "$po" | grep -A2 '^#:' | head -40
    cp "$saved" "$po"; rm -f "$saved"
    die "the English catalogue lacks $untranslated strings and has $fuzzy fuzzy ones: run makemessages -l en in src/civicgrid and translate them"
  fi
  cp "$saved" "$po"; rm -f "$saved"
}
