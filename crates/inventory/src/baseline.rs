//! Baseline decisions on a stored fleet (`s7sentry baseline freeze|learn|show`)
//! and the counts `show` prints.

use s7sentry_engine::assets::{Baseline, Fleet, Role};
use s7sentry_engine::Ts;
use serde::Serialize;

/// Marks every device, talker and function known as part of the baseline and
/// enforces from `now`: anything new after that raises `new_talker` /
/// `new_function`.
pub fn freeze(fleet: &mut Fleet, now: Ts) {
    fleet.freeze(now);
}

/// Goes back to learning: until `until` (then the sensor freezes by itself),
/// or, with `None`, until the next `freeze`. What is already in the baseline
/// stays in it.
pub fn learn(fleet: &mut Fleet, until: Option<Ts>) {
    fleet.baseline = match until {
        Some(until) => Baseline::Learning { until },
        None => Baseline::Off,
    };
}

/// What `s7sentry baseline show` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct BaselineCounts {
    /// `off`, `learning` or `frozen`.
    pub mode: &'static str,
    /// End of learning (`learning`) or freeze time (`frozen`), RFC 3339.
    pub since_or_until: Option<String>,
    /// Devices known.
    pub devices: usize,
    /// Of which in the baseline.
    pub devices_baseline: usize,
    /// PLCs known.
    pub plcs: usize,
    /// HMIs known.
    pub hmis: usize,
    /// Engineering stations known.
    pub engineering_stations: usize,
    /// Hosts of unknown role.
    pub unknown: usize,
    /// (PLC, talker) pairs known.
    pub talkers: usize,
    /// Of which in the baseline.
    pub talkers_baseline: usize,
    /// (PLC, talker, function) triples known.
    pub functions: usize,
    /// Of which in the baseline.
    pub functions_baseline: usize,
    /// PLCs with an identity (order number or firmware) read from the wire.
    pub identified: usize,
    /// Identity changes recorded.
    pub identity_changes: usize,
    /// Operating-state changes recorded.
    pub state_changes: usize,
    /// Entries dropped at a cap.
    pub evicted: u64,
    /// Learned quirks: (talker, structural rule) pairs graded info after the freeze.
    pub learned_quirks: usize,
    /// Learned request-storm rates: (talker, PLC) pairs judged by their learned rates after the freeze.
    pub learned_storm_rates: usize,
}

/// Counts for `baseline show`.
pub fn counts(fleet: &Fleet) -> BaselineCounts {
    let (mode, ts) = match fleet.baseline {
        Baseline::Off => ("off", None),
        Baseline::Learning { until } => ("learning", Some(until)),
        Baseline::Frozen { since } => ("frozen", Some(since)),
    };
    let mut c = BaselineCounts {
        mode,
        since_or_until: ts.map(|t| t.to_string()),
        evicted: fleet.evicted,
        learned_quirks: fleet.quirks.values().map(Vec::len).sum(),
        learned_storm_rates: fleet.storm_rates.len(),
        ..Default::default()
    };
    for d in fleet.devices.values() {
        c.devices += 1;
        c.devices_baseline += usize::from(d.baseline);
        match d.role {
            Role::Plc => c.plcs += 1,
            Role::Hmi => c.hmis += 1,
            Role::EngineeringStation => c.engineering_stations += 1,
            Role::Unknown => c.unknown += 1,
        }
        c.identified += usize::from(d.identity.order_number.is_some() || d.identity.firmware.is_some());
        c.identity_changes += d.changes.len();
        c.state_changes += d.state_changes.len();
        for t in d.talkers.values() {
            c.talkers += 1;
            c.talkers_baseline += usize::from(t.baseline);
            c.functions += t.functions.len();
            c.functions_baseline += t.functions.values().filter(|f| f.baseline).count();
        }
    }
    c
}
