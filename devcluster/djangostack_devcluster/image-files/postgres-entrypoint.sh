#!/bin/bash
# The part of the public postgres image's contract that the operator relies on:
# POSTGRES_USER (the superuser), POSTGRES_PASSWORD, POSTGRES_DB and PGDATA; an empty PGDATA
# is initialised (local connections trusted, every TCP connection by scram-sha-256) and the
# files of /docker-entrypoint-initdb.d are run against a server on the local socket only
# (*.sh executed, or sourced when not executable; *.sql through psql), then the server runs
# listening on every address. Runs as the postgres user (UID 999), as the operator's pods do.
set -euo pipefail
if [ "${1:-}" != postgres ]; then
  exec "$@"
fi
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: the database is uninitialised and POSTGRES_PASSWORD is empty" >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  pwfile=$(mktemp -p /var/run/postgresql)
  printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"${POSTGRES_DB//\"/\"\"}\"" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  shopt -s nullglob
  init_files=(/docker-entrypoint-initdb.d/*)
  if [ ${#init_files[@]} -gt 0 ]; then
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    for file in "${init_files[@]}"; do
      case "$file" in
        *.sh)
          # shellcheck source=/dev/null
          if [ -x "$file" ]; then "$file"; else . "$file"; fi ;;
        *.sql) psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
                 --dbname "$POSTGRES_DB" -f "$file" ;;
        *) echo "ignoring $file" ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "initialised $PGDATA for user $POSTGRES_USER, database $POSTGRES_DB"
fi
exec "$@" -c listen_addresses='*'
