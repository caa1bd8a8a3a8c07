#!/usr/bin/env bash
# Peak memory of a real `cairn serve` under the GraphQL attacks of issue 8:
# two concurrent requests of 60,000 aliases (20 each), a batch of 1,000
# operations, 10 MB bodies and multipart uploads, while /healthz is timed.
# Prints VmHWM (peak RSS) and VmRSS before and after, and the slowest
# /healthz. Figures go in docs/BENCHMARKS.md.
#
#   benches/graphql-attack-rss.sh [path to the cairn binary]   (default target/release/cairn)
set -euo pipefail
cd "$(dirname "$0")/.."
CAIRN_BIN=${1:-target/release/cairn}
export ANVIL_PORT=${ANVIL_PORT:-18545} BLOCK_TIME=1
work=$(mktemp -d)
export CAIRN_DATA_DIR=$work
LISTEN=127.0.0.1:${CAIRN_PORT:-18080}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

anvil-scripts/start-anvil.sh > "$work/anvil.log" 2>&1 &
pids+=($!)
anvil-scripts/wait-for-rpc.sh > /dev/null
anvil-scripts/deploy.sh > /dev/null
"$CAIRN_BIN" serve --rpc-url "http://127.0.0.1:$ANVIL_PORT" --listen "$LISTEN" > "$work/serve.log" 2>&1 &
serve=$!
pids+=("$serve")
until curl -fs "http://$LISTEN/healthz" > /dev/null; do sleep 0.2; done
sleep 2
mem() { awk -v k="$1" '$1 == k":" {print $2/1024 " MiB"}' "/proc/$serve/status"; }
echo "before: VmHWM $(mem VmHWM), VmRSS $(mem VmRSS)"

addr=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC
python3 - "$work" "$addr" <<'PY'
import json, sys
work, addr = sys.argv[1], sys.argv[2]
aliases = " ".join(f'a{i}: key(address: "{addr}") {{ version }}' for i in range(60000))
open(f"{work}/aliases.json", "w").write(json.dumps({"query": "{ " + aliases + " }"}))
op = {"query": f'{{ inbox(address: "{addr}", limit: 500) {{ messages {{ id from to cid }} }} }}'}
open(f"{work}/batch.json", "w").write(json.dumps([op] * 1000))
open(f"{work}/big.json", "w").write(json.dumps({"query": "x" * 10_000_000}))
PY
attack() {
  for _ in $(seq 1 20); do
    curl -s -o /dev/null -w '%{http_code}\n' -H 'content-type: application/json' --data-binary "@$work/aliases.json" "http://$LISTEN/graphql"
  done
}
(attack > "$work/a1.txt") & a1=$!
(attack > "$work/a2.txt") & a2=$!
(for _ in $(seq 1 5); do
   curl -s -o /dev/null -w '%{http_code}\n' -H 'content-type: application/json' --data-binary "@$work/batch.json" "http://$LISTEN/graphql"
   curl -s -o /dev/null -w '%{http_code}\n' -H 'content-type: application/json' --data-binary "@$work/big.json" "http://$LISTEN/graphql"
   curl -s -o /dev/null -w '%{http_code}\n' -F "operations=@$work/big.json" "http://$LISTEN/graphql"
 done > "$work/a3.txt") & a3=$!
slowest=0
while kill -0 $a1 2>/dev/null || kill -0 $a2 2>/dev/null || kill -0 $a3 2>/dev/null; do
  t=$(curl -s -o /dev/null -m 60 -w '%{time_total}' "http://$LISTEN/healthz" || echo 60)
  slowest=$(python3 -c "print(max($slowest, $t))")
  sleep 0.2
done
wait $a1 $a2 $a3 || true
echo "answers: $(sort "$work"/a?.txt | uniq -c | tr '\n' ' ')"
echo "slowest /healthz during the attacks: ${slowest}s"
sleep 5
echo "after:  VmHWM $(mem VmHWM), VmRSS $(mem VmRSS)"
