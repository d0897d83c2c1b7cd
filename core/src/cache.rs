//! A small bounded cache with least-recently-used eviction and optional expiry.
//!
//! Values are dropped on eviction, so values that zeroize on drop (secrets, shared secrets)
//! are wiped as soon as they leave the cache.

use alloc::collections::BTreeMap;
use core::borrow::Borrow;
use core::time::Duration;

use crate::prelude::*;
use crate::sync::{Mutex, MutexGuard};
use crate::time::Instant;

struct Entry<V> {
    value: V,
    last_used: u64,
    expires: Option<Instant>,
}

struct Inner<K, V> {
    map: BTreeMap<K, Entry<V>>,
    tick: u64,
}

/// A thread-safe map holding at most `capacity` entries.
pub(crate) struct BoundedCache<K, V> {
    inner: Mutex<Inner<K, V>>,
    capacity: usize,
}

impl<K, V> core::fmt::Debug for BoundedCache<K, V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "BoundedCache(capacity {})", self.capacity)
    }
}

impl<K: Ord + Clone, V: Clone> BoundedCache<K, V> {
    /// A cache of `capacity` entries; 0 disables caching.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: BTreeMap::new(),
                tick: 0,
            }),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        self.inner.lock()
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        if self.capacity == 0 {
            return None;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.map.get_mut(key)?;
        if entry.expires.is_some_and(|t| Instant::now() >= t) {
            inner.map.remove(key);
            return None;
        }
        entry.last_used = tick;
        Some(entry.value.clone())
    }

    pub(crate) fn insert(&self, key: K, value: V, ttl: Option<Duration>) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        if inner.map.len() >= self.capacity && !inner.map.contains_key(&key) {
            Self::evict_oldest(&mut inner, self.capacity);
        }
        let entry = Entry {
            value,
            last_used: inner.tick,
            expires: ttl.map(|ttl| Instant::now() + ttl),
        };
        inner.map.insert(key, entry);
    }

    /// Evict the least recently used eighth (at least one entry): amortizes the scan.
    fn evict_oldest(inner: &mut Inner<K, V>, capacity: usize) {
        let mut ticks: Vec<u64> = inner.map.values().map(|e| e.last_used).collect();
        let n = (capacity / 8).max(1).min(ticks.len());
        if n == 0 {
            return;
        }
        let (_, cutoff, _) = ticks.select_nth_unstable(n - 1);
        let cutoff = *cutoff;
        inner.map.retain(|_, e| e.last_used > cutoff);
    }

    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.lock().map.remove(key);
    }

    pub(crate) fn retain(&self, mut keep: impl FnMut(&K) -> bool) {
        self.lock().map.retain(|k, _| keep(k));
    }

    pub(crate) fn clear(&self) {
        self.lock().map.clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_lru() {
        let c = BoundedCache::new(16);
        for i in 0..16 {
            c.insert(i, i, None);
        }
        // Touch 0 so it survives the next eviction.
        assert_eq!(c.get(&0), Some(0));
        c.insert(100, 100, None);
        assert!(c.len() <= 16);
        assert_eq!(c.get(&0), Some(0));
        assert_eq!(c.get(&1), None);
        assert_eq!(c.get(&100), Some(100));
        for i in 200..1000 {
            c.insert(i, i, None);
        }
        assert!(c.len() <= 16);
    }

    #[test]
    fn expiry_and_disabled() {
        let c = BoundedCache::new(4);
        c.insert("a", 1, Some(Duration::from_millis(0)));
        assert_eq!(c.get("a"), None);
        let off: BoundedCache<&str, i32> = BoundedCache::new(0);
        off.insert("a", 1, None);
        assert_eq!(off.get("a"), None);
    }
}
