#!/usr/bin/env bash
# Installs Cairn's pinned external tools. Safe to run again: each step is
# skipped while the pins it depends on are unchanged.
#
#   tools/node_modules   anvil, forge, cast and solcjs from package-lock.json (npm ci)
#   tools/bin/ipfs       Kubo built from tools/kubo/go.mod through the Go module proxy
#   PostgreSQL           server binaries from Debian's packages, for the tests
set -euo pipefail
cd "$(dirname "$0")"

need() { command -v "$1" >/dev/null || { echo "tools/install.sh: '$1' is required but not installed ($2)" >&2; exit 1; }; }
fingerprint() { cat "$@" | sha256sum | cut -d' ' -f1; }

need node "Node.js 20+"
need npm "npm"
need go "Go 1.26+"

npm_stamp=node_modules/.cairn-stamp
npm_pin=$(fingerprint package.json package-lock.json)
if [[ ! -f $npm_stamp || $(cat "$npm_stamp") != "$npm_pin" ]]; then
  echo "==> npm ci (foundry, solc)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_pin" > "$npm_stamp"
fi

kubo_stamp=bin/.ipfs-stamp
kubo_pin=$(fingerprint kubo/go.mod kubo/go.sum kubo/main.go)
if [[ ! -x bin/ipfs || ! -f $kubo_stamp || $(cat "$kubo_stamp") != "$kubo_pin" ]]; then
  echo "==> building Kubo from the Go module proxy (takes a few minutes the first time)"
  mkdir -p bin
  (cd kubo && go build -trimpath -o ../bin/ipfs .)
  echo "$kubo_pin" > "$kubo_stamp"
fi

# PostgreSQL: the tests start their own throwaway clusters with initdb and
# postgres, so only the server binaries are needed, not a running service.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "==> installing PostgreSQL (Debian packages)"
  if [[ $(id -u) -ne 0 ]]; then
    echo "tools/install.sh: PostgreSQL is missing; install it (sudo apt-get install postgresql) and rerun" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  # Debian starts a default cluster; Cairn never uses it.
  pg_ctlcluster --skip-systemctl-redirect "$(ls /usr/lib/postgresql | sort -V | tail -1)" main stop 2>/dev/null || true
fi

echo "tools ready: $(bin/ipfs version), $(node_modules/.bin/anvil --version | head -1)"
