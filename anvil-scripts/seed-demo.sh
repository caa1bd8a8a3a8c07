#!/usr/bin/env bash
# Seeds a demo on a freshly deployed chain: Alice and Bob (Anvil accounts 1
# and 2) register wallet-derived keys, Alice sends Bob a message directly,
# and, when GATEWAY_URL is set, one more through the batching gateway.
set -euo pipefail
source "$(dirname "$0")/env.sh"
CAIRN=${CAIRN:-$ROOT/target/debug/cairn}
export CAIRN_DATA_DIR CAIRN_RPC_URL=$RPC_URL
CAIRN_PRIVATE_KEY=$ALICE_KEY "$CAIRN" register
CAIRN_PRIVATE_KEY=$BOB_KEY "$CAIRN" register
CAIRN_PRIVATE_KEY=$ALICE_KEY "$CAIRN" send --to "$BOB_ADDRESS" --message "gm Bob, welcome to Cairn"
if [[ -n ${GATEWAY_URL:-} ]]; then
  CAIRN_PRIVATE_KEY=$ALICE_KEY "$CAIRN" send --to "$BOB_ADDRESS" --message "gm again, batched" --via-gateway "$GATEWAY_URL"
fi
