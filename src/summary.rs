//! The summary on stderr at the end of `replay` and `live`: the same counters
//! for both.

use s7sentry_engine::rules::catalog::RULES;
use s7sentry_sensor::{Totals, LAYERS};
use std::fmt::Write;
use std::time::Duration;

/// What the summary reports.
pub struct Summary<'a> {
    /// Counters summed over files and workers.
    pub totals: &'a Totals,
    /// Alerts written.
    pub alerts: u64,
    /// Files that ended at an unreadable record.
    pub unreadable: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Summary<'_> {
    /// Header, packets, PDUs, findings by layer, capture counters.
    pub fn render(&self, what: &str) -> String {
        let t = &self.totals.stats;
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = String::new();
        let _ = writeln!(s, "s7sentry {what} summary");
        let _ = writeln!(
            s,
            "  packets {}  bytes {}  elapsed {:.3} s  {:.0} packets/s",
            t.packets,
            t.bytes,
            secs,
            t.packets as f64 / secs
        );
        let _ = writeln!(
            s,
            "  PDUs: s7comm {}  s7comm-plus {}  tls {}  (tpkt {}, iso-on-tcp segments {}, flows {})",
            t.s7comm_pdus, t.s7plus_frames, t.tls_payloads, t.tpkts, t.iso_segments, t.flows_created
        );
        let f: Vec<String> = self
            .totals
            .findings
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{} {v}", LAYERS[k]))
            .collect();
        let _ = writeln!(s, "  findings by layer: {}", if f.is_empty() { "none".into() } else { f.join(", ") });
        let _ = writeln!(
            s,
            "  capture: unreadable records {}  gaps {} ({} bytes)  ip fragments {}  flows evicted {}",
            self.unreadable, t.gaps, t.gap_bytes, t.ip_fragments, t.flows_evicted
        );
        // The stream engine's counters that moved (names as in s7sentry_stream_events_total
        // and s7sentry_stream_bytes_total).
        let moved: Vec<String> = t
            .stream_events()
            .iter()
            .filter(|(_, v)| *v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .chain(t.stream_bytes().iter().filter(|(_, v)| *v > 0).map(|(k, v)| format!("{k} bytes {v}")))
            .collect();
        let _ = writeln!(s, "  stream: {}", if moved.is_empty() { "none".into() } else { moved.join(", ") });
        let caps: Vec<String> = self
            .totals
            .detector_caps
            .named()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(cap, n)| format!("{cap} {n}"))
            .collect();
        let _ = writeln!(s, "  detector caps hit: {}", if caps.is_empty() { "none".into() } else { caps.join(", ") });
        s
    }

    /// Alerts, then the count of each rule that fired.
    pub fn render_counts(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "  alerts {}", self.alerts);
        for (k, v) in self.totals.counts.iter().enumerate().filter(|(_, v)| **v > 0) {
            let _ = writeln!(s, "    {:<42} {v}", RULES[k].id);
        }
        for (what, counts) in [
            ("suppressed by policy", &self.totals.suppressed),
            ("graded info as learned quirks", &self.totals.quirk_graded),
        ] {
            let n: u64 = counts.iter().sum();
            if n > 0 {
                let _ = writeln!(s, "  {what} {n}");
                for (k, v) in counts.iter().enumerate().filter(|(_, v)| **v > 0) {
                    let _ = writeln!(s, "    {:<42} {v}", RULES[k].id);
                }
            }
        }
        s
    }
}
