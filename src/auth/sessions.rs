//! Nonces issued for sign-in, and the sessions sign-in opens, in memory.
//!
//! Both are bounded, so that nobody can grow them without limit: asking for
//! nonces past the bound forgets the oldest, and each nonce is taken once.
//! A session is named by a random token the browser holds in an HttpOnly
//! cookie; the node keeps only the token's hash. Sessions do not survive a
//! restart: the user signs in again.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use alloy::primitives::{keccak256, Address, B256};
use rand::{distributions::Alphanumeric, Rng, RngCore};

/// How long an issued nonce may wait for its sign-in.
pub const NONCE_TTL: Duration = Duration::from_secs(300);
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(3600);
const MAX_NONCES: usize = 10_000;
const MAX_SESSIONS: usize = 100_000;

/// A signed-in wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Who signed in.
    pub address: Address,
    /// When the session ends.
    pub expires: Instant,
}

/// The node's nonces and sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    nonces: Mutex<(HashMap<String, Instant>, VecDeque<String>)>,
    sessions: Mutex<(HashMap<B256, Session>, VecDeque<B256>)>,
}

impl Sessions {
    /// A fresh nonce, valid for [`NONCE_TTL`].
    pub fn issue_nonce(&self) -> String {
        let nonce: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(17)
            .map(char::from)
            .collect();
        let mut guard = self.nonces.lock().expect("not poisoned");
        let (issued, order) = &mut *guard;
        if order.len() >= MAX_NONCES {
            if let Some(oldest) = order.pop_front() {
                issued.remove(&oldest);
            }
        }
        issued.insert(nonce.clone(), Instant::now() + NONCE_TTL);
        order.push_back(nonce.clone());
        nonce
    }

    /// Takes `nonce` if this node issued it and it has not expired or been used.
    pub fn take_nonce(&self, nonce: &str) -> bool {
        let mut guard = self.nonces.lock().expect("not poisoned");
        guard
            .0
            .remove(nonce)
            .is_some_and(|until| until > Instant::now())
    }

    /// Opens a session for `address`; returns its token, for the cookie.
    pub fn open(&self, address: Address) -> String {
        let mut token = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut token);
        let token = hex::encode(token);
        let mut guard = self.sessions.lock().expect("not poisoned");
        let (open, order) = &mut *guard;
        if order.len() >= MAX_SESSIONS {
            if let Some(oldest) = order.pop_front() {
                open.remove(&oldest);
            }
        }
        let key = keccak256(token.as_bytes());
        open.insert(
            key,
            Session {
                address,
                expires: Instant::now() + SESSION_TTL,
            },
        );
        order.push_back(key);
        token
    }

    /// The live session named by `token`, if any.
    pub fn get(&self, token: &str) -> Option<Session> {
        let guard = self.sessions.lock().expect("not poisoned");
        guard
            .0
            .get(&keccak256(token.as_bytes()))
            .copied()
            .filter(|s| s.expires > Instant::now())
    }

    /// Ends the session named by `token`.
    pub fn close(&self, token: &str) {
        let mut guard = self.sessions.lock().expect("not poisoned");
        guard.0.remove(&keccak256(token.as_bytes()));
    }
}

impl cairn_indexer::api::Viewers for Sessions {
    fn viewer(&self, headers: &axum::http::HeaderMap) -> Option<Address> {
        super::routes::token(headers)
            .and_then(|t| self.get(&t))
            .map(|s| s.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_taken_once_and_only_if_issued() {
        let s = Sessions::default();
        let n = s.issue_nonce();
        assert!(!s.take_nonce("neverissued1"));
        assert!(s.take_nonce(&n));
        assert!(!s.take_nonce(&n), "a replayed nonce is refused");
    }

    #[test]
    fn sessions_are_found_by_their_token_and_end_on_close() {
        let s = Sessions::default();
        let alice = Address::with_last_byte(1);
        let token = s.open(alice);
        assert_eq!(s.get(&token).map(|x| x.address), Some(alice));
        assert!(s.get("forged").is_none());
        s.close(&token);
        assert!(s.get(&token).is_none());
    }
}
