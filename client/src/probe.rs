//! A check of one dependency outside the process: a Kubo node, an RPC
//! endpoint, a database. A [`crate::store::BlobStore`] names its own, and the
//! node runs them all for its `/readyz`.

use std::{future::Future, pin::Pin, sync::Arc};

type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// One dependency's check.
#[derive(Clone)]
pub struct Probe {
    name: String,
    group: &'static str,
    check: Check,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("name", &self.name)
            .field("group", &self.group)
            .finish()
    }
}

impl Probe {
    /// A check of `name` that counts in `group`; `Err` says what is wrong.
    pub fn new<F, Fut>(name: impl Into<String>, group: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name: name.into(),
            group,
            check: Arc::new(move || Box::pin(check())),
        }
    }

    /// The dependency's name (a metric label, and a key of `/readyz`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group it counts in: the node is ready when every group has a
    /// probe that is up.
    pub fn group(&self) -> &'static str {
        self.group
    }

    /// Runs the check once; `Err` says what is wrong.
    pub async fn check(&self) -> Result<(), String> {
        (self.check)().await
    }
}
