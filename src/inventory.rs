//! `s7sentry inventory`, `s7sentry baseline`, and the inventory state that
//! `replay` and `live` load and save (`--state FILE`, `--learn DURATION`).
//!
//! The detector owns the fleet while packets flow (it fills it from the
//! traffic); this module opens the state file, hands the loaded fleet to the
//! detector, saves it back, and turns it into reports and metrics.

use crate::{
    BaselineAction, BaselineArgs, InventoryArgs, OutFormat, ReportFormat, StateArgs, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE,
};
use s7sentry_engine::assets::{Baseline, Fleet};
use s7sentry_engine::rules::Detector;
use s7sentry_engine::Ts;
use s7sentry_export::VulnerableDevice;
use s7sentry_inventory::report::{self, Correlator};
use s7sentry_inventory::{baseline, load_dir, SaveStats, Saved, Store};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Default state file of `inventory` and `baseline` (the systemd unit's
/// StateDirectory; `live` there runs with `--state` set to it).
pub const DEFAULT_STATE: &str = "/var/lib/s7sentry/state.db";

/// Parses `30m`, `8h`, `7d`, `2w`, `90s` or combinations such as `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration: use e.g. 30m, 8h, 7d".into());
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(format!("{s:?}: unknown unit {c:?} (use s, m, h, d or w, e.g. 30m, 8h, 7d)")),
        };
        let n: u64 = num.parse().map_err(|_| format!("{s:?}: a number must come before {c:?} (e.g. 8h)"))?;
        num.clear();
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .filter(|x| *x <= 100 * 365 * 86_400)
            .ok_or_else(|| format!("{s:?}: too long (at most 100 years)"))?;
    }
    if !num.is_empty() {
        return Err(format!("{s:?}: the last number has no unit (use s, m, h, d or w, e.g. {num}m)"));
    }
    Ok(Duration::from_secs(total))
}

fn now() -> Ts {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ts::new(d.as_secs() as i64, d.subsec_nanos())
}

fn plus(t: Ts, d: Duration) -> Ts {
    Ts(t.0.saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
}

// ------------------------------------------------------------------------
// The detector's asset tracker. The engine side (branch inv-engine) gives the
// Detector an asset tracker that owns the Fleet while packets flow. Until it
// is merged, these functions keep the fleet aside ("parked") so that state
// files round-trip unchanged; each names the call that replaces its body.

/// Hands `fleet` to the detector's asset tracker.
fn tracker_enable(det: &mut Detector, fleet: Fleet, parked: &mut Option<Fleet>) {
    det.enable_assets(fleet);
    *parked = None;
}

/// Learning for `d` from the first packet the detector sees.
fn tracker_set_learning(det: &mut Detector, d: Duration) {
    det.set_learning(d);
}

/// Takes the fleet back from a detector that is done (end of a replay file).
fn tracker_take(det: &mut Detector, parked: &mut Option<Fleet>) -> Option<Fleet> {
    det.take_fleet().or_else(|| parked.take())
}

/// The fleet, wherever it is now.
fn tracker_fleet<'a>(det: &'a Detector, parked: &'a Option<Fleet>) -> Option<&'a Fleet> {
    if det.assets_enabled() {
        Some(det.fleet())
    } else {
        parked.as_ref()
    }
}

/// The fleet, mutably (to apply an operator's baseline decision).
fn tracker_fleet_mut<'a>(det: &'a mut Detector, parked: &'a mut Option<Fleet>) -> Option<&'a mut Fleet> {
    det.fleet_mut().or(parked.as_mut())
}

/// A counter the tracker bumps whenever the fleet changes.
fn tracker_generation(det: &Detector) -> u64 {
    det.fleet_generation()
}

/// Applies a baseline decision made by `s7sentry baseline` to a fleet.
fn apply_baseline(fleet: &mut Fleet, b: Baseline) {
    match b {
        Baseline::Frozen { since } => baseline::freeze(fleet, since),
        Baseline::Learning { until } => baseline::learn(fleet, Some(until)),
        Baseline::Off => baseline::learn(fleet, None),
    }
}

// ------------------------------------------------------------------------

/// The inventory of a `replay` or `live` run: the state file (if any) and the
/// fleet while no detector holds it.
pub struct Assets {
    store: Option<Store>,
    parked: Option<Fleet>,
    learn: Option<Duration>,
    saved_generation: u64,
    saved_once: bool,
}

impl Assets {
    /// Opens `--state` (creating it) and loads the fleet. `None` when neither
    /// `--state` nor `--learn` is given and `always` is false: then the run
    /// keeps no inventory. Errors are one line naming the file.
    pub fn open(a: &StateArgs, always: bool) -> Result<Option<Assets>, String> {
        if a.state.is_none() && a.learn.is_none() && !always {
            return Ok(None);
        }
        let (store, fleet) = match &a.state {
            Some(path) => {
                let mut store = Store::open(path).map_err(|e| format!("--state {e}"))?;
                let fleet = store.load().map_err(|e| format!("--state {e}"))?;
                (Some(store), fleet)
            }
            None => (None, Fleet::default()),
        };
        Ok(Some(Assets { store, parked: Some(fleet), learn: a.learn, saved_generation: 0, saved_once: false }))
    }

    /// The state file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.store.as_ref().map(Store::path)
    }

    /// Gives the fleet to `det` (the first time, with `--learn`).
    pub fn attach(&mut self, det: &mut Detector) {
        if let Some(fleet) = self.parked.take() {
            tracker_enable(det, fleet, &mut self.parked);
        }
        if let Some(d) = self.learn.take() {
            tracker_set_learning(det, d);
        }
    }

    /// Hands the fleet and the learning period to a sharded replay (which gives
    /// each worker a copy); put the merged fleet back with [`Assets::park`].
    pub fn take_for_shards(&mut self) -> Option<crate::shard::Tracking> {
        let fleet = self.parked.take()?;
        Some(crate::shard::Tracking { fleet, learn: self.learn.take() })
    }

    /// Keeps `fleet` (merged by a sharded replay) until the next file or save.
    pub fn park(&mut self, fleet: Fleet) {
        self.parked = Some(fleet);
    }

    /// Takes the fleet back from a detector that is done with its input.
    pub fn detach(&mut self, det: &mut Detector) {
        if let Some(f) = tracker_take(det, &mut self.parked) {
            self.parked = Some(f);
        }
    }

    /// The fleet, from the detector or parked here.
    pub fn fleet<'a>(&'a self, det: &'a Detector) -> Option<&'a Fleet> {
        tracker_fleet(det, &self.parked)
    }

    /// Whether the fleet changed since the last save (always true before the first).
    pub fn dirty(&self, det: &Detector) -> bool {
        !self.saved_once || tracker_generation(det) != self.saved_generation
    }

    /// Saves the fleet (no-op without `--state`). When an operator changed
    /// the baseline in the file meanwhile, applies that decision to the fleet
    /// and saves again. Errors are one line naming the file.
    pub fn save(&mut self, det: &mut Detector) -> Result<Option<SaveStats>, String> {
        let generation = tracker_generation(det);
        let Some(store) = self.store.as_mut() else { return Ok(None) };
        for _ in 0..3 {
            let Some(fleet) = tracker_fleet(det, &self.parked) else { return Ok(None) };
            match store.save(fleet).map_err(|e| e.to_string())? {
                Saved::Written(stats) => {
                    self.saved_generation = generation;
                    self.saved_once = true;
                    return Ok(Some(stats));
                }
                Saved::BaselineChanged(b) => {
                    tracing::info!(baseline = ?b, "baseline changed by `s7sentry baseline`; adopting it");
                    if let Some(f) = tracker_fleet_mut(det, &mut self.parked) {
                        apply_baseline(f, b);
                    }
                }
            }
        }
        Err(format!("{}: the baseline keeps changing under this sensor; not saved", store.path().display()))
    }
}

/// Devices to which loaded advisories certainly apply (for the metrics).
pub fn vulnerable(fleet: &Fleet, correlator: &mut Correlator) -> Vec<VulnerableDevice> {
    if correlator.advisories().is_empty() {
        return Vec::new();
    }
    fleet
        .devices
        .values()
        .filter_map(|d| {
            let certain: Vec<_> = correlator.matches(&d.identity).iter().filter(|m| !m.possibly_affected).collect();
            if certain.is_empty() {
                return None;
            }
            Some(VulnerableDevice {
                address: d.address,
                severity: report::severity_band(certain.iter().filter_map(|m| m.cvss).reduce(f64::max)),
            })
        })
        .collect()
}

/// Loads `--csaf DIR`: each file that does not load is reported on stderr (file
/// and JSON path), the others are used. Returns the correlator and the number
/// of files that failed; Err when the directory itself cannot be read.
pub fn load_csaf(dir: Option<&Path>) -> Result<(Correlator, usize), String> {
    let Some(dir) = dir else { return Ok((Correlator::default(), 0)) };
    if let Err(e) = std::fs::read_dir(dir) {
        return Err(format!("--csaf {}: {e}", dir.display()));
    }
    let (advisories, errors) = load_dir(dir);
    for e in &errors {
        eprintln!("s7sentry: CSAF advisory skipped: {e}");
    }
    if advisories.is_empty() && errors.is_empty() {
        eprintln!("s7sentry: --csaf {}: no CSAF advisory (*.json) found", dir.display());
    }
    Ok((Correlator::new(advisories), errors.len()))
}

/// SIGINT / SIGTERM set the returned flag (for `replay --state`: stop, save,
/// exit); a second signal exits at once with status 130.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                return;
            };
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                if f.swap(true, Ordering::Relaxed) {
                    std::process::exit(130);
                }
            }
        });
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for Ctrl-C: {e}");
    }
    flag
}

/// Run `inventory`; returns the exit status.
pub fn run_inventory(a: &InventoryArgs) -> u8 {
    let fleet = match Store::open_existing(&a.state).and_then(|mut s| s.load()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let (mut correlator, failed) = match load_csaf(a.csaf.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let rows = report::build(&fleet, &mut correlator);
    let text = match a.format {
        ReportFormat::Table => report::to_table(&rows, &fleet, correlator.advisories().len()),
        ReportFormat::Json => report::to_json(&rows),
        ReportFormat::Csv => report::to_csv(&rows),
    };
    if let Err(e) = std::io::stdout().lock().write_all(text.as_bytes()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("s7sentry: cannot write the report: {e}");
            return EXIT_PARTIAL;
        }
    }
    if failed > 0 {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    }
}

/// Run `baseline freeze|learn|show`; returns the exit status.
pub fn run_baseline(a: &BaselineArgs) -> u8 {
    let path = match &a.action {
        BaselineAction::Freeze(s) => &s.state,
        BaselineAction::Learn(l) => &l.state.state,
        BaselineAction::Show(s) => &s.state.state,
    };
    let mut store = match Store::open_existing(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let mut fleet = match store.load() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let message = match &a.action {
        BaselineAction::Show(s) => {
            let c = baseline::counts(&fleet);
            let text = if s.format == OutFormat::Jsonl {
                let mut v = serde_json::to_value(&c).unwrap_or_default();
                v["state"] = serde_json::Value::String(path.display().to_string());
                format!("{v}\n")
            } else {
                show_text(path, &c)
            };
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            return EXIT_OK;
        }
        BaselineAction::Freeze(_) => {
            let t = now();
            baseline::freeze(&mut fleet, t);
            let c = baseline::counts(&fleet);
            format!(
                "baseline frozen at {t} in {}: {} devices, {} talkers, {} functions; from now on new PLCs, \
                 talkers and functions raise baseline alerts",
                path.display(),
                c.devices,
                c.talkers,
                c.functions
            )
        }
        BaselineAction::Learn(l) => {
            let until = l.duration.map(|d| plus(now(), d));
            baseline::learn(&mut fleet, until);
            match until {
                Some(u) => format!("learning until {u} in {}; the baseline then freezes by itself", path.display()),
                None => format!("learning in {} until `s7sentry baseline freeze`", path.display()),
            }
        }
    };
    if let Err(e) = store.save_baseline_change(&fleet) {
        eprintln!("s7sentry: {e}");
        return EXIT_USAGE;
    }
    println!("{message}");
    println!("(a sensor running on this state file adopts it at its next save)");
    EXIT_OK
}

fn show_text(path: &Path, c: &baseline::BaselineCounts) -> String {
    let mode = match (c.mode, &c.since_or_until) {
        ("learning", Some(t)) => format!("learning until {t}"),
        ("frozen", Some(t)) => format!("frozen since {t}"),
        ("off", _) => "off (learning until `s7sentry baseline freeze`)".to_string(),
        (m, _) => m.to_string(),
    };
    format!(
        "state:     {}\nbaseline:  {mode}\ndevices:   {} ({} in baseline): {} PLC, {} HMI, {} engineering, {} unknown; \
         {} identified\ntalkers:   {} ({} in baseline)\nfunctions: {} ({} in baseline)\nchanges:   {} identity, {} \
         operating state; {} entries evicted at caps\n",
        path.display(),
        c.devices,
        c.devices_baseline,
        c.plcs,
        c.hmis,
        c.engineering_stations,
        c.unknown,
        c.identified,
        c.talkers,
        c.talkers_baseline,
        c.functions,
        c.functions_baseline,
        c.identity_changes,
        c.state_changes,
        c.evicted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "30", "h", "5y", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
    }
}
