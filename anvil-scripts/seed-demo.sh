#!/usr/bin/env bash
# Seeds a demo on a freshly deployed chain: Alice and Bob (Anvil accounts 1
# and 2) register wallet-derived keys, and Alice sends Bob a message.
set -euo pipefail
source "$(dirname "$0")/env.sh"
CAIRN=${CAIRN:-$ROOT/target/debug/cairn}
export CAIRN_DATA_DIR CAIRN_RPC_URL=$RPC_URL
CAIRN_PRIVATE_KEY=$ALICE_KEY "$CAIRN" register
CAIRN_PRIVATE_KEY=$BOB_KEY "$CAIRN" register
CAIRN_PRIVATE_KEY=$ALICE_KEY "$CAIRN" send --to "$BOB_ADDRESS" --message "gm Bob, welcome to Cairn"
