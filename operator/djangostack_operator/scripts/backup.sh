#!/usr/bin/env bash
# Take one PostgreSQL backup: pg_dump | gzip into $BACKUP_DIR, then keep the newest
# $BACKUP_RETAIN dumps. The dump is written under a temporary name and renamed when complete,
# so a half-written dump never counts as a backup.
#
# Connection: the standard libpq environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE),
# or DATABASE_URL (a postgres:// URL) when set. Runs unchanged in the backup Job's pod and on
# a developer machine.
set -euo pipefail

fail() { echo "backup.sh: $*" >&2; exit 1; }

[ -n "${BACKUP_DIR:-}" ] || fail "BACKUP_DIR is not set"
retain=${BACKUP_RETAIN:-7}
case "$retain" in ''|*[!0-9]*|0) fail "BACKUP_RETAIN must be a positive integer, got '$retain'" ;; esac
[ -d "$BACKUP_DIR" ] || mkdir -p "$BACKUP_DIR" || fail "cannot create $BACKUP_DIR"
[ -w "$BACKUP_DIR" ] || fail "$BACKUP_DIR is not writable"

connection=()
[ -z "${DATABASE_URL:-}" ] || connection=(--dbname="$DATABASE_URL")

# Sortable by time; nanoseconds keep two backups in the same second apart.
name="backup-$(date -u +%Y%m%dT%H%M%S.%NZ).sql.gz"
partial="$BACKUP_DIR/.$name.partial"
trap 'rm -f "$partial"' EXIT

# --clean --if-exists makes the dump restore over an existing schema; no owners or grants so
# it restores into any role. pipefail turns a pg_dump failure into a failure of the script.
pg_dump --clean --if-exists --no-owner --no-privileges "${connection[@]}" \
  | gzip -6 > "$partial" || fail "pg_dump failed; no backup was written"
gzip -t "$partial" || fail "the compressed dump does not verify"
mv "$partial" "$BACKUP_DIR/$name"
trap - EXIT

size=$(stat -c %s "$BACKUP_DIR/$name")
# Retention: names sort by time; drop all but the newest $retain.
find "$BACKUP_DIR" -maxdepth 1 -name 'backup-*.sql.gz' -printf '%f\n' | sort | head -n "-$retain" \
  | while read -r old; do rm -f "$BACKUP_DIR/$old"; done

summary="name=$name sizeBytes=$size"
echo "backup.sh: wrote $summary"
# The operator reads this from the pod's termination message for status.lastBackup.
if [ -w /dev/termination-log ]; then printf '%s' "$summary" > /dev/termination-log; fi
