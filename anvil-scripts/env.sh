# Shared settings for the anvil scripts. Source it; every value can be
# overridden from the environment.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_BIN=$ROOT/tools/node_modules/.bin
ANVIL_PORT=${ANVIL_PORT:-8545}
CHAIN_ID=${CHAIN_ID:-31337}
# Seconds between blocks; empty means a block per transaction (automine).
BLOCK_TIME=${BLOCK_TIME:-1}
RPC_URL=${CAIRN_RPC_URL:-http://127.0.0.1:$ANVIL_PORT}
CAIRN_DATA_DIR=${CAIRN_DATA_DIR:-$ROOT/.dev}
# Anvil's well-known development accounts (mnemonic "test test ... junk").
# They hold test ETH on a local chain only; never use them anywhere else.
DEPLOYER_KEY=${DEPLOYER_KEY:-0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80}
ALICE_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
ALICE_ADDRESS=0x70997970C51812dc3A010C7d01b50e0d17dc79C8
BOB_KEY=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
BOB_ADDRESS=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC
# The gateway's relayer (Anvil account 5): pays for batch anchors, nothing else.
RELAYER_KEY=${CAIRN_RELAYER_KEY:-0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba}
# Pays for key registrations signed by wallets with no ETH (Anvil account 6).
REGISTRAR_KEY=${CAIRN_REGISTRAR_KEY:-0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e}
