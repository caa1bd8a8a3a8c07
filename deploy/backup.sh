#!/usr/bin/env bash
# Backs up what a Cairn deployment cannot rebuild from the chain alone
# (docs/DEPLOY.md, "Backups and restore"):
#
# - PostgreSQL: the index, sign-in sessions, signed consent lists and the
#   gateway's outbox (posts accepted but not anchored yet), as one
#   `pg_dump --format=custom` file;
# - the blocks: every block pinned on one Kubo node (or IPFS Cluster proxy),
#   as one CAR file. A dag-cbor list linking every recursive pin is stored
#   first, unpinned, and exported with all it links to.
#
# usage: DATABASE_URL=postgres://… KUBO_URL=http://127.0.0.1:5001 deploy/backup.sh <dir>
#
# Keep DATABASE_URL out of the command line where others can read it: put it
# in the environment from a file (`DATABASE_URL=$(cat /etc/cairn/database-url)`).
# The backup holds sessions and consent lists: it is written readable by you alone.
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL to the database to back up}"
KUBO_URL=${KUBO_URL:-http://127.0.0.1:5001}
out=${1:?usage: deploy/backup.sh <dir>}
umask 077
mkdir -p "$out"

started=$(date +%s)
pg_dump --format=custom --no-owner --file="$out/cairn.pgdump" "$DATABASE_URL"
echo "backup: PostgreSQL dumped to $out/cairn.pgdump" >&2

# Every recursive pin (each block Cairn stores is pinned, alone or in a list).
curl -sSf -X POST "$KUBO_URL/api/v0/pin/ls?type=recursive&stream=true" |
  sed -n 's/.*"Cid":"\([^"]*\)".*/\1/p' >"$out/pins.txt"
pins=$(wc -l <"$out/pins.txt")
# One list linking them all, as dag-json, stored as dag-cbor (unpinned: the
# pins it links keep the blocks).
{
  printf '['
  sed 's/.*/{"\/":"&"}/' "$out/pins.txt" | paste -sd, -
  printf ']'
} >"$out/pins.json"
root=$(curl -sSf -X POST -F "file=@$out/pins.json" \
  "$KUBO_URL/api/v0/dag/put?store-codec=dag-cbor&input-codec=dag-json&pin=false" |
  sed -n 's/.*"\/":"\([^"]*\)".*/\1/p')
[[ -n $root ]] || { echo "backup: Kubo did not store the list of pins" >&2; exit 1; }
curl -sSf -X POST "$KUBO_URL/api/v0/dag/export?arg=$root" -o "$out/blocks.car"
echo "$root" >"$out/blocks.root"
rm "$out/pins.json"
echo "backup: $pins pins and every block they link exported to $out/blocks.car ($(du -h "$out/blocks.car" | cut -f1)) in $(($(date +%s) - started)) s" >&2
