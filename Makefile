# Cairn's two entry points: `make dev` and `make test`. Both install what they
# need first (tools/install.sh skips work whose pins have not changed).
SHELL := /bin/bash
FORGE := tools/node_modules/.bin/forge

.PHONY: dev test tools lint test-contracts test-rust artifacts bench bench-read-path bench-batching

## Run the local stack: Anvil, the contract, the block store and a demo message.
dev: tools
	anvil-scripts/dev.sh

## Run every test: contract artifacts check, forge tests, Rust unit, integration and end-to-end tests.
test: tools lint test-contracts test-rust

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

## Refresh the committed contract artifacts after changing contracts/src.
artifacts: tools
	contracts/artifacts.sh write

## Measure the read path and batching (figures in docs/BENCHMARKS.md).
bench: bench-read-path bench-batching

bench-read-path: tools
	cargo bench --bench read_path

bench-batching: tools
	cargo bench --bench batching
