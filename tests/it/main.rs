//! Integration and end-to-end tests of the `cairn` crate and CLI.
//!
//! One binary links faster than one per file. Every test starts its own real
//! Anvil and Kubo on free loopback ports (see [`harness`]), in a fresh
//! temporary directory, so tests run in parallel.

mod backfill;
mod backpressure;
mod backup;
mod bad_input_catalogue;
mod batching;
mod blobstore;
mod chain;
mod channels;
mod cli;
mod cli_errors;
mod cluster;
mod consent;
mod content_check;
mod crash;
mod docs;
mod fanout;
mod faults;
mod fuzz;
mod gateway;
mod gateway_faults;
mod gateway_quotas;
mod gateway_stack;
mod governance_bot;
mod harness;
mod health;
mod hostile_batches;
mod hostile_http;
mod layout;
mod lying_indexer;
mod proxies;
mod read_api;
mod read_path;
mod reorg;
mod rpc_proxy;
mod sdk;
mod secrets;
mod send_e2e;
mod send_faults;
mod server;
mod sign_in;
mod signers;
mod store_suite;
mod tls;
mod upgrades;
mod vectors;
mod web_client;
