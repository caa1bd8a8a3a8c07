//! `sqlx::migrate!` embeds the outbox's migrations at compile time, but on
//! stable Rust a new migration file alone does not make Cargo rebuild this
//! crate: the binary would start without it. This makes it (the script
//! `sqlx migrate build-script` writes).
fn main() {
    println!("cargo:rerun-if-changed=src/gateway/migrations");
}
