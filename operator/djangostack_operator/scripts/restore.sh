#!/usr/bin/env bash
# Restore a backup made by backup.sh: restore.sh FILE|latest
#
# FILE is a name in $BACKUP_DIR (or a path); `latest` is the newest backup there. The dump is
# checked before anything is touched — gzip integrity, and pg_dump's header and its closing
# "dump complete" line, so an empty or truncated dump is refused — and then replayed in ONE
# transaction that stops at the first error: a failed restore leaves the database as it was.
#
# Connection: the libpq environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE) or
# DATABASE_URL, as for backup.sh.
set -euo pipefail

fail() { echo "restore.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || fail "usage: restore.sh FILE|latest"
target=$1
dir=${BACKUP_DIR:-.}

if [ "$target" = latest ]; then
  newest=$(find "$dir" -maxdepth 1 -name 'backup-*.sql.gz' -printf '%f\n' | sort | tail -n 1)
  [ -n "$newest" ] || fail "no backup in $dir"
  file="$dir/$newest"
elif [ -f "$target" ]; then
  file=$target
else
  file="$dir/$target"
fi
[ -f "$file" ] || fail "no such backup: $file"
[ -s "$file" ] || fail "$file is empty; refusing to restore"
gzip -t "$file" 2>/dev/null || fail "$file is not a complete gzip file (truncated or corrupt); refusing to restore"
# (head closes the pipe early; the `|| true` keeps pipefail from calling that a failure)
head=$(gzip -dc "$file" | head -n 5 || true)
grep -q "PostgreSQL database dump" <<<"$head" || fail "$file is not a pg_dump; refusing to restore"
tail=$(gzip -dc "$file" | tail -n 5)
grep -q "PostgreSQL database dump complete" <<<"$tail" \
  || fail "$file ends before pg_dump's last line (truncated dump); refusing to restore"

connection=()
[ -z "${DATABASE_URL:-}" ] || connection=(--dbname="$DATABASE_URL")

echo "restore.sh: restoring $file"
gzip -dc "$file" \
  | psql --quiet --no-psqlrc --single-transaction --set ON_ERROR_STOP=1 "${connection[@]}" >/dev/null \
  || fail "restore of $file failed; the transaction was rolled back and the database is unchanged"
echo "restore.sh: restored $file"
if [ -w /dev/termination-log ]; then printf 'restored=%s' "$(basename "$file")" > /dev/termination-log; fi
