//! A least-recently-used cache bounded by bytes, not entries: a tile's size depends on the level
//! and the budget is what keeps memory flat on any slide.

use std::hash::Hash;

use lru::LruCache;

pub struct ByteLru<K: Hash + Eq, V> {
    entries: LruCache<K, (V, usize)>,
    bytes: usize,
    budget: usize,
}

impl<K: Hash + Eq + Clone, V> ByteLru<K, V> {
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            entries: LruCache::unbounded(),
            bytes: 0,
            budget: budget_bytes,
        }
    }

    /// Inserts (or replaces) an entry of `bytes`, evicting the least recently used entries until
    /// the cache fits its budget again. Returns the evicted keys.
    pub fn insert(&mut self, key: K, value: V, bytes: usize) -> Vec<K> {
        if let Some((_, old_bytes)) = self.entries.put(key, (value, bytes)) {
            self.bytes -= old_bytes;
        }
        self.bytes += bytes;
        let mut evicted = Vec::new();
        while self.bytes > self.budget && self.entries.len() > 1 {
            match self.entries.pop_lru() {
                Some((k, (_, b))) => {
                    self.bytes -= b;
                    evicted.push(k);
                }
                None => break,
            }
        }
        evicted
    }

    /// Looks up and marks as recently used.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(v, _)| v)
    }

    /// Looks up without touching recency.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.entries.peek(key).map(|(v, _)| v)
    }

    pub fn contains(&self, key: &K) -> bool {
        self.entries.contains(key)
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_by_bytes() {
        let mut c = ByteLru::new(100);
        assert!(c.insert(1, "a", 40).is_empty());
        assert!(c.insert(2, "b", 40).is_empty());
        // Touch 1 so 2 becomes the oldest.
        assert_eq!(c.get(&1), Some(&"a"));
        let evicted = c.insert(3, "c", 40);
        assert_eq!(evicted, vec![2]);
        assert_eq!(c.bytes(), 80);
        assert!(c.contains(&1) && c.contains(&3) && !c.contains(&2));
    }

    #[test]
    fn replacing_an_entry_updates_the_byte_count() {
        let mut c = ByteLru::new(100);
        c.insert(1, "a", 60);
        c.insert(1, "b", 10);
        assert_eq!(c.bytes(), 10);
        assert_eq!(c.peek(&1), Some(&"b"));
    }

    #[test]
    fn one_oversized_entry_is_kept() {
        let mut c = ByteLru::new(10);
        c.insert(1, "big", 50);
        assert_eq!(c.len(), 1);
    }
}
