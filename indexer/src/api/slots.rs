//! Counted slots per key (a client IP, a subscribed address), for caps on
//! what one client or one address may hold open at once.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
};

/// Open holds per key.
#[derive(Debug)]
pub struct Slots<K: Hash + Eq + Clone>(Mutex<HashMap<K, usize>>);

impl<K: Hash + Eq + Clone> Default for Slots<K> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

/// One hold on a key's count, released on drop.
#[derive(Debug)]
pub struct Slot<K: Hash + Eq + Clone> {
    slots: Arc<Slots<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Slots<K> {
    /// A hold on `key`, unless it already has `cap`.
    pub fn try_take(self: &Arc<Self>, key: K, cap: usize) -> Option<Slot<K>> {
        let mut counts = self.0.lock().expect("the count lock is never poisoned");
        let count = counts.entry(key.clone()).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Slot {
            slots: self.clone(),
            key,
        })
    }

    /// Keys with at least one hold.
    pub fn len(&self) -> usize {
        self.0
            .lock()
            .expect("the count lock is never poisoned")
            .len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut counts = self
            .slots
            .0
            .lock()
            .expect("the count lock is never poisoned");
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_key_and_releases_on_drop() {
        let slots = Arc::new(Slots::default());
        let held: Vec<_> = (0..3).map(|_| slots.try_take("a", 3).unwrap()).collect();
        assert!(slots.try_take("a", 3).is_none(), "a fourth is over the cap");
        let other = slots.try_take("b", 3);
        assert!(other.is_some());
        drop(held);
        drop(other);
        assert!(slots.is_empty(), "no count is left behind");
        assert!(slots.try_take("a", 3).is_some());
    }
}
