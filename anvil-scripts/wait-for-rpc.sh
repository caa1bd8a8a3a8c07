#!/usr/bin/env bash
# Waits up to 30 s for the JSON-RPC endpoint to answer.
set -euo pipefail
source "$(dirname "$0")/env.sh"
for _ in $(seq 1 150); do
  "$TOOLS_BIN/cast" chain-id --rpc-url "$RPC_URL" >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "no chain answered at $RPC_URL" >&2
exit 1
