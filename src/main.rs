//! The `cairn` binary: parse, set up logging, run, report errors plainly.

use clap::Parser;

mod cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    // One TLS provider for every client and server in the process: with
    // several compiled in (the dependencies bring two), rustls picks none.
    let _ = rustls::crypto::ring::default_provider().install_default();
    cairn::telemetry::init_tracing("warn,cairn=info", cli.global.log_json);
    match cli.run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", plain_chain(&e));
            exit_code(&e)
        }
    }
}

/// 75 (EX_TEMPFAIL) for a post left undecided: not a failure, it may still
/// be anchored, so a script must not write it again; 1 for anything else.
fn exit_code(e: &anyhow::Error) -> std::process::ExitCode {
    use cairn::gateway::delivery::DeliveryError;
    match e.downcast_ref::<DeliveryError>() {
        Some(DeliveryError::Undecided { .. }) => std::process::ExitCode::from(75),
        _ => std::process::ExitCode::FAILURE,
    }
}

/// The error and its causes, each said once: many errors already include
/// their source in their own message, and `{:#}` would repeat it.
fn plain_chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
