#!/usr/bin/env bash
# Installs Cairn's pinned external tools. Safe to run again: each step is
# skipped while the pins it depends on are unchanged.
#
#   tools/node_modules   anvil, forge, cast and solcjs from package-lock.json (npm ci)
#   tools/bin/ipfs       Kubo built from tools/kubo/go.mod through the Go module proxy
#   tools/bin/ipfs-cluster-{service,ctl}
#                        IPFS Cluster built from tools/ipfs-cluster/go.mod the same way
#   web/node_modules     the web client's dependencies from web/package-lock.json (npm ci)
#   PostgreSQL           server binaries from Debian's packages, for the tests
#   Chromium             Debian's package, for the web client's browser test
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

web_stamp=../web/node_modules/.cairn-stamp
web_pin=$(fingerprint ../web/package.json ../web/package-lock.json)
if [[ ! -f $web_stamp || $(cat "$web_stamp") != "$web_pin" ]]; then
  echo "==> npm ci (web client: viem, noble, vite, vitest, playwright-core, axe-core)"
  (cd ../web && npm ci --no-audit --no-fund --loglevel=error)
  echo "$web_pin" > "$web_stamp"
fi

kubo_stamp=bin/.ipfs-stamp
kubo_pin=$(fingerprint kubo/go.mod kubo/go.sum kubo/main.go)
if [[ ! -x bin/ipfs || ! -f $kubo_stamp || $(cat "$kubo_stamp") != "$kubo_pin" ]]; then
  echo "==> building Kubo from the Go module proxy (takes a few minutes the first time)"
  mkdir -p bin
  (cd kubo && go build -trimpath -o ../bin/ipfs .)
  echo "$kubo_pin" > "$kubo_stamp"
fi

cluster_stamp=bin/.ipfs-cluster-stamp
cluster_pin=$(fingerprint ipfs-cluster/go.mod ipfs-cluster/go.sum)
if [[ ! -x bin/ipfs-cluster-service || ! -f $cluster_stamp || $(cat "$cluster_stamp") != "$cluster_pin" ]]; then
  echo "==> building IPFS Cluster from the Go module proxy (a few minutes the first time)"
  mkdir -p bin
  (cd ipfs-cluster && go build -trimpath -o ../bin/ tool)
  echo "$cluster_pin" > "$cluster_stamp"
fi

# Installs Debian package $1 (for $2) as root, or says how to.
apt_install() {
  echo "==> installing $1 (Debian packages, for $2)"
  if [[ $(id -u) -ne 0 ]]; then
    echo "tools/install.sh: $1 is missing; install it (sudo apt-get install $1) and rerun" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$1" >/dev/null
}

# PostgreSQL: the tests start their own throwaway clusters with initdb and
# postgres, so only the server binaries are needed, not a running service.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  apt_install postgresql "the tests"
  # Debian starts a default cluster; Cairn never uses it.
  pg_ctlcluster --skip-systemctl-redirect "$(ls /usr/lib/postgresql | sort -V | tail -1)" main stop 2>/dev/null || true
fi

# Chromium: the web client's browser test drives Debian's build through
# playwright-core (Playwright's own browser download does not work here).
if [[ ! -x /usr/bin/chromium ]]; then
  apt_install chromium "the web client's browser test"
fi

# promtool: `make lint` checks and unit-tests the alert rules in
# deploy/prometheus/ with it. Debian ships it in the prometheus package.
if ! command -v promtool >/dev/null; then
  apt_install prometheus "promtool, which checks the alert rules"
fi

# openssl: the TLS test (tests/it/tls.rs) makes its test CA and certificates with it.
if ! command -v openssl >/dev/null; then
  apt_install openssl "the TLS test's certificates"
fi

# systemd-analyze: the docs test verifies deploy/systemd/'s units with it.
if ! command -v systemd-analyze >/dev/null; then
  apt_install systemd "systemd-analyze, which checks the systemd units"
fi

echo "tools ready: $(bin/ipfs version), $(bin/ipfs-cluster-service --version), $(node_modules/.bin/anvil --version | head -1)"
