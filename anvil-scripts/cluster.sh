#!/usr/bin/env bash
# `make cluster`: the scaled-out layout of docs/DEPLOY.md on 127.0.0.1, in
# the foreground. PostgreSQL (index and outbox), Anvil with Cairn deployed,
# two Kubo nodes joined by two IPFS Cluster peers (every block on both),
# three `cairn serve` nodes (one ingests, all serve), two gateways (one
# batches, both accept), and two small round-robins in front: the read API
# on :8080 and the gateways on :8090. Seeds a demo message and prints what
# to type next. Ctrl-C stops everything; the state is thrown away.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
DIR=$CAIRN_DATA_DIR/cluster
BIN=$ROOT/tools/bin
PG_PORT=${CAIRN_CLUSTER_PG_PORT:-5440}
FRONT=127.0.0.1:8080
GATEWAY_FRONT=127.0.0.1:8090
SERVE_PORTS=(8081 8082 8083)
GATEWAY_PORTS=(8091 8092)

for port in 8080 8090 "${SERVE_PORTS[@]}" "${GATEWAY_PORTS[@]}" "$ANVIL_PORT" "$PG_PORT" 5101 5102 9104 9114; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "something already listens on 127.0.0.1:$port; stop it first (make dev?)" >&2
    exit 1
  fi
done

cargo build --quiet --bin cairn
rm -rf "$DIR"
mkdir -p "$DIR"
chmod 777 "$DIR"
pids=()
PG_DIR=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n ${PG_BIN:-} ]]; then as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true; fi
  rm -rf "$PG_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Starts "$@" in the background with its output in $DIR/<name>.log.
run() { local name=$1; shift; "$@" > "$DIR/$name.log" 2>&1 & pids+=($!); }
# Starts "$@" as `run` does, and again whenever it dies, as a supervisor
# does (systemd's Restart=on-failure in deploy/systemd/): each exit and
# restart is written to its log. Stopping the supervisor stops the process.
supervise() {
  local name=$1; shift
  : >"$DIR/$name.log"
  (
    child=
    trap '[[ -n $child ]] && kill "$child" 2>/dev/null; exit 0' TERM INT
    while true; do
      "$@" >>"$DIR/$name.log" 2>&1 &
      child=$!
      wait "$child" && code=0 || code=$?
      echo "supervisor: $name exited with status $code; starting it again in 1 s" >>"$DIR/$name.log"
      sleep 1
    done
  ) &
  pids+=($!)
}
wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "nothing answered on 127.0.0.1:$1; see the logs in $DIR" >&2
  exit 1
}

echo "==> PostgreSQL on 127.0.0.1:$PG_PORT"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
# PostgreSQL refuses to run as root.
as_postgres() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# Its own directory under /tmp: the postgres user may not enter $DIR.
PG_DIR=$(mktemp -d /tmp/cairn-cluster-pg.XXXXXX)
chmod 755 "$PG_DIR"
PGDATA=$PG_DIR/data
mkdir -m 700 "$PGDATA"
if [[ $(id -u) -eq 0 ]]; then chown postgres "$PGDATA"; fi
as_postgres "$PG_BIN/initdb" -U postgres --auth=trust --no-sync -E UTF8 -D "$PGDATA" >/dev/null
as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
  -o "-p $PG_PORT -k $PGDATA -c listen_addresses=127.0.0.1" start >/dev/null
as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres cairn
DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/cairn

echo "==> Anvil on $RPC_URL, Cairn deployed"
run anvil "$(dirname "$0")/start-anvil.sh"
"$(dirname "$0")/wait-for-rpc.sh"
CAIRN_DATA_DIR=$DIR "$(dirname "$0")/deploy.sh"

echo "==> two Kubo nodes and two IPFS Cluster peers"
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# The cluster REST API's password (user cairn), kept in the logs directory, readable by you alone.
export CLUSTER_REST_PASSWORD=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
(umask 077 && echo "$CLUSTER_REST_PASSWORD" >"$DIR/cluster-rest-password")
for i in 0 1; do
  export IPFS_PATH=$DIR/kubo-$i
  "$BIN/ipfs" init --profile test,pebbleds >/dev/null
  "$BIN/ipfs" config Addresses.API "/ip4/127.0.0.1/tcp/510$((i + 1))"
  "$BIN/ipfs" config Addresses.Gateway "/ip4/127.0.0.1/tcp/511$((i + 1))"
  "$BIN/ipfs" config --json Addresses.Swarm "[\"/ip4/127.0.0.1/tcp/410$((i + 1))\"]"
  run "kubo-$i" "$BIN/ipfs" daemon
  CLUSTER_SECRET=$secret IPFS_CLUSTER_PATH=$DIR/cluster-$i "$BIN/ipfs-cluster-service" init --consensus crdt >/dev/null 2>&1
done
unset IPFS_PATH
ids=($(for i in 0 1; do node -p "require('$DIR/cluster-$i/identity.json').id"; done))
for i in 0 1; do
  other=$((1 - i))
  node -e '
    const fs = require("fs");
    const [file, i, peer] = process.argv.slice(1);
    const c = JSON.parse(fs.readFileSync(file));
    const at = (port) => `/ip4/127.0.0.1/tcp/${port}`;
    const base = 9100 + 10 * Number(i);
    const kubo = at(5101 + Number(i));
    Object.assign(c.cluster, {
      listen_multiaddress: [at(base + 6)], peer_addresses: [peer], mdns_interval: "0s",
      // Every block on both nodes; at least one, so writes go on while a node is down.
      replication_factor_min: 1, replication_factor_max: 2,
      monitor_ping_interval: "2s", pin_recover_interval: "1m",
    });
    c.api.restapi.http_listen_multiaddress = at(base + 4);
    // The REST API is an admin API: basic auth (docs/DEPLOY.md).
    c.api.restapi.basic_auth_credentials = { cairn: process.env.CLUSTER_REST_PASSWORD };
    c.api.ipfsproxy.listen_multiaddress = at(base + 5);
    c.api.ipfsproxy.node_multiaddress = kubo;
    c.api.pinsvcapi.http_listen_multiaddress = at(base + 7);
    c.ipfs_connector.ipfshttp.node_multiaddress = kubo;
    c.ipfs_connector.ipfshttp.connect_swarms_delay = "1s";
    c.monitor.pubsubmon.check_interval = "2s";
    fs.writeFileSync(file, JSON.stringify(c, null, 2));
  ' "$DIR/cluster-$i/service.json" "$i" "/ip4/127.0.0.1/tcp/91$other""6/p2p/${ids[$other]}"
done
wait_port 5101 && wait_port 5102
for i in 0 1; do run "cluster-$i" env IPFS_CLUSTER_PATH="$DIR/cluster-$i" "$BIN/ipfs-cluster-service" daemon; done
# The allocator places pins only on peers it has metrics of.
for _ in $(seq 1 150); do
  n=$( (curl -s -u "cairn:$CLUSTER_REST_PASSWORD" http://127.0.0.1:9104/monitor/metrics/freespace || true) | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).length)}catch{console.log(0)}})')
  [[ $n == 2 ]] && break
  sleep 0.2
done
[[ $n == 2 ]] || { echo "the IPFS Cluster peers did not join; see $DIR/cluster-*.log" >&2; exit 1; }
KUBO_URLS=http://127.0.0.1:9105,http://127.0.0.1:9115

export CAIRN_DATA_DIR=$DIR CAIRN_RPC_URL=$RPC_URL CAIRN_STORE=kubo CAIRN_KUBO_URL=$KUBO_URLS
echo "==> three cairn serve nodes and two gateways"
for i in 0 1 2; do
  # Users reach the nodes through the round-robin, and the web client on
  # each node's own port: both are public origins (sign-in domains).
  supervise "serve-$i" target/debug/cairn serve --listen "127.0.0.1:${SERVE_PORTS[$i]}" --metrics-listen "127.0.0.1:$((SERVE_PORTS[i] + 1400))" \
    --database-url "$DATABASE_URL" --web-dir web/dist \
    --public-origin "http://$FRONT,http://127.0.0.1:${SERVE_PORTS[$i]}"
done
for i in 0 1; do
  supervise "gateway-$i" env CAIRN_RELAYER_KEY="$RELAYER_KEY" CAIRN_GATEWAY_DATABASE_URL="$DATABASE_URL" \
    target/debug/cairn gateway --listen "127.0.0.1:${GATEWAY_PORTS[$i]}" --metrics-listen "127.0.0.1:$((GATEWAY_PORTS[i] + 1400))" \
    --public-origin "http://$GATEWAY_FRONT"
done
for port in "${SERVE_PORTS[@]}" "${GATEWAY_PORTS[@]}"; do wait_port "$port"; done
run front node "$(dirname "$0")/round-robin.js" "$FRONT" "${SERVE_PORTS[@]/#/127.0.0.1:}"
run gateway-front node "$(dirname "$0")/round-robin.js" "$GATEWAY_FRONT" "${GATEWAY_PORTS[@]/#/127.0.0.1:}"
wait_port 8080 && wait_port 8090

echo "==> seeding demo messages from Alice to Bob (one direct, one batched)"
CAIRN=target/debug/cairn GATEWAY_URL="http://$GATEWAY_FRONT" CAIRN_API_URL="http://$FRONT" "$(dirname "$0")/seed-demo.sh"

cat <<NEXT

The Cairn cluster is running (logs in $DIR):
  read API       http://$FRONT  (round-robin over ${SERVE_PORTS[*]}; REST, GraphQL, streams)
  web client     http://127.0.0.1:${SERVE_PORTS[0]}/  (also through the round-robin: sessions are shared)
  gateways       http://$GATEWAY_FRONT  (round-robin over ${GATEWAY_PORTS[*]})
  roles          curl -s http://127.0.0.1:8081/healthz   ("role": ingesting|standby)
                 curl -s http://127.0.0.1:8091/healthz   ("batcher": batching|standby)
  blocks         Kubo APIs 127.0.0.1:5101, :5102; IPFS Cluster REST :9104, :9114
                 tools/bin/ipfs-cluster-ctl --host /ip4/127.0.0.1/tcp/9104 --basic-auth cairn:$CLUSTER_REST_PASSWORD peers ls
  PostgreSQL     $DATABASE_URL
  chain          $RPC_URL (chain id $CHAIN_ID)

Try a failover: kill the node that says "ingesting" (the web client above
is served by the node on ${SERVE_PORTS[0]}: kill another one to keep the page,
or that one to watch the page reconnect through the round-robin), or the
gateway that says "batching"; another takes over within a second or two,
and the supervisor starts the killed one again (its log in $DIR says so).
Readiness of each: curl -s http://127.0.0.1:9481/readyz (status listeners
:9481-:9483 for the nodes, :9491-:9492 for the gateways).

Read the demo as Bob, through the front. Bob has not allowed Alice yet, so
her messages wait in his requests:
  export CAIRN_DATA_DIR=$DIR CAIRN_RPC_URL=$RPC_URL CAIRN_API_URL=http://$FRONT
  export CAIRN_STORE=kubo CAIRN_KUBO_URL=$KUBO_URLS
  CAIRN_PRIVATE_KEY=$BOB_KEY target/debug/cairn requests
  CAIRN_PRIVATE_KEY=$BOB_KEY target/debug/cairn allow $ALICE_ADDRESS
  CAIRN_PRIVATE_KEY=$BOB_KEY target/debug/cairn inbox
Press Ctrl-C to stop.
NEXT
wait
