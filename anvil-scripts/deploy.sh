#!/usr/bin/env bash
# Deploys the Cairn contract from the committed artifact and writes
# $CAIRN_DATA_DIR/deployment.json, which the CLI reads by default.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bytecode=$(node -p 'require(process.argv[1]).bytecode.object' "$ROOT/contracts/artifacts/Cairn.json")
receipt=$("$TOOLS_BIN/cast" send --json --rpc-url "$RPC_URL" --private-key "$DEPLOYER_KEY" --create "$bytecode")
mkdir -p "$CAIRN_DATA_DIR"
chain_id=$("$TOOLS_BIN/cast" chain-id --rpc-url "$RPC_URL")
node -e '
  const r = JSON.parse(process.argv[1]);
  if (r.status !== "0x1" || !r.contractAddress) { console.error("deployment failed:", process.argv[1]); process.exit(1); }
  const d = { chainId: Number(process.argv[2]), contract: r.contractAddress, deployBlock: Number(r.blockNumber) };
  require("fs").writeFileSync(process.argv[3], JSON.stringify(d, null, 2) + "\n");
  console.log(`deployed Cairn at ${d.contract} in block ${d.deployBlock} (gas ${Number(r.gasUsed)})`);
' "$receipt" "$chain_id" "$CAIRN_DATA_DIR/deployment.json"
