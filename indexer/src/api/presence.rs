//! Presence and typing indicators: ephemeral frames between stream
//! connections, never stored and never anchored.
//!
//! A connection signed in as the address it subscribes to joins the hub and
//! may send `{"type":"presence","to":<address>,"state":"online"|"typing"|"idle"}`.
//! The node stamps the sender from the session (so nobody can speak for
//! another wallet) and hands `{"type":"presence","from":…,"state":…,"at":<unix ms>}`
//! to the recipient's signed-in connections, but only if the recipient has
//! allowed the sender. Frames are dropped, never queued, when a recipient's
//! buffer is full, and each signed-in address may send only [`BURST`]
//! frames per [`WINDOW`] to this node, however many connections it opens
//! (reconnecting does not start a new allowance).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use alloy::primitives::Address;
use axum::extract::ws::Message as WsMessage;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Presence frames one address may send per [`WINDOW`].
pub const BURST: u32 = 20;
/// The window [`BURST`] counts over.
pub const WINDOW: Duration = Duration::from_secs(10);

/// What a presence frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceState {
    /// The sender has Cairn open.
    Online,
    /// The sender is writing to the recipient.
    Typing,
    /// The sender stopped typing, or left.
    Idle,
}

/// A frame a client sends on its stream.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(super) enum ClientFrame {
    /// Presence for one recipient.
    Presence {
        /// The recipient.
        to: Address,
        /// What to say.
        state: PresenceState,
    },
}

/// One signed-in connection: its id in the hub, and its send buffer.
type Listener = (u64, mpsc::Sender<WsMessage>);

/// The signed-in stream connections, by address.
#[derive(Debug, Default)]
pub struct Presence {
    listeners: Mutex<HashMap<Address, Vec<Listener>>>,
    next: AtomicU64,
    /// Each sender's frames in its current window, across its connections.
    allowances: Mutex<HashMap<Address, Allowance>>,
}

/// A connection's place in the hub; dropping it leaves.
#[derive(Debug)]
pub struct Joined {
    hub: Arc<Presence>,
    who: Address,
    id: u64,
}

impl Drop for Joined {
    fn drop(&mut self) {
        let mut listeners = self.hub.listeners.lock().expect("not poisoned");
        if let Some(list) = listeners.get_mut(&self.who) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                listeners.remove(&self.who);
            }
        }
    }
}

impl Presence {
    /// Adds a connection signed in as `who`, whose frames go to `out`.
    pub fn join(self: &Arc<Self>, who: Address, out: mpsc::Sender<WsMessage>) -> Joined {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.listeners
            .lock()
            .expect("not poisoned")
            .entry(who)
            .or_default()
            .push((id, out));
        Joined {
            hub: self.clone(),
            who,
            id,
        }
    }

    /// Whether `from` may send one more frame now (see [`BURST`]).
    pub(super) fn take(&self, from: Address, now: Instant) -> bool {
        let mut allowances = self.allowances.lock().expect("not poisoned");
        // Senders whose window has passed start afresh anyway: forget them.
        if allowances.len() > 10_000 {
            allowances.retain(|_, a| now.duration_since(a.window_start) < WINDOW);
        }
        allowances
            .entry(from)
            .or_insert_with(|| Allowance::starting(now))
            .take(now)
    }

    /// Hands `state` from `from` to `to`'s connections, dropping it where a
    /// buffer is full. Returns how many connections took it. The caller has
    /// checked that `to` allowed `from`.
    pub fn deliver(&self, from: Address, to: Address, state: PresenceState) -> usize {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let frame = serde_json::json!({
            "type": "presence",
            "from": from.to_string().to_lowercase(),
            "state": state,
            "at": at,
        })
        .to_string();
        let listeners = self.listeners.lock().expect("not poisoned");
        let Some(list) = listeners.get(&to) else {
            return 0;
        };
        list.iter()
            .filter(|(_, out)| out.try_send(WsMessage::Text(frame.clone().into())).is_ok())
            .count()
    }
}

/// A fixed-window count of one sender's presence frames.
#[derive(Debug)]
pub(super) struct Allowance {
    window_start: Instant,
    used: u32,
}

impl Allowance {
    /// A window that starts at `now`.
    fn starting(now: Instant) -> Self {
        Self {
            window_start: now,
            used: 0,
        }
    }

    /// Whether one more frame fits now.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        if now.duration_since(self.window_start) >= WINDOW {
            self.window_start = now;
            self.used = 0;
        }
        self.used += 1;
        self.used <= BURST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_reach_only_the_recipients_connections_and_stop_when_they_leave() {
        let hub = Arc::new(Presence::default());
        let (alice, bob) = (Address::with_last_byte(1), Address::with_last_byte(2));
        let (tx, mut rx) = mpsc::channel(4);
        let joined = hub.join(bob, tx);
        assert_eq!(hub.deliver(alice, bob, PresenceState::Typing), 1);
        assert_eq!(hub.deliver(bob, alice, PresenceState::Typing), 0);
        let WsMessage::Text(text) = rx.recv().await.unwrap() else {
            panic!("a text frame")
        };
        let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(frame["from"], alice.to_string().to_lowercase());
        assert_eq!(frame["state"], "typing");
        drop(joined);
        assert_eq!(hub.deliver(alice, bob, PresenceState::Online), 0);
    }

    #[test]
    fn a_sender_gets_its_burst_per_window() {
        let start = Instant::now();
        let mut allowance = Allowance::starting(start);
        assert!((0..BURST).all(|_| allowance.take(start)));
        assert!(!allowance.take(start));
        assert!(allowance.take(start + WINDOW));
        // The hub counts per sender, across its connections: a second
        // connection (a reconnect) gets no fresh allowance.
        let hub = Arc::new(Presence::default());
        let (alice, bob) = (Address::with_last_byte(1), Address::with_last_byte(2));
        assert!((0..BURST).all(|_| hub.take(alice, start)));
        let (out, _keep) = mpsc::channel(1);
        let _again = hub.join(alice, out);
        assert!(!hub.take(alice, start));
        assert!(hub.take(bob, start), "another sender has its own");
        assert!(hub.take(alice, start + WINDOW));
    }
}
