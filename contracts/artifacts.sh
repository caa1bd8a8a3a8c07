#!/usr/bin/env bash
# Builds the contracts and writes (or checks) the committed artifacts.
#
#   contracts/artifacts.sh write   refresh contracts/artifacts/*.json
#   contracts/artifacts.sh check   fail if the committed artifacts are stale
#
# An artifact holds only what the Rust bindings and deploy scripts need: the
# ABI and the creation and runtime bytecode. Besides Cairn, the test fixtures
# (test/Fixtures.sol: gate tokens, an ERC-1271 wallet; test/ens: ENS's registry; test/Governance.sol: a Governor and its votes token) are kept too, for the
# Rust tests that deploy them on Anvil. Metadata hashes are switched off
# in foundry.toml, so the bytecode depends on the code alone and the check is
# reproducible across machines and checkout paths.
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-check}
forge=../tools/node_modules/@foundry-rs/forge-linux-amd64/bin/forge
# source file:contract
contracts=(Cairn.sol:Cairn Fixtures.sol:TestToken Fixtures.sol:TestBadge Fixtures.sol:TestWallet ENSRegistry.sol:ENSRegistry Governance.sol:TestVotes Governance.sol:TestGovernor)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$forge" build --quiet --out "$out/forge" >/dev/null
mkdir -p "$out/artifacts"
for entry in "${contracts[@]}"; do
  file=${entry%%:*} c=${entry##*:}
  node -e '
    const a = require(process.argv[1]);
    const slim = { abi: a.abi, bytecode: { object: a.bytecode.object }, deployedBytecode: { object: a.deployedBytecode.object } };
    process.stdout.write(JSON.stringify(slim, null, 2) + "\n");
  ' "$out/forge/$file/$c.json" > "$out/artifacts/$c.json"
done

case "$mode" in
  write)
    cp "$out"/artifacts/*.json artifacts/
    echo "wrote contracts/artifacts/: ${contracts[*]##*:}"
    ;;
  check)
    for entry in "${contracts[@]}"; do
      c=${entry##*:}
      if ! diff -q "$out/artifacts/$c.json" "artifacts/$c.json" >/dev/null; then
        echo "contracts/artifacts/$c.json is stale against contracts/src." >&2
        echo "Run 'contracts/artifacts.sh write' and commit the result." >&2
        exit 1
      fi
    done
    echo "contract artifacts are up to date"
    ;;
  *) echo "usage: $0 write|check" >&2; exit 2 ;;
esac
