//! The alert path: aggregation windows, the policy, the queue of alerts, and
//! the alert floor a replay holds alerts by ([`Detector::alert_floor`](super::Detector::alert_floor)).

use super::catalog::{self, RuleId, RULES};
use super::ctx::PlcLookup;
use super::raise::{self, Msg, Raise};
use super::{policy, Alert, Cap, Category, Core, Severity, Suspect};
use crate::event::Meta;
use crate::time::Ts;
use serde_json::{json, Map, Value};
use std::cmp::Reverse;
use std::net::IpAddr;

/// Suspect packets remembered per PLC (loss-of-communication correlation).
pub(super) const MAX_SUSPECTS: usize = 32;
/// Aggregation windows open at once.
pub(super) const MAX_AGG: usize = 8192;

/// Frames a follow-up lists.
const FOLLOW_UP_FRAMES: usize = 32;

/// [`Detector::alert_floor`](super::Detector::alert_floor) when no open window folded anything: no alert
/// raised from now on can come before any other.
pub const NO_ALERT_FLOOR: (Ts, u64) = (Ts(i64::MAX), u64::MAX);

/// Key of an aggregation window: rule and the raise's key pair.
pub(super) type AggKey = (RuleId, IpAddr, IpAddr);

#[derive(Debug)]
pub(super) struct AggEntry {
    until: Ts,
    count: u64,
    /// Time of the first folded occurrence.
    first: Ts,
    /// Frames of the first [`FOLLOW_UP_FRAMES`] folded occurrences.
    frames: [u64; FOLLOW_UP_FRAMES],
    last: Option<(Meta, Msg)>,
    /// Severity override shared by every folded occurrence (None: rule severity).
    grade: Option<Severity>,
    graded_all: bool,
}

impl Core {
    /// The one way to raise an alert: `r` goes through aggregation (folded into
    /// an open window of its rule and key, or opening one) and, when shown,
    /// through the policy ([`policy::apply`]). The severity override of `r`
    /// travels with it into the window, so the follow-up keeps it.
    pub(crate) fn emit<E: raise::Evidence, P: PlcLookup + ?Sized>(&mut self, plcs: &mut P, r: Raise<'_, E>) {
        let Raise { rule, meta, message, evidence, category, severity: grade, key: (ksrc, kdst) } = r;
        if !self.enabled[rule] {
            return;
        }
        let info = &RULES[rule];
        let category = category.unwrap_or(info.category);
        // Remember suspects for loss-of-communication correlation.
        if matches!(
            category,
            Category::Malformed | Category::CrashPattern | Category::UnauthorizedControl | Category::Flood
        ) || rule == catalog::NEW_TALKER
            || rule == catalog::NEW_FUNCTION
        {
            let (plc, _) = meta.server();
            let now = meta.ts;
            let src = meta.client().0;
            let caps = &mut self.caps;
            let p = plcs.plc_for(plc, caps);
            match p.suspects.back_mut() {
                Some(s) if s.rule == info.id && s.src == src => {
                    s.count += 1;
                    s.ts = now;
                    s.frame = meta.frame;
                }
                _ => {
                    if p.suspects.len() >= MAX_SUSPECTS {
                        p.suspects.pop_front();
                        caps[Cap::Suspects] += 1;
                    }
                    p.suspects.push_back(Suspect { ts: now, frame: meta.frame, src, rule: info.id, count: 1 });
                }
            }
        }
        let aggregate =
            !matches!(category, Category::LossOfCommunication | Category::Uninspectable | Category::Baseline)
                && info.aggregation() == catalog::Aggregation::PerPair;
        let key = (rule, ksrc, kdst);
        if aggregate {
            if let Some(e) = self.agg.get_mut(&key) {
                if meta.ts < e.until {
                    if e.count == 0 {
                        e.first = meta.ts;
                    }
                    if let Some(slot) = e.frames.get_mut(e.count as usize) {
                        *slot = meta.frame;
                    }
                    e.count += 1;
                    e.last = Some((*meta, message));
                    e.graded_all &= grade.is_some();
                    e.grade = e.grade.max(grade);
                    self.suppressed[rule] += 1;
                    self.agg_lasts.push(Reverse((meta.ts, meta.frame, key)));
                    self.floor = None;
                    if self.agg_lasts.len() > 2 * self.agg.len() + 64 {
                        self.rebuild_agg_lasts();
                    }
                    return;
                }
                self.flush_agg(key);
            }
            if self.agg.len() >= MAX_AGG {
                // Full: close the windows that end first, a sixteenth of the table at once
                // (alerts from ever new spoofed sources must not scan the table each time),
                // flushed in the order of `agg_keys_due`.
                let mut ends: Vec<(Ts, (RuleId, IpAddr, IpAddr))> =
                    self.agg.iter().map(|(k, e)| (e.until, *k)).collect();
                let n = (MAX_AGG / 16).min(ends.len());
                if n > 0 {
                    ends.select_nth_unstable(n - 1);
                    let mut batch: Vec<_> = ends[..n]
                        .iter()
                        .map(|&(_, k)| {
                            let last = self.agg.get(&k).and_then(|e| e.last.as_ref()).map(|(m, _)| (m.ts, m.frame));
                            (last.unwrap_or_default(), k)
                        })
                        .collect();
                    batch.sort_unstable();
                    self.caps[Cap::AggregationWindows] += n as u64;
                    for (_, k) in batch {
                        self.flush_agg(k);
                    }
                }
            }
            let until = meta.ts.plus_ms(self.cfg.thresholds.aggregate_seconds * 1000);
            self.agg.insert(
                key,
                AggEntry {
                    until,
                    count: 0,
                    first: meta.ts,
                    frames: [0; FOLLOW_UP_FRAMES],
                    last: None,
                    grade: None,
                    graded_all: true,
                },
            );
        }
        let message = message.render(meta);
        self.queue(rule, category, grade, meta, message, evidence.build());
    }

    /// Build the alert and hand it to the policy; queue it if kept.
    fn queue(
        &mut self,
        rule: RuleId,
        category: Category,
        grade: Option<Severity>,
        meta: &Meta,
        message: String,
        evidence: Map<String, Value>,
    ) {
        let info = &RULES[rule];
        let severity =
            if category == Category::ControlOperation { Severity::Info } else { grade.unwrap_or(self.severity[rule]) };
        let mut alert = Alert {
            ts: meta.ts,
            frame: meta.frame,
            pcap: self.pcap.clone(),
            rule: info.id,
            category,
            severity,
            src: meta.src,
            sport: meta.sport,
            dst: meta.dst,
            dport: meta.dport,
            message,
            cve: info.cve,
            evidence,
            flow_start: meta.flow_start,
        };
        // The one place alerts are queued: the policy decides (suppress, regrade, learned quirk).
        if !policy::apply(self, rule, &mut alert) {
            return;
        }
        self.counts[rule] += 1;
        self.out.push(alert);
    }

    /// Aggregation windows ending by `now` (all when `None`), in a deterministic
    /// order: by the frame of their last occurrence, then rule.
    pub(super) fn agg_keys_due(&self, now: Option<Ts>) -> Vec<(RuleId, IpAddr, IpAddr)> {
        let mut due: Vec<_> = self
            .agg
            .iter()
            .filter(|(_, e)| now.is_none_or(|n| e.until <= n))
            .map(|(k, e)| (e.last.as_ref().map(|(m, _)| (m.ts, m.frame)).unwrap_or_default(), *k))
            .collect();
        due.sort_by(|a, b| a.0.cmp(&b.0).then(a.1 .0.cmp(&b.1 .0)).then(a.1 .1.cmp(&b.1 .1)).then(a.1 .2.cmp(&b.1 .2)));
        due.into_iter().map(|(_, k)| k).collect()
    }

    pub(super) fn flush_agg(&mut self, key: (RuleId, IpAddr, IpAddr)) {
        let Some(e) = self.agg.remove(&key) else {
            return;
        };
        if e.count == 0 {
            return;
        }
        self.floor = None;
        let Some((meta, last_msg)) = e.last else {
            return;
        };
        let last_msg = last_msg.render(&meta);
        let rule = key.0;
        let info = &RULES[rule];
        let category = if info.category == Category::UnauthorizedControl && self.cfg.is_engineering(meta.client().0) {
            Category::ControlOperation
        } else {
            info.category
        };
        let window = self.cfg.thresholds.aggregate_seconds;
        let msg = format!("{} more occurrence(s) within {window} s of the first; last: {last_msg}", e.count);
        let mut ev = Map::new();
        ev.insert("count".into(), json!(e.count));
        ev.insert("aggregated".into(), json!(true));
        ev.insert("first_ts".into(), json!(e.first.to_string()));
        ev.insert("last_ts".into(), json!(meta.ts.to_string()));
        let n = (e.count as usize).min(FOLLOW_UP_FRAMES);
        ev.insert("frames".into(), json!(&e.frames[..n]));
        if e.count as usize > FOLLOW_UP_FRAMES {
            ev.insert("frames_truncated".into(), json!(true));
        }
        // The follow-up keeps the grade its occurrences shared.
        let grade = if e.graded_all { e.grade } else { None };
        self.queue(rule, category, grade, &meta, msg, ev);
    }

    /// The aggregation part of [`super::Detector::alert_floor`]: the
    /// smallest last occurrence of the open windows that folded something
    /// (their follow-ups carry it; a window that folded nothing raises no
    /// follow-up), [`NO_ALERT_FLOOR`] when there is none. Stale heap entries
    /// are dropped on the way; amortized O(log windows) per fold, no
    /// allocation once the heap has grown. Not cached here: the detector
    /// caches the whole floor.
    pub(super) fn agg_floor(&mut self) -> (Ts, u64) {
        let mut f = NO_ALERT_FLOOR;
        while let Some(Reverse((ts, frame, key))) = self.agg_lasts.peek() {
            let live = self
                .agg
                .get(key)
                .is_some_and(|e| e.count > 0 && e.last.as_ref().is_some_and(|(m, _)| m.ts == *ts && m.frame == *frame));
            if live {
                f = (*ts, *frame);
                break;
            }
            self.agg_lasts.pop();
        }
        f
    }

    /// Drop the stale entries of [`Core::agg_lasts`]: one entry per open
    /// window that folded something (keeps the heap's capacity).
    fn rebuild_agg_lasts(&mut self) {
        self.agg_lasts.clear();
        for (k, e) in &self.agg {
            if let (true, Some((m, _))) = (e.count > 0, e.last.as_ref()) {
                self.agg_lasts.push(Reverse((m.ts, m.frame, *k)));
            }
        }
    }
}
