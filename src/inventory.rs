//! `s7sentry inventory`, `s7sentry baseline`, and the inventory state that
//! `replay` and `live` load and save (`--state FILE`, `--learn DURATION`).
//!
//! The state's lifecycle during a run (open, hand to the detector, save) is
//! `s7sentry_sensor::Assets`; this module parses durations, loads advisories
//! and prints reports.

use crate::{BaselineAction, BaselineArgs, InventoryArgs, OutFormat, ReportFormat, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE};
use s7sentry_engine::assets::{merge_shards, Fleet};
use s7sentry_engine::Ts;
use s7sentry_inventory::report::{self, Correlator};
use s7sentry_inventory::{baseline, load_dir, Store};
use std::io::Write;
use std::path::{Path, PathBuf};
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

/// Loads the fleets of `--state` files, read-only, each with its sensor name
/// (recorded in the state by the sensor, else the file name without extension).
fn load_states(paths: &[PathBuf]) -> Result<Vec<(String, Fleet)>, String> {
    let mut out: Vec<(String, Fleet)> = Vec::with_capacity(paths.len());
    for p in paths {
        let mut store = Store::open_read_only(p).map_err(|e| e.to_string())?;
        let fleet = store.load().map_err(|e| e.to_string())?;
        let stem = p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| p.display().to_string());
        let mut name = store.sensor_name().map_err(|e| e.to_string())?.unwrap_or(stem);
        if out.iter().any(|(n, _)| *n == name) {
            name = p.display().to_string();
        }
        out.push((name, fleet));
    }
    Ok(out)
}

/// Run `inventory`; returns the exit status.
pub fn run_inventory(a: &InventoryArgs) -> u8 {
    let states = match load_states(&a.state) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    // Several sensors: one fleet, one row per device, naming the sensors that saw it.
    let fleet = match states.as_slice() {
        [(_, f)] => f.clone(),
        _ => merge_shards(&Fleet::default(), states.iter().map(|(_, f)| f.clone()).collect()),
    };
    let (mut correlator, failed) = match load_csaf(a.csaf.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("s7sentry: {e}");
            return EXIT_USAGE;
        }
    };
    let mut rows = report::build(&fleet, &mut correlator);
    if states.len() > 1 {
        for r in &mut rows {
            r.sensors =
                states.iter().filter(|(_, f)| f.devices.contains_key(&r.address)).map(|(n, _)| n.clone()).collect();
        }
    }
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
    let opened = match &a.action {
        BaselineAction::Show(_) => Store::open_read_only(path),
        _ => Store::open_existing(path),
    };
    let mut store = match opened {
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
         operating state; {} entries evicted at caps\nquirks:    {} learned (talker, structural rule) pairs, \
         graded info after the freeze\nstorms:    {} (talker, PLC) pairs with learned request rates, judged by them after \
         the freeze\n",
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
        c.evicted,
        c.learned_quirks,
        c.learned_storm_rates
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
