//! Which TLS servers the clients trust: the Mozilla roots built in, plus
//! the certificates of the file `SSL_CERT_FILE` names (a private CA, or a
//! node's self-signed certificate), as OpenSSL-based tools do.
//!
//! The file is read once per process. The system's whole certificate store
//! is not loaded: reading and parsing it costs tens of milliseconds of
//! blocking work for every client built, which stalled async runtimes.

use std::sync::OnceLock;

/// `builder`, also trusting the certificates of `SSL_CERT_FILE`. A file
/// that does not read or parse is reported once and otherwise ignored.
pub fn trust_local_roots(mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    static ROOTS: OnceLock<Vec<reqwest::Certificate>> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| {
        let Some(path) = std::env::var_os("SSL_CERT_FILE") else {
            return Vec::new();
        };
        match std::fs::read(&path).map(|pem| reqwest::Certificate::from_pem_bundle(&pem)) {
            Ok(Ok(certificates)) => certificates,
            Ok(Err(err)) => {
                tracing::warn!(%err, path = %path.to_string_lossy(), "SSL_CERT_FILE holds no certificate; ignored");
                Vec::new()
            }
            Err(err) => {
                tracing::warn!(%err, path = %path.to_string_lossy(), "SSL_CERT_FILE does not read; ignored");
                Vec::new()
            }
        }
    });
    for root in roots {
        builder = builder.add_root_certificate(root.clone());
    }
    builder
}
