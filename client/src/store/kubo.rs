//! The Kubo backend: Kubo daemons (or IPFS Cluster's Kubo-compatible
//! proxies) over their HTTP RPC API.
//!
//! **More than one node.** The store takes a list of endpoints. A write
//! goes to every node at once and succeeds when one stored it, so an
//! acknowledged block is on every node that was up. Behind IPFS Cluster's
//! proxies, `block/put?pin=true` and `pin/add` become cluster pins: the
//! cluster keeps the pin set, and copies a block to a peer that missed it
//! (`replication_factor_max`, `pin_recover_interval`). The cluster alone
//! would copy later, and a block written just before its first node died
//! was then found nowhere, which is why the store writes to all. Reads try
//! every node in turn, starting with the one that answered last, until one
//! has the block. "Not found" is only said when every node answered so;
//! when one could not be asked, the error is the transient one, and the
//! caller tries again later.
//!
//! One block is written with `block/put?cid-codec=raw&mhtype=sha2-256`, so
//! Kubo computes the same CID as [`cid::cid_for_block`]; Kubo's answer is
//! checked against the locally computed CID, and a daemon that stored
//! something else is an error. More blocks travel as one CAR file through
//! `dag/import`, and Kubo's count of the blocks it read is checked: every
//! call sends exactly one file, because IPFS Cluster's proxy cuts off a
//! request of several files that Kubo starts answering before it has read
//! them all (see `KuboNode::put_many`). Every block is pinned, so it
//! survives garbage collection.
//!
//! Reads are local-only (`offline=true`) with a short timeout. Cairn's
//! blocks are put into this node (or its cluster) by whoever sent them, and
//! the digests it looks up come from permissionless anchors and public HTTP
//! requests: a network search for each would let anyone make the node hunt
//! for blocks that exist nowhere, for a minute each.
//!
//! Pinning is Kubo's slow step: about 1 ms per pin, whatever the block. So
//! [`BlobStore::put_many`] imports its blocks unpinned and then pins them
//! all with one recursive pin on a small dag-cbor list that links them
//! (`dag/put`): 512 blocks cost one pin instead of 512.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::Bytes;
use serde::Deserialize;

use super::{check_size, cid, not_found_as_none, BlobStore, Cid, StoreError};

/// How long a local read of one block may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most `dag/export` calls one read of many blocks makes; see
/// `KuboNode::fetch_many_unverified`.
const MAX_EXPORTS: usize = 8;

/// A client for Kubo RPC endpoints, with fallback from one to the next.
#[derive(Debug, Clone)]
pub struct KuboStore {
    nodes: Arc<[KuboNode]>,
    /// The node tried first: the last one that answered.
    preferred: Arc<AtomicUsize>,
}

/// One Kubo RPC endpoint.
#[derive(Debug, Clone)]
struct KuboNode {
    api: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct BlockPutResponse {
    #[serde(rename = "Key")]
    key: String,
}

#[derive(Deserialize)]
struct KuboErrorBody {
    #[serde(rename = "Message")]
    message: String,
}

impl KuboStore {
    /// A client for the RPC API at `api_url`, e.g. `http://127.0.0.1:5001`,
    /// or for several, separated by commas.
    pub fn new(api_url: &str) -> Self {
        Self::with_nodes(api_url.split(',').map(str::trim).filter(|u| !u.is_empty()))
    }

    /// A client for these RPC endpoints, tried in this order.
    ///
    /// # Panics
    /// If `api_urls` is empty.
    pub fn with_nodes<S: AsRef<str>>(api_urls: impl IntoIterator<Item = S>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .expect("reqwest client with static settings builds");
        let nodes: Arc<[KuboNode]> = api_urls
            .into_iter()
            .map(|url| KuboNode {
                api: url.as_ref().trim_end_matches('/').to_string(),
                http: http.clone(),
            })
            .collect();
        assert!(
            !nodes.is_empty(),
            "a Kubo store needs at least one endpoint"
        );
        Self {
            nodes,
            preferred: Arc::default(),
        }
    }

    /// The nodes in the order to try them: the preferred one first.
    fn in_turn(&self) -> impl Iterator<Item = (usize, &KuboNode)> {
        let first = self.preferred.load(Ordering::Relaxed);
        let n = self.nodes.len();
        (0..n).map(move |k| ((first + k) % n, &self.nodes[(first + k) % n]))
    }

    /// Runs `op` on each node in turn until one succeeds, and prefers that
    /// node from then on. Returns the node's index with its answer. A
    /// node's failure is logged; the last is returned.
    async fn on_any<'a, T, F, Fut>(&'a self, what: &str, op: F) -> Result<(usize, T), StoreError>
    where
        F: Fn(&'a KuboNode) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut last = None;
        for (i, node) in self.in_turn() {
            match op(node).await {
                Ok(value) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok((i, value));
                }
                Err(err) if !err.is_node_failure() => return Err(err),
                Err(err) => {
                    if self.nodes.len() > 1 {
                        tracing::warn!(%err, node = %node.api, "{what} failed on this Kubo node; trying the next");
                    }
                    last = Some(err);
                }
            }
        }
        Err(last.expect("at least one node"))
    }

    /// Asks each node in turn until one has what `op` looks for (`Some`),
    /// and prefers that node from then on if none failed before it. `None`
    /// only when every node answered that it lacks it: when one could not
    /// be asked, its (transient) failure is the answer.
    async fn first_found<'a, T, F, Fut>(&'a self, op: F) -> Result<Option<T>, StoreError>
    where
        F: Fn(&'a KuboNode) -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, StoreError>>,
    {
        self.first_found_except(None, op).await
    }

    /// [`Self::first_found`] without asking node `skip`, which has just
    /// answered that it lacks what `op` looks for.
    async fn first_found_except<'a, T, F, Fut>(
        &'a self,
        skip: Option<usize>,
        op: F,
    ) -> Result<Option<T>, StoreError>
    where
        F: Fn(&'a KuboNode) -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, StoreError>>,
    {
        let mut failure = None;
        for (i, node) in self.in_turn().filter(|(i, _)| Some(*i) != skip) {
            match op(node).await {
                Ok(Some(found)) => {
                    if failure.is_none() {
                        self.preferred.store(i, Ordering::Relaxed);
                    }
                    return Ok(Some(found));
                }
                Ok(None) => {}
                Err(err) if err.is_node_failure() => failure = Some(err),
                Err(err) => return Err(err),
            }
        }
        failure.map_or(Ok(None), Err)
    }
}

impl KuboNode {
    async fn call(
        &self,
        operation: &'static str,
        query: &[(&str, String)],
        files: Vec<Bytes>,
    ) -> Result<reqwest::Response, StoreError> {
        let mut request = self
            .http
            .post(format!("{}/api/v0/{operation}", self.api))
            .query(query);
        if operation == "block/get" {
            request = request.timeout(READ_TIMEOUT);
        }
        if !files.is_empty() {
            let form = files
                .into_iter()
                .fold(reqwest::multipart::Form::new(), |form, file| {
                    form.part(
                        "file",
                        reqwest::multipart::Part::stream(file).file_name("block"),
                    )
                });
            request = request.multipart(form);
        }
        let unreachable = |source| StoreError::Unreachable {
            url: self.api.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        // A cluster proxy (or any proxy) whose Kubo is down or stalled.
        if matches!(status.as_u16(), 502..=504) {
            return Err(unreachable(response.error_for_status().unwrap_err()));
        }
        let text = response.text().await.map_err(unreachable)?;
        let message = serde_json::from_str::<KuboErrorBody>(&text)
            .map(|b| b.message)
            .unwrap_or(text);
        Err(StoreError::Kubo {
            operation,
            message: format!("{status}: {message}"),
        })
    }
}

impl KuboNode {
    /// Stores a dag-cbor list linking `cids` (unpinned) and returns its CID.
    async fn put_list(&self, cids: &[Cid]) -> Result<String, StoreError> {
        #[derive(Deserialize)]
        struct Put {
            #[serde(rename = "Cid")]
            cid: serde_json::Value,
        }
        let bad = |message: String| StoreError::Kubo {
            operation: "dag/put",
            message,
        };
        let links: Vec<serde_json::Value> = cids
            .iter()
            .map(|c| serde_json::json!({ "/": c.to_string() }))
            .collect();
        let list = serde_json::to_vec(&links).expect("JSON of strings encodes");
        let query = [
            ("store-codec", "dag-cbor".to_string()),
            ("input-codec", "dag-json".to_string()),
            ("pin", "false".to_string()),
        ];
        let list = Bytes::from(list);
        let put: Put = self
            .again(|| async {
                self.call("dag/put", &query, vec![list.clone()])
                    .await?
                    .json()
                    .await
                    .map_err(|e| self.broken_answer("dag/put", e))
            })
            .await?;
        put.cid["/"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| bad(format!("no CID in {}", put.cid)))
    }

    /// Pins `cids` with one recursive pin on a dag-cbor list that links them.
    ///
    /// `dag/put` stores the list unpinned and `pin/add` pins it, and its
    /// answer must name the list: `dag/put?pin=true` was seen to answer 200
    /// under load without pinning (a streamed command reports late errors in
    /// a trailer), and blocks that are not pinned are lost to the next GC.
    async fn pin_together(&self, cids: &[Cid]) -> Result<(), StoreError> {
        #[derive(Deserialize)]
        struct Pinned {
            #[serde(rename = "Pins")]
            pins: Vec<String>,
        }
        let bad = |operation, message: String| StoreError::Kubo { operation, message };
        let root = self.put_list(cids).await?;
        let query = [
            ("arg", root.clone()),
            ("recursive", "true".to_string()),
            ("progress", "false".to_string()),
        ];
        let pinned: Pinned = self
            .again(|| async {
                self.call("pin/add", &query, Vec::new())
                    .await?
                    .json()
                    .await
                    .map_err(|e| self.broken_answer("pin/add", e))
            })
            .await?;
        if pinned.pins.contains(&root) {
            Ok(())
        } else {
            Err(bad(
                "pin/add",
                format!("{root} was not pinned: {:?}", pinned.pins),
            ))
        }
    }
}

impl KuboNode {
    /// Stores `blocks`, whose CIDs `expected` were computed once for every
    /// node; `blocks` is not empty. One block is one `block/put?pin=true`;
    /// more are one `dag/import` of a CAR, then pinned together.
    ///
    /// **Why one file per call.** IPFS Cluster's proxy is a Go HTTP server
    /// in front of Kubo, and Go's server stops reading a request body once
    /// the handler has sent its response headers. Kubo answers `block/put`
    /// block by block, as it reads them, so a `block/put` of several files
    /// through a proxy was cut off after the first answer whenever the
    /// body arrived over time: the later blocks never reached Kubo, and
    /// the answer stopped short or broke off ("error decoding response
    /// body"). A CAR is one file, and Kubo answers `dag/import` only after
    /// reading all of it.
    async fn put_many(&self, blocks: Vec<Bytes>, expected: &[Cid]) -> Result<(), StoreError> {
        if let [block] = blocks.as_slice() {
            return self
                .again(|| self.put_one(block.clone(), &expected[0]))
                .await;
        }
        self.again(|| self.import(&blocks, expected)).await?;
        self.pin_together(expected).await
    }

    /// Runs `op` again, up to twice, when its answer broke off.
    ///
    /// Even a one-file call can meet IPFS Cluster's proxy mid-race: Kubo
    /// answers once it has read the file's closing delimiter, and the
    /// proxy's server may then stop reading the last bytes of the request
    /// that it is still passing on, and cut the answer. Every call the
    /// store makes is idempotent (a block is its CID, a pin is a pin), so
    /// asking again is safe.
    async fn again<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut retries = 0;
        loop {
            match op().await {
                Err(StoreError::Unreachable { ref source, .. })
                    if retries < 2 && (source.is_body() || source.is_decode()) =>
                {
                    retries += 1;
                    tracing::debug!(node = %self.api, retries, "a Kubo answer broke off; asking again");
                    tokio::time::sleep(Duration::from_millis(50 * retries)).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// `block/put?pin=true`: through a cluster proxy, a cluster pin.
    async fn put_one(&self, block: Bytes, expected: &Cid) -> Result<(), StoreError> {
        let query = [
            ("cid-codec", "raw".to_string()),
            ("mhtype", "sha2-256".to_string()),
            ("mhlen", "32".to_string()),
            ("pin", "true".to_string()),
        ];
        let response = self.call("block/put", &query, vec![block]).await?;
        let stored: BlockPutResponse = response
            .json()
            .await
            .map_err(|e| self.broken_answer("block/put", e))?;
        if stored.key != expected.to_string() {
            return Err(StoreError::Kubo {
                operation: "block/put",
                message: format!(
                    "kubo stored {} but the block's CID is {expected}",
                    stored.key
                ),
            });
        }
        Ok(())
    }

    /// `dag/import` of a CAR holding `blocks`, unpinned; Kubo's count of
    /// the blocks it read must be theirs.
    async fn import(&self, blocks: &[Bytes], expected: &[Cid]) -> Result<(), StoreError> {
        #[derive(Deserialize)]
        struct Imported {
            #[serde(rename = "Stats")]
            stats: Option<Stats>,
        }
        #[derive(Deserialize)]
        struct Stats {
            #[serde(rename = "BlockCount")]
            block_count: u64,
        }
        let bad = |message: String| StoreError::Kubo {
            operation: "dag/import",
            message,
        };
        let car = super::car::write(expected.iter().zip(blocks.iter().map(|b| b.as_ref())));
        let query = [
            ("pin-roots", "false".to_string()),
            ("stats", "true".to_string()),
        ];
        let text = self
            .call("dag/import", &query, vec![Bytes::from(car)])
            .await?
            .text()
            .await
            .map_err(|e| self.broken_answer("dag/import", e))?;
        let count = serde_json::Deserializer::from_str(&text)
            .into_iter::<Imported>()
            .filter_map(|line| line.map(|i| i.stats).transpose())
            .next()
            .ok_or_else(|| bad(format!("no import stats in {text:?}")))?
            .map_err(|e| bad(e.to_string()))?
            .block_count;
        if count != blocks.len() as u64 {
            return Err(bad(format!("kubo read {count} of {} blocks", blocks.len())));
        }
        Ok(())
    }

    /// An answer to `operation` that could not be read: reqwest reports a
    /// body that broke off and one that is not the JSON expected alike, as
    /// decoding errors. Both are this node's failure, not a verdict on the
    /// block, so another node (or a later try) may succeed.
    fn broken_answer(&self, operation: &'static str, source: reqwest::Error) -> StoreError {
        tracing::debug!(operation, node = %self.api, "a Kubo answer could not be read");
        StoreError::Unreachable {
            url: self.api.clone(),
            source,
        }
    }

    async fn fetch_unverified(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        cid::digest_of(cid)?;
        match self
            .call(
                "block/get",
                &[("arg", cid.to_string()), ("offline", "true".to_string())],
                Vec::new(),
            )
            .await
        {
            Ok(response) => response
                .bytes()
                .await
                .map_err(|source| StoreError::Unreachable {
                    url: self.api.clone(),
                    source,
                }),
            Err(StoreError::Kubo { message, .. }) if message.contains("not found") => {
                Err(StoreError::NotFound(Box::new(*cid)))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads `cids` in as few calls as Kubo allows. One `dag/export` of a
    /// dag-cbor list linking them (stored unpinned) carries every block up
    /// to the first one the node lacks: Kubo stops there. That block is
    /// asked for alone, and so are those after it while they are missing
    /// too; at the first one found again, the rest go by export once more.
    ///
    /// Why not one by one after a gap: anyone can anchor a digest with no
    /// block behind it, for the price of an anchor, and one such digest in
    /// a content-check round then made every later block in the round a
    /// call of its own (under batched posting, block reads were a sixth of
    /// Kubo's CPU). Now a missing block costs one `block/get`, which is the
    /// only way to tell it from an export cut short, and one more for the
    /// block after it. A round where present and missing blocks alternate
    /// would cost an export a pair, so a call makes at most
    /// [`MAX_EXPORTS`] and reads what is left one by one.
    async fn fetch_many_unverified(&self, cids: &[Cid]) -> Result<Vec<Option<Bytes>>, StoreError> {
        let mut found: Vec<Option<Bytes>> = Vec::with_capacity(cids.len());
        let mut exports = 0;
        while found.len() < cids.len() {
            if exports < MAX_EXPORTS {
                exports += 1;
                let rest = &cids[found.len()..];
                let in_car = self.export(rest).await?;
                found.extend(
                    rest.iter()
                        .map_while(|cid| in_car.get(cid).cloned().map(Some)),
                );
            }
            for cid in &cids[found.len()..] {
                let block = not_found_as_none(self.fetch_unverified(cid).await)?;
                let present = block.is_some();
                found.push(block);
                if present && exports < MAX_EXPORTS {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// The blocks a `dag/export` of a list linking `cids` carried: all of
    /// them, or those up to the first the node lacks, or none when the
    /// export failed outright.
    async fn export(&self, cids: &[Cid]) -> Result<HashMap<Cid, Bytes>, StoreError> {
        let root = self.put_list(cids).await?;
        let exported = match self
            .call(
                "dag/export",
                &[
                    ("arg", root),
                    ("progress", "false".to_string()),
                    ("offline", "true".to_string()),
                ],
                Vec::new(),
            )
            .await
        {
            Ok(response) => response.bytes().await.unwrap_or_default(),
            // A missing block can fail the export outright.
            Err(StoreError::Kubo { .. }) => Bytes::new(),
            Err(e) => return Err(e),
        };
        Ok(super::car::blocks(&exported))
    }

    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        cid::digest_of(cid)?;
        let query = [("arg", cid.to_string()), ("offline", "true".to_string())];
        match self.call("block/stat", &query, Vec::new()).await {
            Ok(_) => Ok(true),
            Err(StoreError::Kubo { message, .. }) if message.contains("not found") => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl KuboNode {
    /// Whether the node (or the cluster proxy's Kubo behind it) answers
    /// `version`, the cheapest RPC call that reaches Kubo itself.
    async fn version(&self) -> Result<(), String> {
        self.call("version", &[], Vec::new())
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl BlobStore for KuboStore {
    fn probes(&self) -> Vec<crate::probe::Probe> {
        self.nodes
            .iter()
            .map(|node| {
                let node = node.clone();
                crate::probe::Probe::new(
                    format!("blockstore:{}", node.api),
                    "blockstore",
                    move || {
                        let node = node.clone();
                        async move { node.version().await }
                    },
                )
            })
            .collect()
    }

    async fn put(&self, block: Bytes) -> Result<Cid, StoreError> {
        let mut cids = self.put_many(vec![block]).await?;
        Ok(cids.remove(0))
    }

    /// Stores on every node at once, and succeeds when one did: a block
    /// acknowledged is then on every node that was up, not only on the
    /// node a cluster would copy it from later.
    async fn put_many(&self, blocks: Vec<Bytes>) -> Result<Vec<Cid>, StoreError> {
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        blocks.iter().try_for_each(|b| check_size(b))?;
        let expected: Vec<Cid> = blocks.iter().map(|b| cid::cid_for_block(b)).collect();
        let outcomes = futures::future::join_all(
            self.nodes
                .iter()
                .map(|n| n.put_many(blocks.clone(), &expected)),
        )
        .await;
        let mut stored = false;
        let mut failure = None;
        for (node, outcome) in self.nodes.iter().zip(outcomes) {
            match outcome {
                Ok(()) => stored = true,
                Err(err) => {
                    if self.nodes.len() > 1 {
                        tracing::warn!(%err, node = %node.api, "block/put failed on this Kubo node");
                    }
                    failure = Some(err);
                }
            }
        }
        match failure {
            Some(err) if !stored => Err(err),
            _ => Ok(expected),
        }
    }

    async fn fetch_unverified(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.first_found(|node| async move { not_found_as_none(node.fetch_unverified(cid).await) })
            .await?
            .ok_or_else(|| StoreError::NotFound(Box::new(*cid)))
    }

    /// Asks the preferred node for all of them at once, then the others for
    /// what it lacks, one by one.
    async fn fetch_many_unverified(&self, cids: &[Cid]) -> Result<Vec<Option<Bytes>>, StoreError> {
        let (asked, mut found) = self
            .on_any("dag/export", |node| node.fetch_many_unverified(cids))
            .await?;
        if self.nodes.len() > 1 {
            for (slot, cid) in found.iter_mut().zip(cids) {
                if slot.is_none() {
                    *slot = self
                        .first_found_except(Some(asked), |node| async move {
                            not_found_as_none(node.fetch_unverified(cid).await)
                        })
                        .await?;
                }
            }
        }
        Ok(found)
    }

    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        let found = self
            .first_found(|node| async move { Ok(node.has(cid).await?.then_some(())) })
            .await?;
        Ok(found.is_some())
    }
}
