#!/usr/bin/env bash
# `make dev`: the whole local stack on 127.0.0.1, in the foreground.
# Starts Anvil, deploys Cairn, runs `cairn serve --gateway` (indexer, read
# API, block store, batching gateway), seeds a direct and a batched demo
# message and prints what to type next. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
LISTEN=${CAIRN_LISTEN:-127.0.0.1:8080}
# Health and Prometheus metrics, apart from the public port.
METRICS_LISTEN=${CAIRN_METRICS_LISTEN:-127.0.0.1:9464}

if "$TOOLS_BIN/cast" chain-id --rpc-url "$RPC_URL" >/dev/null 2>&1; then
  echo "something already answers at $RPC_URL; stop it or set ANVIL_PORT" >&2
  exit 1
fi
# Cairn's own port: say so now, rather than fail later with a confusing error.
if (exec 3<>"/dev/tcp/${LISTEN%:*}/${LISTEN##*:}") 2>/dev/null; then
  echo "something already listens on $LISTEN; stop it or set CAIRN_LISTEN (e.g. CAIRN_LISTEN=127.0.0.1:8081 make dev)" >&2
  exit 1
fi

cargo build --quiet --bin cairn
mkdir -p "$CAIRN_DATA_DIR"
# Anvil starts a fresh chain each time, so yesterday's index and stream
# cursors describe blocks that no longer exist.
rm -rf "$CAIRN_DATA_DIR/indexer.db"* "$CAIRN_DATA_DIR/gateway.db"* "$CAIRN_DATA_DIR/cursors"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$(dirname "$0")/start-anvil.sh" > "$CAIRN_DATA_DIR/anvil.log" 2>&1 &
pids+=($!)
"$(dirname "$0")/wait-for-rpc.sh"
"$(dirname "$0")/deploy.sh"
# ENS at its canonical registry address, as on mainnet: the page shows
# alice.eth and bob.eth, and takes them in To (web/e2e/ens.mjs).
node web/e2e/ens.mjs "$RPC_URL" "alice=$ALICE_ADDRESS" "bob=$BOB_ADDRESS"

# The web client is rebuilt on every change in web/src; a reload shows it.
(cd web && exec npx vite build --watch --logLevel warn) > "$CAIRN_DATA_DIR/web.log" 2>&1 &
pids+=($!)

CAIRN_DATA_DIR=$CAIRN_DATA_DIR CAIRN_RELAYER_KEY=$RELAYER_KEY CAIRN_REGISTRAR_KEY=$REGISTRAR_KEY target/debug/cairn serve --gateway --web-dir web/dist --rpc-url "$RPC_URL" --ws-url "${RPC_URL/http/ws}" --listen "$LISTEN" --metrics-listen "$METRICS_LISTEN" > "$CAIRN_DATA_DIR/serve.log" 2>&1 &
serve_pid=$!
pids+=("$serve_pid")
# Wait for the node; if it dies, show why instead of failing later.
for _ in $(seq 1 100); do
  if ! kill -0 "$serve_pid" 2>/dev/null; then
    echo "cairn serve exited; the end of $CAIRN_DATA_DIR/serve.log:" >&2
    tail -n 20 "$CAIRN_DATA_DIR/serve.log" >&2
    exit 1
  fi
  (exec 3<>"/dev/tcp/${LISTEN%:*}/${LISTEN##*:}") 2>/dev/null && break
  sleep 0.2
done

echo "==> seeding demo messages from Alice to Bob (one direct, one batched)"
seed=$(CAIRN=target/debug/cairn GATEWAY_URL="http://$LISTEN" CAIRN_API_URL="http://$LISTEN" "$(dirname "$0")/seed-demo.sh")
echo "$seed"
cid=$(echo "$seed" | awk '/^cid/ {print $2}' | head -1)
post_id=$(echo "$seed" | awk '/^id/ {print $2}' | tail -1)

cat <<NEXT

Cairn is running:
  web client     http://$LISTEN/   (a wallet on chain $CHAIN_ID, RPC $RPC_URL; see the README)
  chain          $RPC_URL (chain id $CHAIN_ID, block time ${BLOCK_TIME:-automine}s)
  ENS            alice.eth = $ALICE_ADDRESS, bob.eth = $BOB_ADDRESS (registry 0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e)
  REST           http://$LISTEN/v1/inbox/$BOB_ADDRESS   (OpenAPI: http://$LISTEN/openapi.json)
  GraphQL        POST http://$LISTEN/graphql   (GraphiQL is off on the web client's origin)
  stream         ws://$LISTEN/v1/stream?address=$BOB_ADDRESS
  block gateway  http://$LISTEN/ipfs/<cid>   health http://$LISTEN/healthz
  status         http://$METRICS_LISTEN/healthz   http://$METRICS_LISTEN/metrics   (private: never on the public port)
  batching       POST http://$LISTEN/v1/posts   GET http://$LISTEN/v1/proofs/<id>   POST http://$LISTEN/v1/registrations
  data dir       $CAIRN_DATA_DIR (indexer.db, gateway.db; logs: anvil.log, serve.log)

In another terminal, read the demo message as Bob:
  export CAIRN_DATA_DIR=$CAIRN_DATA_DIR CAIRN_RPC_URL=$RPC_URL CAIRN_API_URL=http://$LISTEN
  CAIRN_PRIVATE_KEY=$BOB_KEY target/debug/cairn read --cid $cid
  CAIRN_PRIVATE_KEY=$BOB_KEY target/debug/cairn requests   # Bob has not allowed Alice yet
  CAIRN_PRIVATE_KEY=$BOB_KEY target/debug/cairn allow $ALICE_ADDRESS
  CAIRN_PRIVATE_KEY=$BOB_KEY target/debug/cairn inbox
  CAIRN_PRIVATE_KEY=$BOB_KEY target/debug/cairn watch      # live, resumes after drops

Send one of your own as Alice, directly or batched through the gateway:
  CAIRN_PRIVATE_KEY=$ALICE_KEY target/debug/cairn send --to $BOB_ADDRESS --message "hello"
  CAIRN_PRIVATE_KEY=$ALICE_KEY target/debug/cairn send --to $BOB_ADDRESS --message "hello" --via-gateway http://$LISTEN

Check the batched demo post's inclusion against the chain yourself:
  target/debug/cairn proof $post_id --gateway http://$LISTEN

(These are Anvil's public development keys: local use only.)
Press Ctrl-C to stop.
NEXT
wait
