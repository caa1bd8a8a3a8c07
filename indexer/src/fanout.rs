//! In-memory fan-out of confirmed stream events.
//!
//! The store's event log is the source of truth; this is how a node pushes
//! it. One task, [`Fanout::run`], reads each new run of events from the store
//! once, in seq order, and hands each event to the subscribers of its
//! recipient through a map from recipient to subscribers. A connection reads
//! the store only to catch up from its cursor: when it opens, and when it
//! fell so far behind that the hub let go of it. The cost of a confirmed
//! block is then one query and one map lookup per event, however many
//! connections are open.
//!
//! Exactly once and in order: a connection subscribes *before* it catches
//! up, so every event published from then on reaches it live, and it skips
//! live events at or below the seq it has already sent. Writers wake the hub
//! after they commit, so an event the hub publishes is already in the store
//! for any catch-up that starts later.
//!
//! Slow subscribers: the hub never waits. A subscriber whose queue is full is
//! let go; its [`Subscription`] then ends with [`Live::Dropped`] and the
//! connection subscribes again and catches up from the store, where nothing
//! is lost. How long a connection may keep its own client waiting is the
//! stream's business (see `api::stream`).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, Notify};

use crate::store::{Store, StreamCursor, StreamEvent};

/// Events one subscriber may have queued before the hub lets go of it, by default.
pub const QUEUE: usize = 1024;

/// Events read from the store per publishing query.
const PUBLISH_BATCH: u32 = 1024;

/// One event as every subscriber of its recipient receives it: serialised
/// once, shared by all.
#[derive(Debug)]
pub struct Published {
    /// The event.
    pub event: StreamEvent,
    /// Its JSON frame, as the WebSocket stream sends it.
    pub frame: Utf8Bytes,
}

type Subscribers = HashMap<String, Vec<(u64, mpsc::Sender<Arc<Published>>)>>;

/// The hub: who listens to which recipient, and the wake-up writers ring
/// after they commit events.
#[derive(Debug)]
pub struct Fanout {
    subscribers: Mutex<Subscribers>,
    queue: usize,
    next_id: AtomicU64,
    wake: Notify,
    closed: AtomicBool,
}

impl Default for Fanout {
    fn default() -> Self {
        Self::new(QUEUE)
    }
}

/// What a [`Subscription`] yields.
#[derive(Debug)]
pub enum Live {
    /// The next event for the recipient, in seq order.
    Event(Arc<Published>),
    /// The hub let go of this subscriber (its queue was full): subscribe
    /// again, then catch up from the store.
    Dropped,
    /// The node is shutting down.
    Closed,
}

/// A subscriber's place in the hub; dropping it leaves.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<Fanout>,
    recipient: String,
    id: u64,
    events: mpsc::Receiver<Arc<Published>>,
}

impl Fanout {
    /// A hub that lets go of a subscriber with `queue` events waiting.
    pub fn new(queue: usize) -> Self {
        Self {
            subscribers: Mutex::default(),
            queue: queue.max(1),
            next_id: AtomicU64::new(0),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// Joins the subscribers of `recipient` (bytes32 hex, or a channel id).
    pub fn subscribe(self: &Arc<Self>, recipient: &str) -> Subscription {
        let (sender, events) = mpsc::channel(self.queue);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if !self.closed.load(Ordering::Acquire) {
            self.lock()
                .entry(recipient.to_string())
                .or_default()
                .push((id, sender));
        }
        metrics::gauge!("cairn_fanout_subscribers").increment(1.0);
        Subscription {
            hub: self.clone(),
            recipient: recipient.to_string(),
            id,
            events,
        }
    }

    /// Tells the hub that events were committed. Never waits.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Hands `events` (in seq order) to their recipients' subscribers, and
    /// lets go of those whose queue is full. Returns the frames handed over.
    pub fn publish(&self, events: Vec<StreamEvent>) -> usize {
        let mut subscribers = self.lock();
        let mut handed = 0;
        for event in events {
            let Some(listeners) = subscribers.get_mut(&event.message.to) else {
                continue;
            };
            let frame = serde_json::to_string(&event).expect("events serialise");
            let published = Arc::new(Published {
                event,
                frame: frame.into(),
            });
            listeners.retain(|(_, queue)| match queue.try_send(published.clone()) {
                Ok(()) => {
                    handed += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    metrics::counter!("cairn_fanout_dropped_total").increment(1);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
            if listeners.is_empty() {
                subscribers.remove(&published.event.message.to);
            }
        }
        metrics::counter!("cairn_fanout_frames_total").increment(handed as u64);
        handed
    }

    /// Publishes every event committed after `after`, until `shutdown`;
    /// then ends every subscription with [`Live::Closed`].
    ///
    /// While nobody subscribes, it moves past new events without reading
    /// them (a backfill of a million rows costs the hub nothing). It reads
    /// the newest seq, then looks at the map again: whoever subscribes
    /// after that second look catches up from the store past that seq
    /// itself, and anyone there before it is published to.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        mut after: StreamCursor,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut failures = 0u32;
        loop {
            match self.publish_from(&store, &mut after).await {
                Ok(()) => failures = 0,
                Err(err) => {
                    failures += 1;
                    let delay = Duration::from_millis(100 << failures.min(6));
                    tracing::error!(%err, ?delay, "fan-out could not read events; retrying");
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
            }
        }
        self.closed.store(true, Ordering::Release);
        self.lock().clear();
    }

    async fn publish_from(
        &self,
        store: &Arc<dyn Store>,
        after: &mut StreamCursor,
    ) -> Result<(), crate::store::StoreError> {
        loop {
            if self.lock().is_empty() {
                let newest = store.last_event_seq().await?;
                if self.lock().is_empty() {
                    *after = StreamCursor(newest.max(after.0));
                    return Ok(());
                }
            }
            let events = store.events_since(*after, PUBLISH_BATCH).await?;
            let Some(last) = events.last() else {
                return Ok(());
            };
            *after = StreamCursor(last.seq());
            self.publish(events);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Subscribers> {
        self.subscribers
            .lock()
            .expect("fan-out lock is not poisoned")
    }
}

impl Subscription {
    /// The next event, or why there is none.
    pub async fn recv(&mut self) -> Live {
        match self.events.recv().await {
            Some(event) => Live::Event(event),
            None if self.hub.closed.load(Ordering::Acquire) => Live::Closed,
            None => Live::Dropped,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        metrics::gauge!("cairn_fanout_subscribers").decrement(1.0);
        let mut subscribers = self.hub.lock();
        if let Some(list) = subscribers.get_mut(&self.recipient) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                subscribers.remove(&self.recipient);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ContentStatus, EventKind, Message, RowStatus};

    fn event(seq: u64, to: &str) -> StreamEvent {
        StreamEvent {
            kind: EventKind::Message,
            cursor: StreamCursor(seq).encode(),
            message: Message {
                id: format!("0xb-{seq}"),
                from: "0xa".into(),
                to: to.into(),
                cid: String::new(),
                digest: String::new(),
                block: seq,
                block_hash: "0xb".into(),
                tx: "0xt".into(),
                log_index: 0,
                sequence: seq,
                item: None,
                nonce: None,
                status: RowStatus::Confirmed,
                verification: ContentStatus::Unchecked,
                cursor: String::new(),
            },
            seq,
        }
    }

    fn seq(live: Live) -> u64 {
        match live {
            Live::Event(p) => p.event.seq(),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn routes_each_event_to_its_recipients_subscribers_only() {
        let hub = Arc::new(Fanout::new(8));
        let (mut bob1, mut bob2, mut carol) = (
            hub.subscribe("bob"),
            hub.subscribe("bob"),
            hub.subscribe("carol"),
        );
        let handed = hub.publish(vec![event(1, "bob"), event(2, "dave"), event(3, "carol")]);
        assert_eq!(
            handed, 3,
            "two copies for Bob, one for Carol, none for Dave"
        );
        assert_eq!(seq(bob1.recv().await), 1);
        assert_eq!(seq(bob2.recv().await), 1);
        assert_eq!(seq(carol.recv().await), 3);
        // The frame is the event as the stream sends it, serialised once.
        hub.publish(vec![event(4, "bob")]);
        let (Live::Event(a), Live::Event(b)) = (bob1.recv().await, bob2.recv().await) else {
            panic!("both get event 4");
        };
        assert!(Arc::ptr_eq(&a, &b));
        let frame: serde_json::Value = serde_json::from_str(a.frame.as_str()).unwrap();
        assert_eq!(frame["cursor"], StreamCursor(4).encode());
    }

    #[tokio::test]
    async fn a_full_queue_lets_go_of_that_subscriber_alone() {
        let hub = Arc::new(Fanout::new(2));
        let (mut slow, mut fast) = (hub.subscribe("bob"), hub.subscribe("bob"));
        hub.publish(vec![event(1, "bob"), event(2, "bob")]);
        assert_eq!(seq(fast.recv().await), 1);
        assert_eq!(seq(fast.recv().await), 2);
        // Event 3 finds the slow queue full: the slow subscriber is let go.
        assert_eq!(hub.publish(vec![event(3, "bob")]), 1);
        assert_eq!(seq(fast.recv().await), 3);
        // It still gets what it had queued, then learns it was dropped.
        assert_eq!(seq(slow.recv().await), 1);
        assert_eq!(seq(slow.recv().await), 2);
        assert!(matches!(slow.recv().await, Live::Dropped));
        hub.publish(vec![event(4, "bob")]);
        assert_eq!(seq(fast.recv().await), 4);
    }

    #[tokio::test]
    async fn leaving_forgets_the_recipient_and_shutdown_closes_everyone() {
        let hub = Arc::new(Fanout::default());
        drop(hub.subscribe("bob"));
        assert!(hub.lock().is_empty());
        let mut bob = hub.subscribe("bob");
        let (store, _dir) = sqlite().await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let run = tokio::spawn(hub.clone().run(
            store,
            StreamCursor(0),
            shutdown.clone().cancelled_owned(),
        ));
        shutdown.cancel();
        run.await.unwrap();
        assert!(matches!(bob.recv().await, Live::Closed));
        assert!(matches!(hub.subscribe("carol").recv().await, Live::Closed));
    }

    async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fanout.db").display());
        (crate::store::open(&url).await.unwrap(), dir)
    }
}
