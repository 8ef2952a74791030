//! A hash table that remembers its last hit.
//!
//! The rule families look up the same flow and the same PLC several times per
//! event (transactions, control, confirmation, flood, loss, suspects). The
//! values live in a slab (a vector indexed by a hash map); the slot of the last
//! key found is kept, so every lookup after the first for the same event is
//! one comparison instead of a hash and a probe. A value never moves: a
//! removed value is reset to its default in its slot and the slot reused by
//! the next key (a SYN flood creates and removes a flow state per packet;
//! moving them cost more than the rules). The slab holds at most as many slots
//! as values were present at once. Iteration walks the slab (cheaper than the
//! map's buckets for the 100 ms timers), skipping free slots; no caller
//! depends on the order (timers sort what they emit).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Map from `K` to `V` with a one-entry cache of the last key found.
#[derive(Debug)]
pub(crate) struct Table<K, V, S> {
    index: HashMap<K, u32, S>,
    /// Key (`None`: a free slot, its value the default) and value.
    slots: Vec<(Option<K>, V)>,
    /// Free slots.
    free: Vec<u32>,
    /// Last key found and its slot.
    last: Option<(K, u32)>,
}

impl<K, V, S: Default> Default for Table<K, V, S> {
    fn default() -> Self {
        Table { index: HashMap::default(), slots: Vec::new(), free: Vec::new(), last: None }
    }
}

impl<K: Copy + Eq + Hash, V, S: BuildHasher> Table<K, V, S> {
    /// Slot of `k`, remembered for the next lookup.
    #[inline]
    fn find(&mut self, k: &K) -> Option<usize> {
        if let Some((lk, i)) = self.last {
            if lk == *k {
                return Some(i as usize);
            }
        }
        let i = *self.index.get(k)?;
        self.last = Some((*k, i));
        Some(i as usize)
    }

    /// Slot of `k` without updating the cache.
    #[inline]
    fn peek(&self, k: &K) -> Option<usize> {
        match self.last {
            Some((lk, i)) if lk == *k => Some(i as usize),
            _ => self.index.get(k).map(|&i| i as usize),
        }
    }

    /// The value of `k`.
    #[inline]
    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        let i = self.peek(k)?;
        self.slots.get(i).map(|(_, v)| v)
    }

    /// The value of `k`, to change it.
    #[inline]
    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let i = self.find(k)?;
        self.slots.get_mut(i).map(|(_, v)| v)
    }

    /// Whether `k` has a value.
    pub(crate) fn contains_key(&self, k: &K) -> bool {
        self.peek(k).is_some()
    }

    /// The value of `k`, created with `V::default()` when missing.
    #[inline]
    #[cfg(test)]
    pub(crate) fn get_or_default(&mut self, k: K) -> &mut V
    where
        V: Default,
    {
        let i = self.slot_or_default(k);
        &mut self.slots[i].1
    }

    /// Slot of `k` (for [`Table::at_mut`]), remembered for the next lookup.
    #[inline]
    pub(crate) fn slot(&mut self, k: &K) -> Option<usize> {
        self.find(k)
    }

    /// Slot of `k`, its value created with `V::default()` when missing.
    #[inline(always)]
    pub(crate) fn slot_or_default(&mut self, k: K) -> usize
    where
        V: Default,
    {
        match self.find(&k) {
            Some(i) => i,
            None => self.insert_default(k),
        }
    }

    /// Give `k` a slot holding `V::default()` (`k` is not in the table).
    #[inline(never)]
    fn insert_default(&mut self, k: K) -> usize
    where
        V: Default,
    {
        let i = match self.free.pop() {
            // A free slot already holds the default value.
            Some(i) => {
                self.slots[i as usize].0 = Some(k);
                i as usize
            }
            None => {
                self.slots.push((Some(k), V::default()));
                self.slots.len() - 1
            }
        };
        self.index.insert(k, i as u32);
        self.last = Some((k, i as u32));
        i
    }

    /// The value in slot `i`, an index [`Table::slot`] or
    /// [`Table::slot_or_default`] returned (the slab never shrinks, so it stays
    /// in range; it names the same key until that key is removed).
    #[inline]
    pub(crate) fn at_mut(&mut self, i: usize) -> &mut V {
        &mut self.slots[i].1
    }

    /// Remove `k`, returning its value.
    #[cfg(test)]
    pub(crate) fn remove(&mut self, k: &K) -> Option<V>
    where
        V: Default,
    {
        let i = self.free_slot(k)?;
        Some(std::mem::take(&mut self.slots[i].1))
    }

    /// Remove `k` and drop its value in place. Whether it was present.
    pub(crate) fn discard(&mut self, k: &K) -> bool
    where
        V: Default,
    {
        match self.free_slot(k) {
            Some(i) => {
                self.slots[i].1 = V::default();
                true
            }
            None => false,
        }
    }

    /// Unlink `k` from its slot and put the slot on the free list (the caller resets the value).
    fn free_slot(&mut self, k: &K) -> Option<usize> {
        let i = self.index.remove(k)? as usize;
        if self.last.is_some_and(|(lk, _)| lk == *k) {
            self.last = None;
        }
        let slot = self.slots.get_mut(i)?;
        slot.0 = None;
        self.free.push(i as u32);
        Some(i)
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Entries (in no particular order).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().filter_map(|(k, v)| k.as_ref().map(|k| (k, v)))
    }

    /// Values (in no particular order).
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().filter(|(k, _)| k.is_some()).map(|(_, v)| v)
    }

    /// Values, to change them (in no particular order).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().filter(|(k, _)| k.is_some()).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    type T = Table<u64, u32, ahash::RandomState>;

    #[test]
    fn lookups_inserts_and_removals_agree_with_a_map() {
        let mut t = T::default();
        let mut m = std::collections::HashMap::new();
        // A deterministic mix of operations over a few keys.
        let mut x: u64 = 7;
        for _ in 0..10_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let k = (x >> 33) % 37;
            match (x >> 20) % 6 {
                0 => assert_eq!(t.remove(&k), m.remove(&k)),
                5 => assert_eq!(t.discard(&k), m.remove(&k).is_some()),
                1 => assert_eq!(t.get(&k), m.get(&k)),
                2 => assert_eq!(t.get_mut(&k).copied(), m.get(&k).copied()),
                _ => {
                    *t.get_or_default(k) += 1;
                    *m.entry(k).or_default() += 1;
                }
            }
            assert_eq!(t.len(), m.len());
            assert_eq!(t.contains_key(&k), m.contains_key(&k));
        }
        let mut a: Vec<_> = t.iter().map(|(k, v)| (*k, *v)).collect();
        let mut b: Vec<_> = m.into_iter().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert_eq!(t.values().count(), t.len());
        assert!(t.slots.len() <= 37, "slots are reused: at most as many as keys at once");
    }
}
