# Cairn's two entry points: `make dev` and `make test`. Both install what they
# need first (tools/install.sh skips work whose pins have not changed).
SHELL := /bin/bash
FORGE := tools/node_modules/.bin/forge

.PHONY: dev cluster test tools web screenshots lint restore-test test-contracts test-web test-rust faults artifacts bench bench-read-path bench-batching bench-web bench-channels bench-compare

## Run the local stack: Anvil, the contract, the block store and a demo message.
dev: tools web
	anvil-scripts/dev.sh

## Run the scaled-out layout locally: PostgreSQL, 3 serve nodes, 2 gateways, 2 Kubo nodes with IPFS Cluster, Anvil (docs/DEPLOY.md).
cluster: tools web
	anvil-scripts/cluster.sh

## Run every test: contract artifacts check, forge tests, Rust unit, integration and end-to-end tests, the web client's, and the fault suite.
test: tools web lint test-contracts test-web test-rust faults

tools:
	tools/install.sh

## Build the web client into web/dist (cairn serve --web-dir web/dist serves it).
web: tools
	cd web && npx vite build --logLevel warn

lint: tools
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
	promtool check rules deploy/prometheus/cairn-alerts.yml
	cd deploy/prometheus && promtool test rules cairn-alerts.test.yml

test-contracts:
	contracts/artifacts.sh check
	cd contracts && ../$(FORGE) test

## The web client's type check and unit tests (the shared vectors); its browser test is tests/it/web_client.rs.
test-web:
	cd web && npx tsc --noEmit && npx vitest run

## Without backtraces: CI shows the head and tail of long output, and a backtrace pushes a failing
## test's panic message out of both.
test-rust:
	RUST_BACKTRACE=0 cargo test --workspace --locked

## Refresh docs/screenshots/ from the browser test.
screenshots: web
	CAIRN_SCREENSHOTS=$(CURDIR)/docs/screenshots cargo test --locked --test it web_client -- --exact web_client::wallet_users_read_and_write_in_a_real_browser

## The fault suite: SIGKILLs, restarts, reorgs and a failing RPC under live traffic; prints the table
## recorded in docs/RELIABILITY.md (logs in target/faults/). Then the cluster suite: three nodes and two
## gateways on one PostgreSQL, blocks on two Kubo nodes with IPFS Cluster, while the lease holders are
## SIGKILLed ten times each and a Kubo node once (logs in target/cluster/). Between them, the send suite: the CLI sends
## through two gateways while PostgreSQL stops and both gateways die, and must never report a false failure
## (logs in target/send-faults/). CAIRN_FAULTS_SEED=<n> replays a schedule.
faults: tools
	cargo test --locked --test it faults::faults -- --ignored --exact --nocapture
	cargo test --locked --test it send_faults::sends_never_fail_falsely -- --ignored --exact --nocapture
	cargo test --locked --test it cluster::cluster_survives_its_lease_holders_and_a_kubo_node_dying -- --ignored --exact --nocapture

## Back up a node (PostgreSQL and its Kubo blocks) with deploy/backup.sh, throw both away, restore into fresh
## ones with deploy/restore.sh, and read every message back (also part of `make test`; docs/DEPLOY.md).
restore-test: tools
	cargo test --locked --test it backup::a_restored_node_serves_every_message -- --exact --nocapture

## Refresh the committed contract artifacts after changing contracts/src.
artifacts: tools
	contracts/artifacts.sh write

## Measure the read path and batching (figures in docs/BENCHMARKS.md).
bench: bench-read-path bench-batching bench-web bench-channels

bench-read-path: tools
	cargo bench --bench read_path

bench-batching: tools
	cargo bench --bench batching

## Compare a benchmark at BASE with the working tree, interleaved in one sitting, with the machine's
## speed measured before each run: make bench-compare BASE=<commit> [BENCH=batching] [RUNS=3] [METRIC='end to end'].
bench-compare: tools
	BASE="$(BASE)" BENCH="$(BENCH)" RUNS="$(RUNS)" METRIC="$(METRIC)" tools/bench-compare.sh

## Channels of 500 and 5,000 members: bundle size and build time, gas per change and rotation, time to open a post.
bench-channels: tools
	cargo bench --bench channels

## The web client in headless Chromium: bundle, first render of 1,000 messages, decryption, search.
bench-web: web
	cd web && npx vite build --config vite.bench.config.ts --logLevel warn
	cargo bench --bench web_client
