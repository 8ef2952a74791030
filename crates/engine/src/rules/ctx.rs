//! One context per event: the current flow's and the current PLC's state,
//! looked up once and handed to every rule family.
//!
//! [`Detector::dispatch`](super::Detector) builds a [`Ctx`] for each event
//! (every event but a `Tick` and a plain TCP segment, which the detector
//! handles itself) over the flow and PLC tables, and passes it with the rest
//! of the detector ([`super::Core`]: configuration, counters, the alert path)
//! to the families. The first family that needs the flow (or the PLC) looks
//! it up; the slot is kept and every later access in the same event, by any
//! family or by [`Core::emit`](super::Core) (the PLC's suspects), is an index
//! into the slab. The lookup is made on first use rather than up front so
//! that a flow or PLC entry is created exactly where a family created it
//! before (the PLC table's cap and its evictions count the same), and a
//! family that only reads (`flow_if`) creates nothing.

use super::table::Table;
use super::{Cap, CapCounters, DetectConfig};
use super::{FlowIdHasher, FlowState, PlcState};
use crate::event::Meta;
use crate::time::Ts;
use std::net::IpAddr;

/// Flow id -> per-connection state.
pub(crate) type FlowTable = Table<u64, FlowState, std::hash::BuildHasherDefault<FlowIdHasher>>;
/// PLC address -> per-PLC state.
pub(crate) type PlcTable = Table<IpAddr, PlcState, ahash::RandomState>;

/// PLCs the detector follows (the least recently answering forgotten first).
pub(super) const MAX_PLCS: usize = 4096;

/// Whether `ip` is a PLC: configured, or seen answering on port 102.
pub(crate) fn is_plc(cfg: &DetectConfig, plcs: &PlcTable, ip: IpAddr) -> bool {
    cfg.known_plcs.iter().any(|c| c.contains(ip)) || plcs.get(&ip).is_some_and(|p| p.answered_ever || p.iso_conns > 0)
}

/// Slot of PLC `ip`, created when missing (the table full: the oldest
/// sixteenth forgotten first, counted in `caps`).
#[inline(always)]
pub(crate) fn plc_slot(plcs: &mut PlcTable, ip: IpAddr, caps: &mut CapCounters) -> usize {
    if plcs.len() >= MAX_PLCS && !plcs.contains_key(&ip) {
        evict_plcs(plcs, caps);
    }
    plcs.slot_or_default(ip)
}

/// The PLC table is full and a new PLC comes.
#[cold]
#[inline(never)]
fn evict_plcs(plcs: &mut PlcTable, caps: &mut CapCounters) {
    // Bounded: drop the PLCs that answered least recently (ties by
    // address), a sixteenth of the table at once, so that SYNs toward
    // ever new addresses do not scan the whole table for every packet.
    let mut by_age: Vec<(Ts, IpAddr)> = plcs.iter().map(|(k, p)| (p.last_answer, *k)).collect();
    let n = (MAX_PLCS / 16).min(by_age.len());
    if n > 0 {
        by_age.select_nth_unstable(n - 1);
        for (_, k) in &by_age[..n] {
            plcs.discard(k);
        }
        caps[Cap::Plcs] += n as u64;
    }
}

/// Where the alert path finds the PLC of an alert (its suspects): the
/// event's [`Ctx`], or the PLC table itself for timers (no current event).
pub(crate) trait PlcLookup {
    /// The state of PLC `ip`, created when missing.
    fn plc_for(&mut self, ip: IpAddr, caps: &mut CapCounters) -> &mut PlcState;
}

impl PlcLookup for PlcTable {
    fn plc_for(&mut self, ip: IpAddr, caps: &mut CapCounters) -> &mut PlcState {
        let i = plc_slot(self, ip, caps);
        self.at_mut(i)
    }
}

/// The current event's flow and PLC (see the module documentation).
pub(crate) struct Ctx<'t> {
    /// The event's packet: its flow id, and its client / server (recorded in
    /// a new flow; the server is the PLC).
    meta: &'t Meta,
    flows: &'t mut FlowTable,
    plcs: &'t mut PlcTable,
    /// Slot of the flow, once looked up.
    flow: Option<usize>,
    /// Slot of the PLC (the server's address), once looked up.
    plc: Option<usize>,
}

impl<'t> Ctx<'t> {
    /// The context of the event about `meta`; nothing looked up yet.
    #[inline]
    pub(crate) fn new(flows: &'t mut FlowTable, plcs: &'t mut PlcTable, meta: &'t Meta) -> Ctx<'t> {
        Ctx { meta, flows, plcs, flow: None, plc: None }
    }

    /// The event's flow state, created when missing.
    #[inline(always)]
    pub(crate) fn flow(&mut self) -> &mut FlowState {
        let i = match self.flow {
            Some(i) => i,
            None => {
                let i = self.flows.slot_or_default(self.meta.flow);
                let f = self.flows.at_mut(i);
                if f.client.is_none() {
                    f.client = Some(self.meta.client());
                    f.server = Some(self.meta.server());
                }
                self.flow = Some(i);
                i
            }
        };
        self.flows.at_mut(i)
    }

    /// The event's flow state if there is one (nothing created).
    #[inline(always)]
    pub(crate) fn flow_if(&mut self) -> Option<&mut FlowState> {
        let i = match self.flow {
            Some(i) => i,
            None => {
                let i = self.flows.slot(&self.meta.flow)?;
                self.flow = Some(i);
                i
            }
        };
        Some(self.flows.at_mut(i))
    }

    /// The event's PLC state (the server's address), created when missing.
    #[inline(always)]
    pub(crate) fn plc(&mut self, caps: &mut CapCounters) -> &mut PlcState {
        let i = match self.plc {
            Some(i) => i,
            None => {
                let i = plc_slot(self.plcs, self.meta.server().0, caps);
                self.plc = Some(i);
                i
            }
        };
        self.plcs.at_mut(i)
    }

    /// The state of PLC `ip` if there is one (nothing created).
    pub(crate) fn plc_if(&mut self, ip: IpAddr) -> Option<&mut PlcState> {
        if ip == self.meta.server().0 {
            if let Some(i) = self.plc {
                return Some(self.plcs.at_mut(i));
            }
        }
        self.plcs.get_mut(&ip)
    }

    /// Whether `ip` is a PLC ([`is_plc`]).
    pub(crate) fn is_plc(&self, cfg: &DetectConfig, ip: IpAddr) -> bool {
        is_plc(cfg, self.plcs, ip)
    }
}

impl PlcLookup for Ctx<'_> {
    #[inline(always)]
    fn plc_for(&mut self, ip: IpAddr, caps: &mut CapCounters) -> &mut PlcState {
        if ip == self.meta.server().0 {
            return self.plc(caps);
        }
        // Another PLC than the event's (not seen so far): a lookup, which may
        // forget PLCs to make room, the event's among them.
        let evicted = caps[Cap::Plcs];
        let i = plc_slot(self.plcs, ip, caps);
        if caps[Cap::Plcs] != evicted {
            self.plc = None;
        }
        self.plcs.at_mut(i)
    }
}
