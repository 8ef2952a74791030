//! Bounded flow table.
//!
//! Flows live in a slab (`Vec<Flow>`, a free slot has id 0) indexed through an
//! open-addressing index keyed by a keyed hash (ahash) of the canonical
//! 5-tuple (client, server). The engine hashes a frame's key once
//! ([`FlowTable::hash`]) for the lookup and, when the flow is new, the insert;
//! a flow keeps its hash, so removing it hashes nothing. A flow never moves:
//! it is created in its slot, ended there, and the slot (its buffers
//! released) is reused by the next flow, so a SYN flood that evicts a flow per
//! packet copies no flow state. A FIFO of (slot, id) in
//! creation order drives both idle expiry and eviction, with a second chance
//! for flows that carried data recently: when the table is full, embryonic
//! flows (SYN floods) go first and live HMI/engineering sessions survive.

use crate::session::{CotpDir, FlowFlags};
use crate::stream::{Framer, TcpDir};
use crate::time::Ts;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// Canonical flow key: the server is the side on an ISO-on-TCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// Client address and port.
    pub client: (IpAddr, u16),
    /// Server (PLC) address and port.
    pub server: (IpAddr, u16),
}

/// Hashes an IPv4 key as two words (address and port packed), an IPv6 key as
/// four: one hasher round per word instead of one per field.
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        fn end(state: &mut impl Hasher, (ip, port): (IpAddr, u16)) {
            match ip {
                IpAddr::V4(a) => state.write_u64(u64::from(a.to_bits()) << 16 | u64::from(port)),
                IpAddr::V6(a) => {
                    let b = a.to_bits();
                    state.write_u64((b >> 64) as u64);
                    state.write_u64(b as u64 ^ (u64::from(port) << 48 | 1 << 47));
                }
            }
        }
        end(state, self.client);
        end(state, self.server);
    }
}

/// State of one direction.
#[derive(Debug, Default)]
pub struct DirState {
    /// TCP reassembly.
    pub tcp: TcpDir,
    /// TPKT framing.
    pub framer: Framer,
    /// COTP reassembly.
    pub cotp: CotpDir,
}

impl DirState {
    /// Bytes held by this direction's buffers.
    pub fn held(&self) -> usize {
        self.tcp.held() + self.framer.held() + self.cotp.held()
    }

    /// Nothing to deliver or report at the end of the flow: no buffer holds a
    /// byte and no TPKT is unfinished (a direction that only saw a SYN or ACKs).
    pub fn is_empty(&self) -> bool {
        self.held() == 0 && !self.framer.has_partial()
    }

    /// Back to [`DirState::default`], its buffers freed: a direction that
    /// owns no buffer has only its fields written (a SYN flood's flows).
    pub fn clear(&mut self) {
        self.tcp.clear();
        self.framer.clear();
        self.cotp.clear();
    }
}

/// One tracked connection.
#[derive(Debug)]
pub struct Flow {
    /// Unique id (never reused; 0: a free slot).
    pub id: u64,
    /// Key.
    pub key: FlowKey,
    /// [`FlowTable::hash`] of the key (its low 32 bits place it in the index).
    hash: u64,
    /// First packet time.
    pub created: Ts,
    /// Last packet time.
    pub last_seen: Ts,
    /// Whether any payload was seen (embryonic flows have none).
    pub carried_data: bool,
    /// Protocol facts.
    pub flags: FlowFlags,
    /// `[to_server, to_client]`.
    pub dirs: [DirState; 2],
}

/// The table.
pub struct FlowTable {
    hasher: ahash::RandomState,
    index: Index,
    slots: Vec<Flow>,
    free: Vec<usize>,
    order: VecDeque<(usize, u64)>,
    next_id: u64,
    cap: usize,
}

impl FlowTable {
    /// A table holding at most `cap` flows.
    pub fn new(cap: usize) -> FlowTable {
        // The index addresses slots with 32 bits and places entries by the
        // low 32 bits of their hash: at most 2^30 flows.
        let cap = cap.clamp(1, 1 << 30);
        let pre = cap.min(4096);
        FlowTable {
            hasher: ahash::RandomState::new(),
            index: Index::with_capacity(pre),
            slots: Vec::with_capacity(pre),
            free: Vec::new(),
            order: VecDeque::with_capacity(pre),
            next_id: 1,
            cap,
        }
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.index.len
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.index.len == 0
    }

    /// Whether the table is at its cap.
    pub fn is_full(&self) -> bool {
        self.index.len >= self.cap
    }

    /// The table's (keyed) hash of `key`, for [`FlowTable::find_hashed`] and
    /// [`FlowTable::insert`].
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Slot of `key`, if tracked.
    pub fn find(&self, key: &FlowKey) -> Option<usize> {
        self.find_hashed(self.hash(key), key)
    }

    /// Slot of `key` whose [`FlowTable::hash`] is `hash`, if tracked.
    #[inline]
    pub fn find_hashed(&self, hash: u64, key: &FlowKey) -> Option<usize> {
        let slots = &self.slots;
        self.index.find(hash as u32, |s| slots.get(s).is_some_and(|f| f.id != 0 && f.key == *key))
    }

    /// Key of the flow in `slot`, if occupied.
    #[inline]
    pub fn key_at(&self, slot: usize) -> Option<&FlowKey> {
        match self.slots.get(slot) {
            Some(f) if f.id != 0 => Some(&f.key),
            _ => None,
        }
    }

    /// Flow in `slot` (shared).
    #[inline]
    pub fn get(&self, slot: usize) -> Option<&Flow> {
        self.slots.get(slot).filter(|f| f.id != 0)
    }

    /// Flow in `slot`.
    #[inline]
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Flow> {
        self.slots.get_mut(slot).filter(|f| f.id != 0)
    }

    /// Insert a new flow (caller made room and found no flow of `key`);
    /// `hash` is [`FlowTable::hash`] of `key`. Returns its slot.
    pub fn insert(&mut self, key: FlowKey, hash: u64, ts: Ts) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        let slot = match self.free.pop() {
            Some(s) => {
                // A free slot's directions were reset when its flow was removed:
                // only the header is written.
                let f = &mut self.slots[s];
                f.id = id;
                f.key = key;
                f.hash = hash;
                f.created = ts;
                f.last_seen = ts;
                f.carried_data = false;
                f.flags = FlowFlags::default();
                s
            }
            None => {
                self.slots.push(Flow {
                    id,
                    key,
                    hash,
                    created: ts,
                    last_seen: ts,
                    carried_data: false,
                    flags: FlowFlags::default(),
                    dirs: Default::default(),
                });
                self.slots.len() - 1
            }
        };
        // Slot numbers fit the index's 32 bits: there are at most `cap` (< 2^30) slots.
        self.index.insert(hash as u32, slot as u32);
        self.order.push_back((slot, id));
        slot
    }

    /// Remove the flow in `slot` (ended by the caller in place): its buffers
    /// are freed and the slot is free for the next flow. Whether there was one.
    pub fn remove(&mut self, slot: usize) -> bool {
        let Some(f) = self.get_mut(slot) else {
            return false;
        };
        f.id = 0;
        let [a, b] = &mut f.dirs;
        a.clear();
        b.clear();
        let tag = f.hash as u32;
        self.index.remove(tag, slot as u32);
        self.free.push(slot);
        true
    }

    /// Pick a victim for eviction: the oldest flow in creation order, giving
    /// flows that carried data within `protect_ms` a second chance.
    pub fn victim(&mut self, now: Ts, protect_ms: u64) -> Option<usize> {
        let mut requeued = 0;
        while let Some((slot, id)) = self.order.pop_front() {
            let Some(f) = self.slots.get(slot) else {
                continue;
            };
            if f.id != id {
                continue; // stale entry: the slot was freed or reused
            }
            if f.carried_data && now.ms_since(f.last_seen) < protect_ms && requeued < 64 {
                requeued += 1;
                self.order.push_back((slot, id));
                continue;
            }
            return Some(slot);
        }
        None
    }

    /// Flows idle beyond their timeout, examining at most `budget` queue entries.
    pub fn expired(&mut self, now: Ts, idle_ms: u64, embryonic_ms: u64, budget: usize, out: &mut Vec<usize>) {
        for _ in 0..budget.min(self.order.len()) {
            let Some((slot, id)) = self.order.pop_front() else {
                break;
            };
            let Some(f) = self.slots.get(slot) else {
                continue;
            };
            if f.id != id {
                continue;
            }
            let limit = if f.carried_data { idle_ms } else { embryonic_ms };
            if now.ms_since(f.last_seen) >= limit {
                out.push(slot);
            } else {
                self.order.push_back((slot, id));
            }
        }
    }

    /// Every occupied slot.
    pub fn slots(&self) -> Vec<usize> {
        (0..self.slots.len()).filter(|&s| self.slots[s].id != 0).collect()
    }

    /// Compact the order queue when stale entries dominate it.
    pub fn maintain(&mut self) {
        if self.order.len() > 4 * self.index.len + 1024 {
            let slots = &self.slots;
            self.order.retain(|(s, id)| matches!(slots.get(*s), Some(f) if f.id == *id));
        }
    }
}

/// Open-addressing index from a flow's hash to its slot: linear probing, at
/// most half full (it doubles before), removal by backward shift (no
/// tombstones, so a table churned by a SYN flood never degrades or rehashes).
/// An entry is 8 bytes (the hash's low 32 bits and the slot + 1; 0: empty):
/// the 32 768 default flows take 512 KiB, cache-friendlier than a map holding
/// the keys. An entry's home position is its hash's low bits.
struct Index {
    ents: Vec<(u32, u32)>,
    mask: usize,
    len: usize,
}

impl Index {
    /// Room for `n` entries without growing.
    fn with_capacity(n: usize) -> Index {
        let size = (2 * n.max(4)).next_power_of_two();
        Index { ents: vec![(0, 0); size], mask: size - 1, len: 0 }
    }

    /// The slot whose entry has `tag` and for which `is` holds.
    #[inline]
    fn find(&self, tag: u32, is: impl Fn(usize) -> bool) -> Option<usize> {
        let mut i = tag as usize & self.mask;
        loop {
            let (t, s) = *self.ents.get(i)?;
            if s == 0 {
                return None;
            }
            if t == tag && is(s as usize - 1) {
                return Some(s as usize - 1);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn insert(&mut self, tag: u32, slot: u32) {
        if 2 * (self.len + 1) > self.ents.len() {
            self.grow();
        }
        self.place(tag, slot + 1);
        self.len += 1;
    }

    fn place(&mut self, tag: u32, entry: u32) {
        let mut i = tag as usize & self.mask;
        while let Some(e) = self.ents.get_mut(i) {
            if e.1 == 0 {
                *e = (tag, entry);
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    fn grow(&mut self) {
        let size = 2 * self.ents.len();
        let old = std::mem::replace(&mut self.ents, vec![(0, 0); size]);
        self.mask = size - 1;
        for (t, s) in old {
            if s != 0 {
                self.place(t, s);
            }
        }
    }

    /// Remove the entry of `slot` (whose tag is `tag`): the entries after it
    /// in its probe run move back into the hole when their home allows.
    fn remove(&mut self, tag: u32, slot: u32) {
        let mask = self.mask;
        let mut i = tag as usize & mask;
        loop {
            match self.ents.get(i) {
                Some(&(_, s)) if s == slot + 1 => break,
                Some(&(_, 0)) | None => return,
                Some(_) => i = (i + 1) & mask,
            }
        }
        self.len -= 1;
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let Some(&(t, s)) = self.ents.get(j) else {
                return;
            };
            if s == 0 {
                break;
            }
            // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
            let home = t as usize & mask;
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.ents[hole] = (t, s);
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.ents[hole] = (0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(n: u32) -> FlowKey {
        FlowKey {
            client: (IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)), 40_000 + (n % 1000) as u16),
            server: (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 102),
        }
    }

    /// Random inserts, lookups and removals (with colliding tags forced by a
    /// tiny index) agree with a model map.
    #[test]
    fn index_matches_a_model_under_churn() {
        let mut idx = Index::with_capacity(4);
        let mut model: std::collections::HashMap<u32, u32> = Default::default();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for step in 0..200_000u32 {
            let slot = (rnd() % 512) as u32;
            // Few distinct low bits: long probe runs and wrap-around.
            let tag = (slot.wrapping_mul(2_654_435_761) >> 3) & 0x3F | (slot << 16);
            match model.entry(slot) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    if rnd() % 2 == 0 {
                        idx.remove(tag, slot);
                        e.remove();
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    idx.insert(tag, slot);
                    e.insert(tag);
                }
            }
            assert_eq!(idx.len, model.len());
            if step % 97 == 0 {
                for s in 0..512u32 {
                    let t = (s.wrapping_mul(2_654_435_761) >> 3) & 0x3F | (s << 16);
                    let found = idx.find(t, |f| f == s as usize);
                    assert_eq!(found, model.get(&s).map(|_| s as usize), "slot {s} at step {step}");
                }
            }
        }
    }

    /// Clearing a direction (the in-place path: no buffer) gives the default state.
    #[test]
    fn dir_clear_is_default() {
        let fresh = format!("{:?}", DirState::default());
        let mut d = DirState::default();
        d.tcp.fin = true;
        d.tcp.midstream = true;
        d.tcp.pending_syn = Some(7);
        d.tcp.checksums = crate::stream::Checksums::Offload;
        d.tcp.bad_in_row = 3;
        d.tcp.peer_acked(1234);
        d.framer.resync();
        assert_ne!(format!("{d:?}"), fresh);
        d.clear();
        assert_eq!(format!("{d:?}"), fresh);
    }

    /// The table finds what it holds, forgets what it removed and reuses slots.
    #[test]
    fn table_find_insert_remove() {
        let mut t = FlowTable::new(100);
        let mut slots = Vec::new();
        for n in 0..100 {
            let k = key(n);
            assert_eq!(t.find(&k), None);
            slots.push(t.insert(k, t.hash(&k), Ts(0)));
        }
        assert!(t.is_full());
        for n in 0..100 {
            assert_eq!(t.find(&key(n)), Some(slots[n as usize]));
        }
        for n in (0..100).step_by(2) {
            assert!(t.remove(slots[n as usize]));
            assert!(!t.remove(slots[n as usize]));
        }
        for n in 0..100 {
            let want = if n % 2 == 0 { None } else { Some(slots[n as usize]) };
            assert_eq!(t.find(&key(n)), want);
        }
        let k = key(1000);
        let s = t.insert(k, t.hash(&k), Ts(0));
        assert_eq!(s % 2, 0, "a freed slot is reused");
        assert_eq!(t.find(&k), Some(s));
        assert_eq!(t.len(), 51);
    }
}
