//! `s7sentry check-config FILE`: parse and validate a configuration file the way
//! `replay` and `live` (and a SIGHUP reload) would, print what it sets and the
//! warnings. Exit status 0 when valid (warnings included), 2 when invalid.

use crate::{CheckConfigArgs, EXIT_OK, EXIT_USAGE};
use s7sentry_engine::rules::config::Thresholds;
use s7sentry_engine::rules::policy::Policy;
use s7sentry_engine::rules::DetectConfig;
use std::fmt::Write;

/// The summary `check-config` prints for a valid configuration.
pub fn describe(cfg: &DetectConfig) -> String {
    let mut s = String::new();
    let list = |v: &[s7sentry_engine::rules::config::Cidr]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let eng = list(&cfg.engineering_hosts);
    if eng.is_empty() {
        let _ = writeln!(s, "  engineering hosts: none (every control operation is unauthorized_control)");
    } else {
        let _ = writeln!(s, "  engineering hosts: {}", eng.join(", "));
    }
    let plcs = list(&cfg.known_plcs);
    let _ = writeln!(
        s,
        "  known PLCs: {}",
        if plcs.is_empty() { "none (learned from traffic)".into() } else { plcs.join(", ") }
    );
    let now = serde_json::to_value(&cfg.thresholds).unwrap_or_default();
    let def = serde_json::to_value(Thresholds::default()).unwrap_or_default();
    let changed: Vec<String> = match (now.as_object(), def.as_object()) {
        (Some(n), Some(d)) => n
            .iter()
            .filter(|(k, v)| d.get(*k) != Some(v))
            .map(|(k, v)| format!("{k} = {v} (default {})", d[k]))
            .collect(),
        _ => Vec::new(),
    };
    if changed.is_empty() {
        let _ = writeln!(s, "  thresholds: defaults");
    } else {
        let _ = writeln!(s, "  thresholds:");
        for c in changed {
            let _ = writeln!(s, "    {c}");
        }
    }
    if !cfg.rules.is_empty() {
        let _ = writeln!(s, "  rule overrides:");
        for (id, o) in &cfg.rules {
            let mut parts = Vec::new();
            if let Some(e) = o.enabled {
                parts.push(format!("enabled = {e}"));
            }
            if let Some(v) = o.severity {
                parts.push(format!("severity = {}", v.name()));
            }
            let _ = writeln!(s, "    {id}: {}", parts.join(", "));
        }
    }
    match Policy::compile(&cfg.policy) {
        Ok((p, _)) if p.is_empty() => {
            let _ = writeln!(s, "  policies: none");
        }
        Ok((p, _)) => {
            let _ = writeln!(s, "  policies ({}, first match decides):", p.len());
            for l in p.summaries() {
                let _ = writeln!(s, "    {l}");
            }
        }
        Err(e) => {
            let _ = writeln!(s, "  policies: {e}");
        }
    }
    if let Some(n) = &cfg.sensor {
        let _ = writeln!(s, "  sensor: {n}");
    }
    s
}

/// Run `check-config`; returns the exit status.
pub fn run_check_config(a: &CheckConfigArgs) -> u8 {
    let p = &a.file;
    let text = match std::fs::read_to_string(p) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("s7sentry: config {}: {e}", p.display());
            return EXIT_USAGE;
        }
    };
    let cfg = match DetectConfig::from_toml(&text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("s7sentry: config {}: {e}", p.display());
            return EXIT_USAGE;
        }
    };
    let warnings = cfg.warnings();
    let mut out = format!("config {}: valid\n", p.display());
    out.push_str(&describe(&cfg));
    if warnings.is_empty() {
        out.push_str("  warnings: none\n");
    } else {
        let _ = writeln!(out, "  warnings ({}):", warnings.len());
        for w in &warnings {
            let _ = writeln!(out, "    {w}");
        }
    }
    print!("{out}");
    EXIT_OK
}
