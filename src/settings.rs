//! Loading the detection configuration for `replay` and `live`.

use crate::DetectionArgs;
use s7sentry_engine::rules::config::parse_cidr_list;
use s7sentry_engine::rules::DetectConfig;

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
