#!/bin/bash
# The part of the public postgres image's contract that the operator relies on:
# POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and PGDATA; an empty PGDATA is initialised
# (local connections trusted, every TCP connection by scram-sha-256), then the server runs
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
  echo "initialised $PGDATA for user $POSTGRES_USER, database $POSTGRES_DB"
fi
exec "$@" -c listen_addresses='*'
