//! Detection: turns engine [`Event`]s into [`Alert`]s.
//!
//! One module per rule family ([`malformed`], [`crash_pattern`], [`control`],
//! [`flood`], [`loss`], [`baseline`], and the IP part of `evasion` in
//! [`ip_evasion`]); each is a set of small functions that
//! *read* decoded PDUs and the per-flow / per-PLC state kept here — they never
//! parse bytes. The `baseline` family also keeps the passive asset inventory
//! ([`crate::assets::Fleet`]); it is off unless [`Detector::enable_assets`] is
//! called.
//! Time is packet time: timers (confirmation deadlines, loss of communication,
//! aggregation windows) advance with [`Event::Tick`], so a replay raises the
//! same alerts at any speed.
//!
//! Repeats are aggregated: the first occurrence of a rule between two hosts
//! alerts at once; further occurrences within
//! [`config::Thresholds::aggregate_seconds`] are counted and reported in one
//! follow-up alert carrying the count. Baseline alerts (one per new thing) and
//! loss-of-communication / uninspectable alerts are not aggregated.

pub mod alert;
pub mod baseline;
#[cfg(test)]
mod cap_tests;
mod caps;
pub mod catalog;
mod cidr;
mod classify;
pub mod config;
mod confirm;
pub mod control;
pub mod crash_pattern;
mod ctx;
#[cfg(test)]
mod deps_tests;
mod emit;
pub mod flood;
pub mod ip_evasion;
pub mod loss;
pub mod malformed;
pub mod policy;
mod raise;
mod state;
pub mod storm;
pub mod stream_evasion;
mod table;
mod txn;

use crate::assets::{Baseline, Fleet};
use crate::event::{Event, EventSink};
use crate::time::Ts;
pub use alert::{Alert, Category, Severity};
pub use caps::{Cap, CapCounters};
use catalog::{RuleId, RULES};
pub use config::DetectConfig;
pub use emit::NO_ALERT_FLOOR;
use emit::{AggEntry, AggKey};
pub(crate) use raise::{Later, Msg, Raise};
use serde_json::{json, Map, Value};
pub(crate) use state::{FlowIdHasher, FlowState, PendingOp, PlcState, Suspect};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;

type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

pub(crate) const MAX_PENDING_OPS: usize = 32;

/// The detector: an [`EventSink`] that accumulates alerts; drain them with [`Detector::drain`].
///
/// Its flow and PLC tables are kept apart from the rest ([`Core`]: the
/// configuration, the alert path, counters and the other state), so that
/// each event's flow and PLC, looked up once into a [`ctx::Ctx`], are handed
/// to every rule family together with the core. The detector dereferences to
/// its core (counters, policy, configuration and the inventory accessors).
pub struct Detector {
    /// Per-connection state, by the engine's flow id.
    pub(crate) flows: ctx::FlowTable,
    /// Per-PLC state, by address.
    pub(crate) plcs: ctx::PlcTable,
    core: Core,
}

impl std::ops::Deref for Detector {
    type Target = Core;
    #[inline(always)]
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl std::ops::DerefMut for Detector {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Core {
        &mut self.core
    }
}

/// Everything of the [`Detector`] but its flow and PLC tables: configuration,
/// rule switches and severities, the alert path (aggregation, policy, queued
/// alerts), counters, timers, the current event's classification and closed
/// transaction, the inventory and the request-storm rates.
pub struct Core {
    pub(crate) cfg: DetectConfig,
    enabled: Vec<bool>,
    severity: Vec<Severity>,
    pcap: String,
    agg: FastMap<(RuleId, IpAddr, IpAddr), AggEntry>,
    /// Last occurrence (ts, frame) of every aggregation window each time one
    /// was folded in, smallest first; entries of windows since folded again or
    /// closed are stale and dropped when they reach the top (see
    /// [`Detector::alert_floor`]).
    agg_lasts: BinaryHeap<Reverse<(Ts, u64, AggKey)>>,
    /// [`Detector::alert_floor`] as last computed; `None` once a fold, a
    /// flush or the end of a wait may have moved it.
    floor: Option<(Ts, u64)>,
    /// (ts, frame) of everything waiting ([`Waiting`]) when it began to wait,
    /// smallest first; entries of what no longer waits are dropped when they
    /// reach the top, and all at once when the heap reaches `late_prune_at`
    /// ([`Detector::prune_late`]).
    late: BinaryHeap<Reverse<(Ts, u64, Waiting)>>,
    late_prune_at: usize,
    out: Vec<Alert>,
    pub(crate) now: Ts,
    last_frame: u64,
    next_timer: Ts,
    /// Alerts raised per rule (catalogue order), follow-ups included.
    pub counts: Vec<u64>,
    /// Occurrences folded into aggregated follow-ups, per rule.
    pub suppressed: Vec<u64>,
    /// Request→answer latencies (PLC, seconds) since the last [`Detector::swap_observations`].
    latencies: Vec<(IpAddr, f64)>,
    /// Operating-state changes seen (PLC, "stop" | "start").
    state_changes: Vec<(IpAddr, &'static str)>,
    /// Function class of the current event's S7comm request (client to PLC),
    /// computed once per PDU ([`classify::s7_request_function`]) before the
    /// families run; `None` for other events.
    pub(crate) s7_kind: Option<crate::assets::FunctionKind>,
    /// The transaction the current event closed (set by [`txn::on_event`]).
    pub(crate) closed: Option<txn::Closed>,
    /// Flows with an [`flood::AmqWatch`].
    pub(crate) amq_watching: u32,
    /// Ids of control operations waiting for answers.
    pub(crate) next_op: u32,
    /// Caps hit.
    pub(crate) caps: CapCounters,
    /// The asset inventory, when tracking is on.
    pub(crate) assets: Option<Box<baseline::AssetTracker>>,
    /// Learning period to start at the next packet (see [`Detector::set_learning`]).
    pub(crate) learn: Option<std::time::Duration>,
    /// `[[policy]]` suppression / regrading and learned quirks, with their counters.
    pub policy: policy::Policy,
    /// Request rates per (talker, PLC) and class, learned rates (see [`storm`]).
    pub(crate) storms: storm::Storms,
}

/// The fleet [`Detector::fleet`] shows while tracking is off.
static NO_FLEET: Fleet = Fleet {
    devices: std::collections::BTreeMap::new(),
    baseline: Baseline::Off,
    evicted: 0,
    quirks: std::collections::BTreeMap::new(),
    storm_rates: std::collections::BTreeMap::new(),
};

/// What the exporter publishes per PLC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlcSummary {
    /// PLC address.
    pub ip: IpAddr,
    /// Answering (0 while an outage is declared).
    pub responding: bool,
    /// Jobs sent to it and not yet answered.
    pub outstanding: u32,
}

/// Measurements for metrics, drained periodically.
#[derive(Debug, Default)]
pub struct Observations {
    /// Request→answer latencies (PLC, seconds).
    pub latencies: Vec<(IpAddr, f64)>,
    /// Operating-state changes (PLC, "stop" | "start").
    pub state_changes: Vec<(IpAddr, &'static str)>,
}

/// What the exporter publishes of the detector, filled by
/// [`Detector::snapshot`]: a plain value, so that the exporter never reaches
/// into the detector. Kept between flushes, it keeps its buffers' capacity.
#[derive(Debug, Default)]
pub struct DetectorSnapshot {
    /// Caps hit so far.
    pub caps: CapCounters,
    /// Alerts suppressed by a `[[policy]]` entry so far, per rule (catalogue order).
    pub suppressed: Vec<u64>,
    /// Per-PLC state (sorted by address).
    pub plcs: Vec<PlcSummary>,
    /// Latencies and state changes since the previous snapshot.
    pub observations: Observations,
}

const MAX_OBSERVATIONS: usize = 4096;

/// Latency samples kept between two exporter flushes.
pub const MAX_LATENCY_SAMPLES: usize = MAX_OBSERVATIONS;

impl Detector {
    /// Per-PLC state for metrics (sorted by address).
    pub fn plc_summaries(&self) -> Vec<PlcSummary> {
        let mut v: Vec<PlcSummary> = self
            .plcs
            .iter()
            .filter(|(_, p)| p.answered_ever)
            .map(|(ip, p)| PlcSummary { ip: *ip, responding: p.outage.is_none(), outstanding: 0 })
            .collect();
        v.sort_by_key(|s| s.ip);
        // Answers older than the response timeout are assumed lost, not outstanding.
        let horizon = Ts(self.now.0.saturating_sub((self.cfg.thresholds.response_timeout_ms as i64) * 1_000_000));
        for f in self.flows.values() {
            if let Some((ip, _)) = f.server {
                if let Ok(i) = v.binary_search_by_key(&ip, |s| s.ip) {
                    v[i].outstanding += f.txns.outstanding_jobs(horizon);
                }
            }
        }
        v
    }

    /// Hand over the latency and state-change observations gathered since the
    /// last call: `obs` is cleared and swapped with the detector's buffers, so
    /// both keep their capacity and steady-state operation allocates nothing.
    pub fn swap_observations(&mut self, obs: &mut Observations) {
        obs.latencies.clear();
        obs.state_changes.clear();
        std::mem::swap(&mut self.latencies, &mut obs.latencies);
        std::mem::swap(&mut self.state_changes, &mut obs.state_changes);
    }

    /// Fill `s` with what the exporter publishes: counters so far, per-PLC
    /// state now, and the observations gathered since the last snapshot (handed
    /// over as by [`Detector::swap_observations`]).
    pub fn snapshot(&mut self, s: &mut DetectorSnapshot) {
        s.caps = self.caps();
        s.suppressed.clear();
        s.suppressed.extend_from_slice(&self.policy.suppressed);
        s.plcs = self.plc_summaries();
        self.swap_observations(&mut s.observations);
    }

    /// Detector caps hit so far.
    pub fn caps(&self) -> CapCounters {
        let mut c = self.caps;
        c[Cap::Quirks] = self.policy.quirks_dropped;
        c
    }

    /// Latency samples dropped because more than [`MAX_LATENCY_SAMPLES`] answers
    /// arrived between two [`Detector::swap_observations`] calls.
    pub fn latency_samples_dropped(&self) -> u64 {
        self.caps[Cap::LatencySamples]
    }

    /// Per-rule switches and severities of `cfg`, and its compiled policy
    /// (entries that do not compile are left out: [`DetectConfig::from_toml`]
    /// refuses them first).
    fn compile(cfg: &DetectConfig) -> (Vec<bool>, Vec<Severity>, policy::Policy) {
        let mut enabled = vec![true; RULES.len()];
        let mut severity: Vec<Severity> = RULES.iter().map(|r| r.severity).collect();
        for (id, o) in &cfg.rules {
            if let Some(i) = catalog::find(id) {
                if let Some(e) = o.enabled {
                    enabled[i] = e;
                }
                if let Some(s) = o.severity {
                    severity[i] = s;
                }
            }
        }
        let policy = policy::Policy::compile(&cfg.policy).map(|(p, _)| p).unwrap_or_default();
        (enabled, severity, policy)
    }

    /// Replace the configuration (engineering hosts, known PLCs, thresholds, rule
    /// switches and severities, policies) while keeping every piece of state:
    /// flows, pending operations, timers, aggregation windows, PLC state, the
    /// inventory and baseline (learned quirks included), and all counters. New
    /// thresholds apply from the next occurrence on (an open aggregation window
    /// keeps its end).
    pub fn reconfigure(&mut self, cfg: DetectConfig) {
        let (enabled, severity, mut policy) = Detector::compile(&cfg);
        policy.keep_counters(&self.policy);
        self.enabled = enabled;
        self.severity = severity;
        self.policy = policy;
        self.cfg = cfg;
    }

    /// A detector with `cfg`.
    pub fn new(cfg: DetectConfig) -> Detector {
        let (enabled, severity, policy) = Detector::compile(&cfg);
        let core = Core {
            cfg,
            enabled,
            severity,
            policy,
            pcap: String::new(),
            agg: FastMap::default(),
            agg_lasts: BinaryHeap::new(),
            floor: None,
            late: BinaryHeap::new(),
            late_prune_at: LATE_PRUNE_MIN,
            out: Vec::new(),
            now: Ts(i64::MIN),
            last_frame: 0,
            next_timer: Ts(i64::MIN),
            counts: vec![0; RULES.len()],
            suppressed: vec![0; RULES.len()],
            latencies: Vec::with_capacity(MAX_OBSERVATIONS),
            state_changes: Vec::new(),
            s7_kind: None,
            closed: None,
            next_op: 0,
            amq_watching: 0,
            caps: CapCounters::default(),
            assets: None,
            learn: None,
            storms: storm::Storms::default(),
        };
        Detector { flows: ctx::FlowTable::default(), plcs: ctx::PlcTable::default(), core }
    }

    /// Switch asset tracking on, starting from `fleet` (empty, or loaded from
    /// the inventory store). Replaces the fleet if tracking was already on.
    /// From now on the detector fills the fleet and raises the `baseline`
    /// rules; see [`baseline`].
    pub fn enable_assets(&mut self, fleet: Fleet) {
        storm::adopt_learned(&mut self.storms, &fleet);
        self.assets = Some(Box::new(baseline::AssetTracker::new(fleet)));
    }

    /// Whether asset tracking is on.
    pub fn assets_enabled(&self) -> bool {
        self.assets.is_some()
    }

    /// The fleet (an empty one while tracking is off).
    pub fn fleet(&self) -> &Fleet {
        self.assets.as_ref().map_or(&NO_FLEET, |t| &t.fleet)
    }

    /// The fleet, to change it from outside (an operator's baseline decision);
    /// counts as a change. `None` while tracking is off.
    pub fn fleet_mut(&mut self) -> Option<&mut Fleet> {
        self.assets.as_mut().map(|t| {
            t.revision += 1;
            t.generation += 1;
            &mut t.fleet
        })
    }

    /// Take the fleet out and switch tracking off (`None` when it was off).
    pub fn take_fleet(&mut self) -> Option<Fleet> {
        self.assets.take().map(|t| t.fleet)
    }

    /// Counter bumped on every change of the fleet, last-seen times and use
    /// counts included (0 while tracking is off). Compare with the value at the
    /// last save to know whether there is anything to save. While a connection
    /// lasts, its last-seen times and use counts reach the fleet at most once a
    /// second of packet time (and exactly when it ends).
    pub fn fleet_generation(&self) -> u64 {
        self.assets.as_ref().map_or(0, |t| t.generation)
    }

    /// Counter bumped on changes of the fleet other than last-seen times and use
    /// counts: new devices, talkers, functions, identity, roles, connection
    /// facts, state changes, baseline mode (0 while tracking is off). A store
    /// can save at once when it moves and on a timer when only
    /// [`Detector::fleet_generation`] moved.
    pub fn fleet_revision(&self) -> u64 {
        self.assets.as_ref().map_or(0, |t| t.revision)
    }

    /// Learn for `d` of packet time from the next packet on: if the fleet's
    /// baseline is [`Baseline::Off`] at that packet, it becomes
    /// `Learning { until: packet time + d }`; when packet time reaches `until`
    /// the baseline freezes ([`Fleet::freeze`]). A fleet already learning or
    /// frozen (loaded from the store) keeps its mode. Takes effect once
    /// tracking is on ([`Detector::enable_assets`], before or after this call).
    pub fn set_learning(&mut self, d: std::time::Duration) {
        self.learn = Some(d);
    }

    /// Freeze the baseline now (at `now`, normally the latest packet time,
    /// [`Detector::now`]); no effect while tracking is off.
    pub fn freeze_baseline(&mut self, now: Ts) {
        if let Some(t) = self.assets.as_mut() {
            t.fleet.freeze(now);
            t.revision += 1;
            t.generation += 1;
        }
    }

    /// Latest packet time seen (`Ts(i64::MIN)` before the first packet).
    pub fn now(&self) -> Ts {
        self.now
    }

    /// Name written into the `pcap` field of following alerts.
    pub fn set_source(&mut self, name: &str) {
        self.pcap.clear();
        self.pcap.push_str(name);
    }

    /// The earliest (ts, frame) an alert raised from now on can carry, other
    /// than the current packet's: the smallest of the last occurrences of the
    /// open aggregation windows that folded something (`Core::agg_floor`:
    /// their follow-ups carry it; a window that folded nothing raises no
    /// follow-up) and of the requests of everything still waiting
    /// (`Waiting`: control operations waiting for the PLC's answer or
    /// deadline, AmQ excesses waiting for the answers, tracked connections
    /// not answered yet). [`NO_ALERT_FLOOR`] when there is none. A replay
    /// holds the alerts at or after it and releases them in canonical order
    /// once it passes them, so alerts come out in packet-time order
    /// (`s7sentry_sensor::Pipeline`, which adds the engine's floor). Cached;
    /// amortized O(log entries) per fold or wait; no allocation once the
    /// heaps have grown.
    pub fn alert_floor(&mut self) -> (Ts, u64) {
        if let Some(f) = self.core.floor {
            return f;
        }
        let mut f = self.core.agg_floor();
        let Detector { flows, core, .. } = self;
        while let Some(&Reverse((ts, frame, w))) = core.late.peek() {
            if still_waiting(flows, core, ts, frame, w) {
                f = f.min((ts, frame));
                break;
            }
            core.late.pop();
        }
        core.floor = Some(f);
        f
    }

    /// Drop the entries of [`Core::late`] that no longer wait, once it has
    /// grown to twice what waited at the last prune (at least
    /// `LATE_PRUNE_MIN`): bounded by what waits, amortized O(1) per wait.
    #[cold]
    #[inline(never)]
    fn prune_late(&mut self) {
        let Detector { flows, core, .. } = self;
        let mut v = std::mem::take(&mut core.late).into_vec();
        v.retain(|&Reverse((ts, frame, w))| still_waiting(flows, core, ts, frame, w));
        core.late_prune_at = (2 * v.len()).max(LATE_PRUNE_MIN);
        core.late = BinaryHeap::from(v);
    }

    /// Take the alerts raised so far.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Alert> {
        self.out.drain(..)
    }

    /// Whether alerts are waiting.
    pub fn has_alerts(&self) -> bool {
        !self.out.is_empty()
    }

    /// Configuration.
    pub fn config(&self) -> &DetectConfig {
        &self.cfg
    }

    /// Evaluate every pending timer up to the last packet time and flush
    /// aggregation windows (end of a capture).
    pub fn finish(&mut self) {
        let now = self.now;
        self.timers(now, true);
        let keys = self.agg_keys_due(None);
        for k in keys {
            self.flush_agg(k);
        }
    }

    /// The state of PLC `ip` (created when missing) and the cap counters.
    #[cfg(test)]
    pub(crate) fn plc_caps(&mut self, ip: IpAddr) -> (&mut PlcState, &mut CapCounters) {
        let Detector { plcs, core, .. } = self;
        (ctx::PlcLookup::plc_for(plcs, ip, &mut core.caps), &mut core.caps)
    }

    /// [`Core::emit`] with the PLC table (no current event).
    #[cfg(test)]
    pub(crate) fn emit<E: raise::Evidence>(&mut self, r: Raise<'_, E>) {
        let Detector { plcs, core, .. } = self;
        core.emit(plcs, r);
    }

    /// The state of PLC `ip` (created when missing).
    #[cfg(test)]
    pub(crate) fn plc(&mut self, ip: IpAddr) -> &mut PlcState {
        self.plc_caps(ip).0
    }

    /// Run timers if packet time advanced enough.
    fn tick(&mut self, ts: Ts) {
        if ts > self.now {
            self.now = ts;
        }
        if self.now >= self.next_timer {
            self.timers(self.now, false);
            self.next_timer = self.now.plus_ms(100);
        }
    }

    fn timers(&mut self, now: Ts, end: bool) {
        // What stopped waiting without saying so (a flow the table forgot) no
        // longer holds the floor down.
        self.core.floor = None;
        let Detector { flows, plcs, core } = self;
        control::expire_pending(core, flows, plcs, now, end);
        flood::amq_timers(core, flows, plcs, now, end);
        loss::check(core, plcs, now);
        if !core.agg.is_empty() {
            for k in core.agg_keys_due(Some(now)) {
                core.flush_agg(k);
            }
        }
    }
}

impl Core {
    pub(crate) fn observe_latency(&mut self, plc: IpAddr, secs: f64) {
        // Bounded and preallocated: at most MAX_LATENCY_SAMPLES per exporter flush
        // (one second); beyond that the histogram is a sample.
        if self.latencies.len() < self.latencies.capacity() {
            self.latencies.push((plc, secs));
        } else {
            self.caps[Cap::LatencySamples] += 1;
        }
    }

    pub(crate) fn observe_state(&mut self, plc: IpAddr, state: &'static str) {
        if self.state_changes.len() < MAX_OBSERVATIONS {
            self.state_changes.push((plc, state));
        } else {
            self.caps[Cap::StateChanges] += 1;
        }
    }

    /// `w` began to wait at `meta`'s packet: the floor stays at or below it
    /// while it waits ([`Detector::alert_floor`]).
    pub(crate) fn wait(&mut self, meta: &crate::event::Meta, w: Waiting) {
        self.late.push(Reverse((meta.ts, meta.frame, w)));
        self.floor = None;
    }
}

/// Something waiting whose outcome is raised later with the (ts, frame) of
/// an earlier packet (see [`Detector::alert_floor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Waiting {
    /// A control operation waiting for the PLC's answer (flow, operation id):
    /// reported at its request.
    Op(u64, u32),
    /// Jobs above the AmQ waiting for the PLC's answers (flow): judged at the
    /// job that went above it.
    Amq(u64),
    /// A tracked connection not answered yet (flow): its first answer raises
    /// the baseline alerts at its first request.
    Unanswered(u64),
}

/// Entries of [`Core::late`] below which it is never pruned.
const LATE_PRUNE_MIN: usize = 4096;

/// Whether the entry (`ts`, `frame`, `w`) of [`Core::late`] still waits.
fn still_waiting(flows: &ctx::FlowTable, core: &Core, ts: Ts, frame: u64, w: Waiting) -> bool {
    match w {
        Waiting::Op(flow, id) => flows.get(&flow).is_some_and(|f| f.pending.iter().any(|p| p.id == id)),
        Waiting::Amq(flow) => flows.get(&flow).is_some_and(|f| f.amq_watch.is_some_and(|a| a.at() == (ts, frame))),
        Waiting::Unanswered(flow) => {
            core.assets.as_ref().and_then(|t| baseline::unanswered_since(t, flow)) == Some((ts, frame))
        }
    }
}

/// Evidence helpers.
pub(crate) fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let b = &b[..b.len().min(64)];
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 0x0F)]));
    }
    s
}

pub(crate) fn ev(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect()
}

impl EventSink for Detector {
    /// The two events of nearly every frame, its `Tick` and a plain TCP segment
    /// (no SYN or RST, not a retransmission: in-order data, a pure ACK), are
    /// handled here; the others go through [`Detector::dispatch`].
    #[inline]
    fn on_event(&mut self, e: &Event<'_>) {
        match e {
            Event::Tick { ts, frame } => self.on_tick(*ts, *frame),
            Event::Tcp { meta, flags, payload_len, retransmission, .. }
                if flags & (crate::event::tcp_flags::SYN | crate::event::tcp_flags::RST) == 0 && !retransmission =>
            {
                if meta.ts > self.now {
                    self.now = meta.ts;
                }
                self.last_frame = meta.frame;
                self.s7_kind = None;
                self.closed = None;
                // Loss reads only SYNs and retransmissions; flood only that data ends an
                // embryonic connection.
                if *payload_len > 0 && meta.flow != 0 {
                    let Detector { flows, plcs, core } = self;
                    flood::data_seen_tables(flows, plcs, &mut core.caps, meta);
                }
            }
            _ => self.dispatch(e),
        }
    }
}

impl Detector {
    fn on_tick(&mut self, ts: Ts, frame: u64) {
        if frame != 0 {
            self.last_frame = frame;
        }
        self.tick(ts);
        let core = &mut self.core;
        if let Some(t) = core.assets.as_mut() {
            baseline::advance(t, &mut core.learn, ts);
        }
    }

    /// Every event but a tick and a plain TCP segment ([`EventSink::on_event`]).
    #[inline(never)]
    fn dispatch(&mut self, e: &Event<'_>) {
        let meta = match e {
            Event::Tick { ts, frame } => {
                self.on_tick(*ts, *frame);
                return;
            }
            Event::Tcp { meta, .. }
            | Event::Cotp { meta, .. }
            | Event::S7 { meta, .. }
            | Event::S7Plus { meta, .. }
            | Event::Tls { meta, .. }
            | Event::Finding { meta, .. }
            | Event::IpFragment { meta, .. }
            | Event::IpDefrag { meta, .. }
            | Event::Stream { meta, .. } => {
                if meta.ts > self.now {
                    self.now = meta.ts;
                }
                self.last_frame = meta.frame;
                meta
            }
            Event::FlowEnd { meta, .. } => meta,
        };
        let Detector { flows, plcs, core } = self;
        // The event's flow and PLC, looked up once (on first use) for every family.
        let mut cx = ctx::Ctx::new(flows, plcs, meta);
        core.run_families(&mut cx, e);
        if let Event::FlowEnd { meta, .. } = e {
            flows.discard(&meta.flow);
            core.floor = None;
        }
        if core.late.len() > core.late_prune_at {
            self.prune_late();
        }
    }
}

impl Core {
    /// Hand `e` to the families that read its kind, with its context.
    #[inline(always)]
    fn run_families(&mut self, cx: &mut ctx::Ctx<'_>, e: &Event<'_>) {
        // A TCP segment reaches only flood and loss (no per-family call for nothing).
        if let Event::Tcp { .. } = e {
            self.s7_kind = None;
            self.closed = None;
            flood::on_event(self, cx, e);
            loss::on_event(self, cx, e);
            return;
        }
        // A flow end reaches only the families that read it: the inventory, and
        // flood and control, which release its counts and report its waiting
        // operations (the others ignore it).
        if let Event::FlowEnd { .. } = e {
            self.s7_kind = None;
            self.closed = None;
            if self.assets.is_some() {
                baseline::on_event(self, cx, e);
            }
            flood::flow_end(self, cx);
            control::flow_end(self, cx);
            return;
        }
        match e {
            Event::Cotp { cotp, .. } => {
                let f = cx.flow();
                match cotp.code {
                    s7sentry_proto::cotp::TpduCode::CR => f.saw_cr = true,
                    s7sentry_proto::cotp::TpduCode::CC => f.saw_cc = true,
                    _ => {}
                }
            }
            Event::Tls { meta, first: true, len } => {
                let f = cx.flow();
                if !f.tls_reported {
                    f.tls_reported = true;
                    let (plc, _) = meta.server();
                    let msg = format!(
                        "S7comm-plus connection {}:{} -> {}:{} switched to TLS after InitSSL: its content cannot be inspected",
                        meta.client().0,
                        meta.client().1,
                        plc,
                        meta.server().1
                    );
                    let e = ev(&[("layer", json!("s7comm-plus")), ("first_tls_payload_len", json!(len))]);
                    self.emit(cx, Raise::new(catalog::TLS, meta, msg, e));
                }
            }
            _ => {}
        }
        self.s7_kind = match e {
            Event::S7 { meta, pdu, .. } if meta.dir == crate::event::Direction::ToServer => {
                classify::s7_request_function(pdu)
            }
            _ => None,
        };
        // An S7comm PDU skips the families that ignore it.
        let s7 = matches!(e, Event::S7 { .. });
        txn::on_event(self, cx, e);
        if !s7 {
            malformed::on_event(self, cx, e);
        }
        crash_pattern::on_event(self, cx, e);
        if !s7 {
            ip_evasion::on_event(self, cx, e);
            stream_evasion::on_event(self, cx, e);
        }
        // Before `control`: a PLC's first answer creates its inventory entry, so the
        // operation that answer confirms (a STOP, say) finds it.
        if self.assets.is_some() {
            baseline::on_event(self, cx, e);
        }
        control::on_event(self, cx, e);
        confirm::on_event(self, cx, e);
        flood::on_event(self, cx, e);
        loss::on_event(self, cx, e);
    }
}
