#!/usr/bin/env bash
# Makes the pgvector extension available on this machine's PostgreSQL and creates it in database `test`.
# Debian bookworm has no pgvector package for PostgreSQL 15, so this builds Debian trixie's own SOURCE
# package against the local server. /etc/apt is left untouched: the trixie deb-src list, its indexes and
# apt's caches live in a temporary directory. Idempotent: exits at once when the extension already works.
# Env: PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres), PGVECTOR_DB (test).
set -euo pipefail

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
db="${PGVECTOR_DB:-test}"
create() { psql -d "$db" -v ON_ERROR_STOP=1 -tAqc "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null 2>&1; }
version() { psql -d "$db" -tAc "SELECT extversion FROM pg_extension WHERE extname = 'vector'"; }

if create; then
  echo "pgvector $(version) already available in database $db"
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "install-pgvector: must run as root (apt-get, make install)" >&2; exit 1; }
major=$(psql -d "$db" -tAc "SHOW server_version_num" 2>/dev/null | cut -c1-2) \
  || { echo "install-pgvector: PostgreSQL is not reachable at $PGHOST:$PGPORT (database $db)" >&2; exit 1; }
pg_config="/usr/lib/postgresql/$major/bin/pg_config"

work=$(mktemp -d /tmp/pgvector-build.XXXXXX)
log="$work/build.log"
trap 'rm -rf "$work"' EXIT
step() {
  local what=$1
  shift
  if ! "$@" >>"$log" 2>&1; then
    echo "install-pgvector: $what failed; last lines of the log:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
}
started=$(date +%s)
echo "pgvector: building from Debian trixie source for PostgreSQL $major"

export DEBIAN_FRONTEND=noninteractive
# Only what is missing: naming an installed package would upgrade it as a side effect.
missing=()
for pkg in "postgresql-server-dev-$major" build-essential dpkg-dev xz-utils; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get update" apt-get -qq update
  step "apt-get install ${missing[*]}" apt-get -qq install -y --no-install-recommends "${missing[@]}"
fi

# A private apt configuration that only knows trixie's source index.
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  >"$work/sources.list"
apt_private=(
  -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root"
)
step "apt-get update (private trixie deb-src list)" apt-get -qq "${apt_private[@]}" update
cd "$work/src"
step "apt-get source pgvector" apt-get -qq "${apt_private[@]}" source pgvector
srcdir=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)
[ -n "$srcdir" ] || { echo "install-pgvector: apt-get source pgvector unpacked nothing" >&2; exit 1; }

# OPTFLAGS="" leaves out -march=native, so the library does not depend on this exact CPU.
step "make" make -C "$srcdir" -j"$(nproc)" PG_CONFIG="$pg_config" OPTFLAGS=""
step "make install" make -C "$srcdir" PG_CONFIG="$pg_config" OPTFLAGS="" install

if ! create; then
  echo "install-pgvector: built and installed, but CREATE EXTENSION vector still fails in database $db:" >&2
  psql -d "$db" -tAc "CREATE EXTENSION IF NOT EXISTS vector" >&2 || true
  exit 1
fi
echo "pgvector $(version) installed from $(basename "$srcdir") in $(($(date +%s) - started)) s"
