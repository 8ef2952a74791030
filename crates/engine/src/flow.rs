//! Bounded flow table.
//!
//! Flows live in a slab (`Vec<Flow>`, a free slot has id 0) indexed through an
//! ahash map keyed by the canonical 5-tuple (client, server). A flow never
//! moves: it is created in its slot, ended there, and the slot (its buffers
//! released) is reused by the next flow, so a SYN flood that evicts a flow per
//! packet copies no flow state. A FIFO of (slot, id) in
//! creation order drives both idle expiry and eviction, with a second chance
//! for flows that carried data recently: when the table is full, embryonic
//! flows (SYN floods) go first and live HMI/engineering sessions survive.

use crate::session::{CotpDir, FlowFlags};
use crate::stream::{Framer, TcpDir};
use crate::time::Ts;
use std::collections::{HashMap, VecDeque};
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
}

/// One tracked connection.
#[derive(Debug)]
pub struct Flow {
    /// Unique id (never reused; 0: a free slot).
    pub id: u64,
    /// Key.
    pub key: FlowKey,
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
    map: HashMap<FlowKey, usize, ahash::RandomState>,
    slots: Vec<Flow>,
    free: Vec<usize>,
    order: VecDeque<(usize, u64)>,
    next_id: u64,
    cap: usize,
}

impl FlowTable {
    /// A table holding at most `cap` flows.
    pub fn new(cap: usize) -> FlowTable {
        let cap = cap.max(1);
        let pre = cap.min(4096);
        FlowTable {
            map: HashMap::with_capacity_and_hasher(pre, ahash::RandomState::new()),
            slots: Vec::with_capacity(pre),
            free: Vec::new(),
            order: VecDeque::with_capacity(pre),
            next_id: 1,
            cap,
        }
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether the table is at its cap.
    pub fn is_full(&self) -> bool {
        self.map.len() >= self.cap
    }

    /// Slot of `key`, if tracked.
    pub fn find(&self, key: &FlowKey) -> Option<usize> {
        self.map.get(key).copied()
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

    /// Insert a new flow (caller made room). Returns its slot.
    pub fn insert(&mut self, key: FlowKey, ts: Ts) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        let slot = match self.free.pop() {
            Some(s) => {
                // A free slot's directions were reset when its flow was removed:
                // only the header is written.
                let f = &mut self.slots[s];
                f.id = id;
                f.key = key;
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
                    created: ts,
                    last_seen: ts,
                    carried_data: false,
                    flags: FlowFlags::default(),
                    dirs: Default::default(),
                });
                self.slots.len() - 1
            }
        };
        self.map.insert(key, slot);
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
        f.dirs = Default::default();
        let key = f.key;
        self.map.remove(&key);
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
        if self.order.len() > 4 * self.map.len() + 1024 {
            let slots = &self.slots;
            self.order.retain(|(s, id)| matches!(slots.get(*s), Some(f) if f.id == *id));
        }
    }
}
