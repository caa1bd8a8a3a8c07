#!/usr/bin/env bash
# Restores a backup made by deploy/backup.sh into an empty database and a
# Kubo node (docs/DEPLOY.md, "Backups and restore"), before any Cairn
# process runs against them:
#
# - `pg_restore` of the dump, with the schema Cairn's migrations made, so the
#   nodes start where the backup left off (they follow the chain from the
#   checkpoint in the dump, and the gateway anchors the outbox's posts);
# - `dag/import` of the CAR, which pins the list of every pin: every block
#   is kept.
#
# usage: DATABASE_URL=postgres://… KUBO_URL=http://127.0.0.1:5001 deploy/restore.sh <dir>
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL to the empty database to restore into}"
KUBO_URL=${KUBO_URL:-http://127.0.0.1:5001}
from=${1:?usage: deploy/restore.sh <dir>}
for f in cairn.pgdump blocks.car blocks.root; do
  [[ -s $from/$f ]] || { echo "restore: $from/$f is missing or empty" >&2; exit 1; }
done

started=$(date +%s)
pg_restore --no-owner --exit-on-error --dbname="$DATABASE_URL" "$from/cairn.pgdump"
echo "restore: PostgreSQL restored" >&2

root=$(cat "$from/blocks.root")
answer=$(curl -sSf -X POST -F "file=@$from/blocks.car" "$KUBO_URL/api/v0/dag/import?pin-roots=true")
grep -q "\"$root\"" <<<"$answer" || { echo "restore: Kubo did not pin $root: $answer" >&2; exit 1; }
grep -q '"PinErrorMsg":""' <<<"$answer" || { echo "restore: pinning failed: $answer" >&2; exit 1; }
echo "restore: blocks imported and pinned under $root in $(($(date +%s) - started)) s" >&2
