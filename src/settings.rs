//! Loading the detection configuration for `replay`, `live` and `timeline`,
//! and the alert outputs from options and configuration.

use crate::output::AlertOptions;
use crate::{AlertArgs, AlertFormat, DetectionArgs};
use s7sentry_engine::rules::config::parse_cidr_list;
use s7sentry_engine::rules::{DetectConfig, Severity};
use s7sentry_engine::EngineConfig;
use s7sentry_export::evidence::{EvidenceConfig, EvidenceWriter};
use s7sentry_export::sinks::{parse_facility, SyslogOptions};
use s7sentry_export::soc::AlertContext;
use std::path::PathBuf;

/// Read `--config FILE` (if any) and apply `--engineering-hosts` on top.
/// Errors are one line naming the file / option and the problem.
pub fn load(a: &DetectionArgs) -> Result<DetectConfig, String> {
    let (config, engineering_hosts) = (a.config.as_deref(), a.engineering_hosts.as_deref());
    let mut cfg = match config {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("config {}: {e}", p.display()))?;
            DetectConfig::from_toml(&text).map_err(|e| format!("config {}: {e}", p.display()))?
        }
        None => DetectConfig::default(),
    };
    if let Some(list) = engineering_hosts {
        cfg.engineering_hosts = parse_cidr_list(list).map_err(|e| format!("--engineering-hosts: {e}"))?;
    }
    Ok(cfg)
}

/// The alert outputs of `replay` (`live` false) or `live` from the command line
/// and the configuration (`[live]` keys only for `live`; `sensor` for both).
pub fn alert_options(
    a: &AlertArgs,
    spec: String,
    cfg: &DetectConfig,
    live: bool,
    in_iface: Option<String>,
) -> Result<AlertOptions, String> {
    let l = &cfg.live;
    let format = match (a.alert_format, live.then_some(l.alert_format.as_deref()).flatten()) {
        (Some(f), _) => f,
        (None, Some(s)) => AlertFormat::parse(s)
            .ok_or_else(|| format!("config: [live] alert_format = \"{s}\": use \"json\", \"eve\" or \"text\""))?,
        (None, None) => AlertFormat::Json,
    };
    let facility = match (&a.syslog_facility, live.then_some(l.syslog_facility.as_ref()).flatten()) {
        (Some(f), _) => parse_facility(f).ok_or_else(|| format!("--syslog-facility {f}: {FACILITY_HINT}"))?,
        (None, Some(f)) => {
            parse_facility(f).ok_or_else(|| format!("config: [live] syslog_facility = \"{f}\": {FACILITY_HINT}"))?
        }
        (None, None) => SyslogOptions::default().facility,
    };
    let syslog = a.syslog.clone().or_else(|| live.then(|| l.syslog.clone()).flatten());
    let sensor = a.sensor.clone().or_else(|| cfg.sensor.clone());
    Ok(AlertOptions { spec, format, context: AlertContext::new(sensor, in_iface), syslog, facility, sort_text: !live })
}

const FACILITY_HINT: &str = "use a name (local0..local7, daemon, user, ...) or a number 0-23";

/// The evidence writer of `--evidence DIR` (or `[live] evidence` for `live`),
/// its folder created now so that a bad path is a usage error at start.
pub fn evidence(a: &AlertArgs, cfg: &DetectConfig, live: bool) -> Result<Option<EvidenceWriter>, String> {
    let l = &cfg.live;
    let Some(dir) = a.evidence.clone().or_else(|| live.then(|| l.evidence.clone().map(PathBuf::from)).flatten()) else {
        return Ok(None);
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("--evidence {}: {e}", dir.display()))?;
    let probe = dir.join(".s7sentry-write-test");
    std::fs::write(&probe, b"").map_err(|e| format!("--evidence {}: cannot write there: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    let min_severity = a
        .evidence_min_severity
        .map(Severity::from)
        .or(if live { l.evidence_min_severity } else { None })
        .unwrap_or(Severity::Medium);
    let ports = EngineConfig::default().ports;
    Ok(Some(EvidenceWriter::new(EvidenceConfig { dir, min_severity, ports, ..Default::default() })))
}
