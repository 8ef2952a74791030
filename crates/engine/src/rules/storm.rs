//! Request storms (part of rule `flood.requests`): rates judged over time, not
//! in one second.
//!
//! The one-second thresholds of `flood.requests` (`writes_per_second`,
//! `jobs_per_second`) stay as they are. This module adds the judgement of a
//! rate *held*: per (talker, PLC) and per function class (write jobs, read
//! jobs, other requests: every other job and every userdata request), each
//! second's count goes into a ring of the last [`RING`] seconds. A storm is a
//! rate at or above a threshold in every one of `storm_seconds` consecutive
//! seconds (a one-second peak is not a storm), judged on three bases:
//!
//! * `sustained`: the plant default per class (`storm_writes_per_second`,
//!   `storm_reads_per_second`, `storm_other_per_second`);
//! * `repetition` (writes only): at least `storm_repeated_writes_per_second`
//!   writes per second whose items and values (area, DB, offset, length and
//!   the bytes written, hashed) take at most `storm_repeated_max_distinct`
//!   distinct values over the run: the same thing written again and again;
//! * `learned_rate`: while the baseline learns (asset tracking with
//!   `--learn`), each talker's peak sustained rate per class (the highest rate
//!   it held for `storm_seconds`) is learned; after the freeze a talker known
//!   from the learning period is judged against `storm_learned_factor` times
//!   its learned rate, and at least `storm_learned_floor_per_second`, instead of
//!   the plant defaults (which apply to talkers the baseline does not know).
//!
//! One alert per storm and class (the storm lasts until a second falls below
//! its threshold); alerts fold with the rule's other alerts per (source, PLC).
//! The state is bounded ([`MAX_STORM_TALKERS`] pairs, the least recently active
//! forgotten first, learned ones last; counted in
//! [`super::Cap::StormTalkers`]), allocation-free per packet, and
//! kept by [`Detector::reconfigure`](super::Detector::reconfigure) (SIGHUP): learned rates survive a reload.
//!
//! Learned rates are also kept in the fleet ([`Fleet::storm_rates`], saved
//! with it in the `--state` file, at most [`MAX_STORM_TALKERS`] pairs, a pair
//! that finds no room counted in [`super::Cap::StormTalkers`] and the fleet's
//! `evicted`): while the baseline learns, a pair is recorded there when it is
//! first seen and each time one of its learned rates rises (at most once a
//! second per class). A pair's state is seeded from the fleet when it enters
//! the table (and by [`Detector::enable_assets`](super::Detector::enable_assets)
//! for pairs already in it), so a talker learned before a restart, or
//! forgotten from the table at its cap, is judged by its learned rates again.

use super::catalog::FLOOD_REQ;
use super::ctx::Ctx;
use super::{ev, Core, FastMap, Raise};
use crate::assets::{Baseline, Fleet, StormRates};
use crate::event::Meta;
use crate::time::Ts;
use s7sentry_proto::s7comm::{Function, Rosctr, S7Pdu};
use serde_json::json;
use std::hash::Hasher;
use std::net::IpAddr;

pub use super::config::{MAX_DISTINCT_WRITES, MAX_STORM_SECONDS};

/// Seconds kept per class (the longest `storm_seconds` is `RING - 2`).
pub(crate) const RING: usize = MAX_STORM_SECONDS as usize + 2;

/// (talker, PLC) pairs followed.
pub const MAX_STORM_TALKERS: usize = 4096;

/// Function classes judged separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Write = 0,
    Read = 1,
    Other = 2,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Write => "write",
            Class::Read => "read",
            Class::Other => "other",
        }
    }
}

/// Per-second counts of one class.
#[derive(Debug, Clone, Copy)]
struct Rate {
    /// Second (packet time) of `cur`.
    sec: i64,
    /// Requests in second `sec` so far.
    cur: u32,
    /// Complete seconds, indexed by second modulo [`RING`].
    ring: [u32; RING],
    /// Threshold of the storm in progress (0: none).
    storm: u32,
    /// Peak sustained rate learned while the baseline learned.
    learned: u32,
}

impl Default for Rate {
    fn default() -> Self {
        Rate { sec: i64::MIN, cur: 0, ring: [0; RING], storm: 0, learned: 0 }
    }
}

fn slot(sec: i64) -> usize {
    sec.rem_euclid(RING as i64) as usize
}

impl Rate {
    /// Count of complete second `s` (must be within the ring).
    fn at(&self, s: i64) -> u32 {
        self.ring[slot(s)]
    }

    /// Lowest count over the `n` complete seconds before the current one.
    fn min_before(&self, n: u32) -> u32 {
        (1..=i64::from(n)).map(|i| self.at(self.sec - i)).min().unwrap_or(u32::MAX)
    }

    /// Move to second `s`: close the current second (and zero-fill any gap).
    /// Returns the count of the second just closed and whether seconds were skipped.
    fn roll(&mut self, s: i64) -> Option<(u32, bool)> {
        if s <= self.sec {
            return None;
        }
        if self.sec == i64::MIN {
            self.sec = s;
            return None;
        }
        let closed = self.cur;
        self.ring[slot(self.sec)] = closed;
        let gap = s - self.sec - 1;
        for k in 1..=gap.min(RING as i64) {
            self.ring[slot(self.sec + k)] = 0;
        }
        self.sec = s;
        self.cur = 0;
        Some((closed, gap > 0))
    }
}

/// Storm state of one (talker, PLC) pair.
#[derive(Debug, Clone)]
pub(crate) struct TalkerRates {
    rates: [Rate; 3],
    /// Hashes of the distinct write items+values of the current run of writes.
    writes: [u64; MAX_DISTINCT_WRITES],
    n_writes: u8,
    /// More distinct writes than [`MAX_DISTINCT_WRITES`] in the run.
    writes_more: bool,
    /// Seen while the baseline learned: judged by its learned rates after the freeze.
    learned: bool,
    last: Ts,
}

impl Default for TalkerRates {
    fn default() -> Self {
        TalkerRates {
            rates: [Rate::default(); 3],
            writes: [0; MAX_DISTINCT_WRITES],
            n_writes: 0,
            writes_more: false,
            learned: false,
            last: Ts(i64::MIN),
        }
    }
}

impl TalkerRates {
    /// The learned rates per class.
    fn learned_rates(&self) -> StormRates {
        StormRates {
            write: self.rates[Class::Write as usize].learned,
            read: self.rates[Class::Read as usize].learned,
            other: self.rates[Class::Other as usize].learned,
        }
    }

    /// Takes rates learned earlier (from the fleet): judged by its learned rates after the freeze.
    fn adopt(&mut self, l: StormRates) {
        self.learned = true;
        for (class, v) in [(Class::Write, l.write), (Class::Read, l.read), (Class::Other, l.other)] {
            let r = &mut self.rates[class as usize];
            r.learned = r.learned.max(v);
        }
    }

    fn distinct(&self) -> usize {
        usize::from(self.n_writes)
    }

    fn note_write(&mut self, h: u64) {
        let n = self.distinct();
        if self.writes[..n].contains(&h) {
            return;
        }
        if n < MAX_DISTINCT_WRITES {
            self.writes[n] = h;
            self.n_writes += 1;
        } else {
            self.writes_more = true;
        }
    }

    fn reset_writes(&mut self) {
        self.n_writes = 0;
        self.writes_more = false;
    }
}

/// The storm state of a detector.
#[derive(Debug, Default)]
pub(crate) struct Storms {
    talkers: FastMap<(IpAddr, IpAddr), TalkerRates>,
}

/// Seeds the pairs already followed with the rates `fleet` learned for them
/// (a fleet loaded from the state file, or handed back between capture files).
pub(crate) fn adopt_learned(storms: &mut Storms, fleet: &Fleet) {
    if storms.talkers.is_empty() {
        return;
    }
    for (key, l) in &fleet.storm_rates {
        if let Some(p) = storms.talkers.get_mut(key) {
            p.adopt(*l);
        }
    }
}

/// Records the learned rates of the pair `key` in the fleet (while the
/// baseline learns); a pair that finds no room is counted.
fn remember(
    d_assets: &mut Option<Box<super::baseline::AssetTracker>>,
    caps: &mut super::CapCounters,
    key: (IpAddr, IpAddr),
    p: &TalkerRates,
) {
    let Some(t) = d_assets.as_mut() else { return };
    match t.fleet.learn_storm_rates(key.0, key.1, p.learned_rates()) {
        Some(true) => t.generation += 1,
        Some(false) => {}
        None => caps[super::Cap::StormTalkers] += 1,
    }
}

/// Fingerprint of a write job's items and values (what is written where): its
/// parameter (item specifications) and data (values), 8 bytes at a time. Only
/// compared within one talker's run of writes; a collision can only make two
/// different writes look the same, i.e. one distinct item fewer.
fn write_hash(pdu: &S7Pdu<'_>) -> u64 {
    let mut h = super::FlowIdHasher::default();
    for part in [pdu.param, pdu.data] {
        let mut chunks = part.chunks_exact(8);
        for c in &mut chunks {
            h.write_u64(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        h.write_u64(u64::from_le_bytes(last) ^ ((part.len() as u64) << 56));
    }
    h.finish()
}

/// The class of a request from a client (`None`: not a request).
fn class_of(pdu: &S7Pdu<'_>) -> Option<Class> {
    match pdu.header.rosctr {
        Rosctr::JOB => Some(match pdu.function() {
            Some(Function::WRITE_VAR) => Class::Write,
            Some(Function::READ_VAR) => Class::Read,
            _ => Class::Other,
        }),
        Rosctr::USERDATA => Some(Class::Other),
        _ => None,
    }
}

/// The basis on which a storm was judged.
#[derive(Debug, Clone, Copy)]
enum Basis {
    Sustained,
    Repetition,
    Learned(u32),
}

/// An S7comm request from the client `meta.src` to the PLC `meta.dst`.
pub(crate) fn on_request(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta, pdu: &S7Pdu<'_>) {
    let Some(class) = class_of(pdu) else { return };
    let n = d.cfg.thresholds.storm_seconds;
    if n == 0 {
        return;
    }
    let baseline = d.assets.as_ref().map(|a| a.fleet.baseline);
    let learning = matches!(baseline, Some(Baseline::Learning { .. }));
    let frozen = matches!(baseline, Some(Baseline::Frozen { .. }));
    let (talker, plc) = (meta.src, meta.dst);
    let key = (talker, plc);
    // One lookup in the steady state; the cap is checked only for a new pair.
    let p = match d.storms.talkers.get_mut(&key) {
        Some(p) => p,
        None => {
            if d.storms.talkers.len() >= MAX_STORM_TALKERS {
                evict(d);
            }
            let p = d.storms.talkers.entry(key).or_default();
            // Learned before (a restart from `--state`, or forgotten at the cap).
            if let Some(l) = d.assets.as_ref().and_then(|a| a.fleet.storm_rates.get(&key)) {
                p.adopt(*l);
            }
            p
        }
    };
    // Borrowed beside the pair's state (no copy of the thresholds per request).
    let t = &d.cfg.thresholds;
    p.last = meta.ts;
    if learning && !p.learned {
        p.learned = true;
        remember(&mut d.assets, &mut d.caps, key, p);
    }
    let s = meta.ts.secs();
    let r = &mut p.rates[class as usize];
    if let Some((closed, gap)) = r.roll(s) {
        if r.storm != 0 && (gap || closed < r.storm) {
            r.storm = 0;
        }
        if learning {
            let before = r.learned;
            r.learned = r.learned.max(r.min_before(n));
            if r.learned != before {
                remember(&mut d.assets, &mut d.caps, key, p);
            }
        }
        if class == Class::Write && (gap || closed < t.storm_repeated_writes_per_second.max(1)) {
            p.reset_writes();
        }
    }
    let r = &mut p.rates[class as usize];
    r.cur += 1;
    let cur = r.cur;
    if class == Class::Write {
        p.note_write(write_hash(pdu));
    }
    let r = &p.rates[class as usize];
    if r.storm != 0 {
        return;
    }
    // Each threshold is crossed once per second: judge the run of seconds then.
    let judged = if frozen && p.learned {
        let thr = r.learned.saturating_mul(t.storm_learned_factor).max(t.storm_learned_floor_per_second);
        (thr != 0 && cur == thr && r.min_before(n - 1) >= thr).then_some((thr, Basis::Learned(r.learned)))
    } else {
        let floor = match class {
            Class::Write => t.storm_writes_per_second,
            Class::Read => t.storm_reads_per_second,
            Class::Other => t.storm_other_per_second,
        };
        let rep = t.storm_repeated_writes_per_second;
        let repetitive = !p.writes_more && p.distinct() <= t.storm_repeated_max_distinct as usize;
        if class == Class::Write && rep != 0 && cur == rep && repetitive && r.min_before(n - 1) >= rep {
            Some((rep, Basis::Repetition))
        } else if floor != 0 && cur == floor && r.min_before(n - 1) >= floor {
            Some((floor, Basis::Sustained))
        } else {
            None
        }
    };
    let Some((thr, basis)) = judged else { return };
    let (distinct, more) = (p.distinct(), p.writes_more);
    let r = &mut p.rates[class as usize];
    r.storm = thr;
    // Rate over the complete seconds of the run (the current one is partial).
    let (sum, peak) =
        (1..i64::from(n)).map(|i| r.at(r.sec - i)).fold((0u64, cur), |(s, m), c| (s + u64::from(c), m.max(c)));
    let rate = if n > 1 { sum / u64::from(n - 1) } else { u64::from(cur) };
    raise(d, cx, meta, class, basis, n, rate, peak, thr, (class == Class::Write).then_some((distinct, more)));
}

#[allow(clippy::too_many_arguments)]
fn raise(
    d: &mut Core,
    cx: &mut Ctx<'_>,
    meta: &Meta,
    class: Class,
    basis: Basis,
    window: u32,
    rate: u64,
    peak: u32,
    thr: u32,
    distinct: Option<(usize, bool)>,
) {
    let what = match class {
        Class::Write => "write jobs",
        Class::Read => "read jobs",
        Class::Other => "requests (other jobs, userdata)",
    };
    let head = match class {
        Class::Write => "Write storm",
        Class::Read => "Read storm",
        Class::Other => "Request storm",
    };
    let (src, plc) = (meta.src, meta.dst);
    let why = match basis {
        Basis::Sustained => format!("sustained rate threshold {thr}/s"),
        Basis::Repetition => {
            let n = distinct.map_or(0, |x| x.0);
            format!("the same items and values written again and again: {n} distinct, threshold {thr}/s")
        }
        Basis::Learned(l) => format!("{l}/s learned for this talker, threshold {thr}/s"),
    };
    let msg = format!("{head}: about {rate} {what} per second from {src} to PLC {plc} for {window} s ({why})");
    let basis_name = match basis {
        Basis::Sustained => "sustained",
        Basis::Repetition => "repetition",
        Basis::Learned(_) => "learned_rate",
    };
    let mut e = ev(&[
        ("basis", json!(basis_name)),
        ("class", json!(class.name())),
        ("window_s", json!(window)),
        ("rate", json!(rate)),
        ("peak", json!(peak)),
        ("threshold", json!(thr)),
    ]);
    if let Basis::Learned(l) = basis {
        e.insert("learned_rate".into(), json!(l));
    }
    if let Some((n, more)) = distinct {
        e.insert("distinct_items".into(), json!(n));
        if more {
            e.insert("distinct_items_more".into(), json!(true));
        }
    }
    d.emit(cx, Raise::new(FLOOD_REQ, meta, msg, e));
}

/// Table full: forget the least recently active sixteenth (talkers not
/// learned first), so that a stream of new talkers does not scan the table
/// for every request.
fn evict(d: &mut Core) {
    let mut by_age: Vec<((bool, Ts), (IpAddr, IpAddr))> =
        d.storms.talkers.iter().map(|(k, p)| ((p.learned, p.last), *k)).collect();
    let n = (MAX_STORM_TALKERS / 16).min(by_age.len());
    if n == 0 {
        return;
    }
    by_age.select_nth_unstable(n - 1);
    for (_, k) in &by_age[..n] {
        d.storms.talkers.remove(k);
    }
    d.caps[super::Cap::StormTalkers] += n as u64;
}

#[cfg(test)]
mod tests;
