#!/usr/bin/env bash
# Runs a local Anvil chain in the foreground.
#   ANVIL_PORT (8545)  CHAIN_ID (31337)  BLOCK_TIME (1; empty = automine)
set -euo pipefail
source "$(dirname "$0")/env.sh"
args=(--host 127.0.0.1 --port "$ANVIL_PORT" --chain-id "$CHAIN_ID" --silent)
[[ -n $BLOCK_TIME ]] && args+=(--block-time "$BLOCK_TIME")
exec "$TOOLS_BIN/anvil" "${args[@]}"
