# Cairn's two entry points: `make dev` and `make test`. Both install what they
# need first (tools/install.sh skips work whose pins have not changed).
SHELL := /bin/bash
FORGE := tools/node_modules/.bin/forge

.PHONY: dev test tools lint test-contracts test-rust faults artifacts bench bench-read-path bench-batching

## Run the local stack: Anvil, the contract, the block store and a demo message.
dev: tools
	anvil-scripts/dev.sh

## Run every test: contract artifacts check, forge tests, Rust unit, integration and end-to-end tests, and the fault suite.
test: tools lint test-contracts test-rust faults

tools:
	tools/install.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

test-contracts:
	contracts/artifacts.sh check
	cd contracts && ../$(FORGE) test

test-rust:
	cargo test --workspace --locked

## The fault suite: SIGKILLs, restarts, reorgs and a failing RPC under live traffic; prints the table
## recorded in docs/RELIABILITY.md (logs in target/faults/). CAIRN_FAULTS_SEED=<n> replays a schedule.
faults: tools
	cargo test --locked --test it faults::faults -- --ignored --exact --nocapture

## Refresh the committed contract artifacts after changing contracts/src.
artifacts: tools
	contracts/artifacts.sh write

## Measure the read path and batching (figures in docs/BENCHMARKS.md).
bench: bench-read-path bench-batching

bench-read-path: tools
	cargo bench --bench read_path

bench-batching: tools
	cargo bench --bench batching
