//! Replay output in packet-time order.
//!
//! Some alerts carry the time and frame of an earlier packet than the one
//! that raises them: a follow-up (aggregated repeats) its last occurrence,
//! raised when its window closes up to `aggregate_seconds` later; a control
//! operation its request, judged at the PLC's answer or deadline; an IP
//! datagram incomplete at the end its last fragment; and so on. A replay
//! therefore holds every alert at or after the pipeline's floor
//! ([`Pipeline::alert_floor`]: the earliest (ts, frame) any of them can still
//! carry, from the detector and the engine) and releases the held alerts in
//! canonical order once the floor passes them, or at the end. `live` does not
//! hold: an alert goes out at once, and a late one may come after later alerts.
//!
//! [`Pipeline::alert_floor`]: crate::Pipeline::alert_floor

use crate::pipeline::{canonical_order, Output};
use s7sentry_engine::rules::Alert;
use s7sentry_engine::Ts;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Alerts held at most; beyond, the earliest is released at once (out of
/// order if a follow-up before it comes later), counted as the detector cap
/// `held_alerts`.
pub const MAX_HELD: usize = 16_384;

/// No floor: nothing can come before any alert any more.
pub const NO_FLOOR: (Ts, u64) = s7sentry_engine::rules::NO_ALERT_FLOOR;

/// One held alert; `seq` keeps alerts equal in canonical order in the order
/// they were held.
struct Held {
    alert: Alert,
    seq: u64,
}

impl Ord for Held {
    /// Reversed: the max-heap's top is the first alert in canonical order.
    fn cmp(&self, o: &Held) -> Ordering {
        canonical_order(&o.alert, &self.alert).then(o.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Held) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl PartialEq for Held {
    fn eq(&self, o: &Held) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl Eq for Held {}

/// Alerts held until the floor passes them.
#[derive(Default)]
pub(crate) struct Hold {
    heap: BinaryHeap<Held>,
    seq: u64,
    /// Alerts released before the floor passed them because [`MAX_HELD`] were held.
    pub(crate) released_early: u64,
}

impl Hold {
    /// Whether nothing is held.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Hold `a`; when the hold is full, the earliest held alert goes to `out` now.
    pub(crate) fn push(&mut self, alert: Alert, out: &mut dyn Output) -> std::io::Result<()> {
        self.seq += 1;
        self.heap.push(Held { alert, seq: self.seq });
        if self.heap.len() > MAX_HELD {
            self.released_early += 1;
            if let Some(h) = self.heap.pop() {
                return out.alert(&h.alert);
            }
        }
        Ok(())
    }

    /// Hand `out` the held alerts before `floor` ((ts, frame)), in canonical order.
    pub(crate) fn release(&mut self, floor: (Ts, u64), out: &mut dyn Output) -> std::io::Result<()> {
        while let Some(h) = self.heap.peek() {
            if (h.alert.ts, h.alert.frame) >= floor {
                break;
            }
            if let Some(h) = self.heap.pop() {
                out.alert(&h.alert)?;
            }
        }
        Ok(())
    }

    /// Hand `out` every held alert, in canonical order (end of input).
    pub(crate) fn release_all(&mut self, out: &mut dyn Output) -> std::io::Result<()> {
        while let Some(h) = self.heap.pop() {
            out.alert(&h.alert)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s7sentry_engine::rules::{Category, Severity};

    fn alert(frame: u64) -> Alert {
        Alert {
            ts: Ts(frame as i64 * 1_000),
            frame,
            pcap: String::new(),
            rule: "malformed.s7comm",
            category: Category::Malformed,
            severity: Severity::Medium,
            src: [10, 0, 0, 1].into(),
            sport: 1024,
            dst: [10, 0, 0, 2].into(),
            dport: 102,
            message: String::new(),
            cve: &[],
            evidence: Default::default(),
            flow_start: Ts(0),
        }
    }

    #[test]
    fn released_in_canonical_order_by_the_floor() {
        let mut h = Hold::default();
        let mut out: Vec<Alert> = Vec::new();
        for f in [5, 3, 9, 7] {
            h.push(alert(f), &mut out).unwrap();
        }
        h.release((Ts(7_000), 7), &mut out).unwrap();
        assert_eq!(out.iter().map(|a| a.frame).collect::<Vec<_>>(), [3, 5]);
        h.release_all(&mut out).unwrap();
        assert_eq!(out.iter().map(|a| a.frame).collect::<Vec<_>>(), [3, 5, 7, 9]);
        assert!(h.is_empty());
    }

    #[test]
    fn a_full_hold_releases_its_earliest_alert_and_counts_it() {
        let mut h = Hold::default();
        let mut out: Vec<Alert> = Vec::new();
        for f in (1..=MAX_HELD as u64 + 1).rev() {
            h.push(alert(f), &mut out).unwrap();
        }
        assert_eq!(h.released_early, 1);
        assert_eq!(out.iter().map(|a| a.frame).collect::<Vec<_>>(), [1]);
    }
}
