//! Detection configuration (TOML), with documented defaults.
//!
//! ```toml
//! # Hosts allowed to perform control operations (addresses or CIDR ranges).
//! engineering_hosts = ["10.10.3.30", "10.10.3.0/28"]
//! # PLCs known in advance (optional; others are learned from traffic on port 102).
//! known_plcs = ["10.10.1.10"]
//!
//! [thresholds]
//! syn_per_second = 100
//!
//! [rules."flood.rst_storm"]
//! enabled = false
//!
//! [rules."unauthorized_control.clock_set"]
//! severity = "low"
//!
//! # Per-host / per-pair suppression and regrading (see `rules::policy`).
//! [[policy]]
//! rule = "crash_pattern.cotp_dr"
//! src = "10.10.2.20"
//! action = "suppress"
//! comment = "HMI library: one trailing byte in every COTP DR"
//! ```
//!
//! Unknown keys are errors, so a typo cannot silently disable a check.

use super::alert::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

pub use super::cidr::{parse_cidr_list, Cidr};

/// Longest `storm_seconds` accepted by the configuration (the storm judgement,
/// `rules/storm.rs`, keeps this many seconds plus two per class).
pub const MAX_STORM_SECONDS: u32 = 30;

/// Distinct write items+values remembered per talker for the repetition judgement.
pub const MAX_DISTINCT_WRITES: usize = 8;

/// Thresholds and timeouts. Each default is explained where it is defined.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Window in which repeats of one rule between the same two hosts are
    /// counted into one follow-up alert instead of one alert each (s). 60 s keeps a
    /// 100 000-packet flood to a handful of lines while a new attack a minute later still alerts.
    pub aggregate_seconds: u64,
    /// SYNs per second toward one PLC port 102. An S7 PLC sees a handful of connects per
    /// minute; 100/s is far above any HMI reconnect storm and far below a SYN flood.
    pub syn_per_second: u32,
    /// Half-open (SYN seen, never carried data) connections to one PLC. S7-1500 CPUs
    /// accept 64..128 connections in total; 64 embryonic ones exhaust a small CPU.
    pub half_open_per_plc: u32,
    /// Concurrent ISO-on-TCP connections (COTP CR seen) from one source to one PLC.
    /// An HMI or engineering station uses 1..4; CVE-2018-13815 needs many.
    pub connections_per_source: u32,
    /// Concurrent ISO-on-TCP connections to one PLC from all sources (S7-300: 12..32 resources).
    pub connections_per_plc: u32,
    /// New ISO-on-TCP connections from one source to one PLC within 10 s.
    pub new_connections_per_10s: u32,
    /// Setup-communication jobs to one PLC within 10 s (one per connection is normal).
    pub setup_comm_per_10s: u32,
    /// Write jobs per second from one client connection. Benchmark-grade polling
    /// (the public libnodave bench capture) peaks at 243 writes/s; a write flood from a
    /// second client is several hundred to thousands per second.
    pub writes_per_second: u32,
    /// Jobs of any kind per second from one client connection.
    pub jobs_per_second: u32,
    /// Storms (`flood.requests` with `basis` in its evidence, see `rules::storm`):
    /// seconds in a row a rate must hold. The public libnodave benchmark capture
    /// (wireshark-wiki s7comm_varservice_libnodavedemo_bench) writes the same item
    /// 240 times a second for 9 s and reads 240 times a second for 12 s; 20 s leaves it
    /// twice the room while a minute-long flood alerts after 20 s. 0 switches the storm
    /// judgement off; at most 30.
    pub storm_seconds: u32,
    /// Write jobs per second from one talker to one PLC that, held for `storm_seconds`,
    /// are a storm (talkers the baseline does not know). HMIs write a few values per
    /// second; a write flood runs at hundreds. 0: off.
    pub storm_writes_per_second: u32,
    /// Read jobs per second from one talker to one PLC held for `storm_seconds`. Fast HMI
    /// polling runs at 100 reads/s all day; 400 leaves it four times the room. 0: off.
    pub storm_reads_per_second: u32,
    /// Other requests (jobs other than read/write, userdata such as SZL reads) per second
    /// from one talker to one PLC held for `storm_seconds`. 0: off.
    pub storm_other_per_second: u32,
    /// Writes per second held for `storm_seconds` that are a storm when they write the
    /// same things (items and values) again and again. 0: off.
    pub storm_repeated_writes_per_second: u32,
    /// Most distinct (items, values) in such a run of writes for it to count as
    /// repetition (at most 8).
    pub storm_repeated_max_distinct: u32,
    /// After the baseline froze, a talker it knows is in a storm above this many times the
    /// peak rate it held for `storm_seconds` while learning (per class)...
    pub storm_learned_factor: u32,
    /// ... and at or above this many requests per second (learned rates of 0 or 1/s
    /// would otherwise make a few requests a storm).
    pub storm_learned_floor_per_second: u32,
    /// RST segments per second involving one PLC's port 102.
    pub rst_per_second: u32,
    /// Parallel unanswered jobs allowed above the negotiated AmQ before alerting. Real WinCC
    /// stations pipeline one job beyond an AmQ of 1 (gymgit__wincc_s300_* captures), so 1.
    pub amq_slack: u32,
    /// Parallel jobs above this many times the granted AmQ (plus the slack) are a flood at
    /// once. A smaller excess is judged by the PLC's answers: all answered is client
    /// pipelining (info: a Siemens client subscribing cyclic data pipelines 3 jobs on AmQ 1),
    /// a refusal or jobs left unanswered past the response timeout is a flood.
    pub amq_gross_factor: u32,
    /// PDU size in a setup-communication request above which it is absurd (S7 CPUs offer 240..960).
    pub max_sane_pdu_size: u16,
    /// AmQ (parallel jobs) in a setup-communication request above which it is absurd.
    pub max_sane_amq: u16,
    /// Read/write var: total bytes requested above this many times the negotiated PDU size.
    pub var_request_factor: u32,
    /// A request to a PLC unanswered this long (ms) counts toward loss of communication.
    /// S7 jobs are answered within tens of ms; 3 s rides out a busy CPU scan.
    pub response_timeout_ms: u64,
    /// Further attempts (retransmissions, new jobs, SYNs, CRs) needed after the first
    /// unanswered request before a silent PLC is declared unresponsive.
    pub retries_before_outage: u32,
    /// How far back (s) before an outage suspects are collected.
    pub suspect_window_seconds: u64,
    /// How long (ms) a control operation waits for the PLC's answer before it is
    /// reported as unconfirmed.
    pub confirm_timeout_ms: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            aggregate_seconds: 60,
            syn_per_second: 100,
            half_open_per_plc: 64,
            connections_per_source: 8,
            connections_per_plc: 48,
            new_connections_per_10s: 16,
            setup_comm_per_10s: 20,
            writes_per_second: 300,
            jobs_per_second: 1000,
            storm_seconds: 20,
            storm_writes_per_second: 100,
            storm_reads_per_second: 400,
            storm_other_per_second: 100,
            storm_repeated_writes_per_second: 20,
            storm_repeated_max_distinct: 2,
            storm_learned_factor: 4,
            storm_learned_floor_per_second: 20,
            rst_per_second: 50,
            amq_slack: 1,
            amq_gross_factor: 4,
            max_sane_pdu_size: 8192,
            max_sane_amq: 255,
            var_request_factor: 8,
            response_timeout_ms: 3000,
            retries_before_outage: 2,
            suspect_window_seconds: 120,
            confirm_timeout_ms: 5000,
        }
    }
}

impl Thresholds {
    /// Values that cannot work (errors name the key).
    pub fn check(&self) -> Result<(), String> {
        if self.storm_seconds > MAX_STORM_SECONDS {
            return Err(format!(
                "thresholds.storm_seconds = {}: at most {MAX_STORM_SECONDS} (0 switches storms off)",
                self.storm_seconds
            ));
        }
        if self.storm_repeated_max_distinct as usize > MAX_DISTINCT_WRITES {
            return Err(format!(
                "thresholds.storm_repeated_max_distinct = {}: at most {MAX_DISTINCT_WRITES}",
                self.storm_repeated_max_distinct
            ));
        }
        if self.storm_learned_factor == 0 {
            return Err("thresholds.storm_learned_factor = 0: at least 1".into());
        }
        Ok(())
    }

    /// Valid but probably not meant (see [`DetectConfig::warnings`]).
    fn warnings(&self, w: &mut Vec<String>) {
        if self.storm_seconds == 0 {
            return;
        }
        for (key, v, one_second) in [
            ("storm_writes_per_second", self.storm_writes_per_second, self.writes_per_second),
            ("storm_reads_per_second", self.storm_reads_per_second, self.jobs_per_second),
            ("storm_other_per_second", self.storm_other_per_second, self.jobs_per_second),
        ] {
            if v > one_second {
                w.push(format!(
                    "thresholds.{key} = {v} is above the one-second threshold ({one_second}/s): such a storm alerts in its first second already"
                ));
            }
        }
        if self.storm_repeated_writes_per_second > self.storm_writes_per_second && self.storm_writes_per_second != 0 {
            w.push(format!(
                "thresholds.storm_repeated_writes_per_second = {} is above storm_writes_per_second = {}: repetition never decides",
                self.storm_repeated_writes_per_second, self.storm_writes_per_second
            ));
        }
    }
}

/// Per-rule override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    /// Switch the rule off (`false`) or on.
    pub enabled: Option<bool>,
    /// Re-grade the rule.
    pub severity: Option<Severity>,
}

/// `[live]`: settings of `s7sentry live` (command-line options override them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveSettings {
    /// Interface to capture on (the SPAN / mirror port).
    pub interface: Option<String>,
    /// BPF filter replacing the default.
    pub bpf: Option<String>,
    /// HTTP listen address for /metrics and /healthz (default 127.0.0.1:19102).
    pub listen: Option<String>,
    /// Alert JSON lines: a file path, or "-" for stdout (default).
    pub alerts: Option<String>,
    /// Also send alerts to syslog (RFC 5424): "udp://HOST:PORT" or "unix:///dev/log".
    pub syslog: Option<String>,
    /// libpcap kernel buffer in MiB (default 32).
    pub buffer_mb: Option<u32>,
    /// Run as this user after opening the capture (`--user`): switched to when
    /// started as root; accepted as is when the process already runs as it.
    pub user: Option<String>,
    /// Syslog facility, a name (`local0`, `daemon`, ...) or a number 0-23 (`--syslog-facility`).
    pub syslog_facility: Option<String>,
    /// Format of the alert lines: `json` (default), `eve` or `text` (`--alert-format`).
    pub alert_format: Option<String>,
    /// Folder of evidence pcaps (`--evidence`).
    pub evidence: Option<String>,
    /// Lowest severity that gets an evidence pcap (`--evidence-min-severity`).
    pub evidence_min_severity: Option<Severity>,
    /// Keep running while the interface cannot be opened, not ready, retrying
    /// every second (`--wait-for-interface`).
    pub wait_for_interface: Option<bool>,
}

/// The whole detection configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Engineering stations: control operations from them are `control_operation` (info).
    pub engineering_hosts: Vec<Cidr>,
    /// PLCs known in advance (others are learned as servers on port 102).
    pub known_plcs: Vec<Cidr>,
    /// Thresholds and timeouts.
    pub thresholds: Thresholds,
    /// Per-rule overrides, keyed by rule id.
    pub rules: BTreeMap<String, RuleOverride>,
    /// Settings of `s7sentry live`.
    pub live: LiveSettings,
    /// Name of this sensor in alerts (`sensor`, EVE `host`) and in inventory
    /// merges (`--sensor`); default the host name.
    pub sensor: Option<String>,
    /// `[[policy]]`: per-host and per-pair suppression and regrading (see [`super::policy`]).
    pub policy: Vec<super::policy::PolicyEntry>,
}

impl DetectConfig {
    /// Parse TOML text; errors name the key and the problem.
    pub fn from_toml(text: &str) -> Result<DetectConfig, String> {
        let cfg: DetectConfig = toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
        for id in cfg.rules.keys() {
            if super::catalog::find(id).is_none() {
                return Err(format!("rules.\"{id}\": no such rule (see `s7sentry rules`)"));
            }
        }
        super::policy::Policy::compile(&cfg.policy)?;
        cfg.thresholds.check()?;
        Ok(cfg)
    }

    /// Things that are valid but probably not meant (for `check-config` and reloads).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = super::policy::Policy::compile(&self.policy).map(|(_, w)| w).unwrap_or_default();
        self.thresholds.warnings(&mut w);
        for (id, o) in &self.rules {
            if o.enabled == Some(false)
                && super::catalog::find(id)
                    .is_some_and(|i| super::catalog::RULES[i].category == super::alert::Category::UnauthorizedControl)
            {
                w.push(format!("rules.\"{id}\": a control rule is switched off for every host"));
            }
        }
        w
    }

    /// Whether `ip` is an engineering station.
    pub fn is_engineering(&self, ip: IpAddr) -> bool {
        self.engineering_hosts.iter().any(|c| c.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr() {
        let c: Cidr = "10.10.3.0/24".parse().unwrap();
        assert!(c.contains("10.10.3.30".parse().unwrap()));
        assert!(!c.contains("10.10.4.1".parse().unwrap()));
        let h: Cidr = "10.10.3.30".parse().unwrap();
        assert!(h.contains("10.10.3.30".parse().unwrap()));
        assert!(!h.contains("10.10.3.31".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("fe80::/10".parse::<Cidr>().unwrap().contains("fe80::1".parse().unwrap()));
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn config_errors_name_the_key() {
        let e = DetectConfig::from_toml("engineering_hosts = [\"10.0.0.300\"]").unwrap_err();
        assert!(e.contains("10.0.0.300"), "{e}");
        let e = DetectConfig::from_toml("[thresholds]\nsyn_per_secnd = 5").unwrap_err();
        assert!(e.contains("syn_per_secnd"), "{e}");
        let e = DetectConfig::from_toml("[rules.\"flood.nope\"]\nenabled = false").unwrap_err();
        assert!(e.contains("flood.nope"), "{e}");
        let e = DetectConfig::from_toml("[rules.\"flood.rst_storm\"]\nseverity = \"huge\"").unwrap_err();
        assert!(e.contains("severity") || e.contains("huge"), "{e}");
        let c = DetectConfig::from_toml("engineering_hosts = [\"10.10.3.0/24\"]\n[thresholds]\nsyn_per_second = 5")
            .unwrap();
        assert_eq!(c.thresholds.syn_per_second, 5);
        assert_eq!(c.thresholds.rst_per_second, 50);
    }

    #[test]
    fn storm_thresholds_checked() {
        let e = DetectConfig::from_toml("[thresholds]\nstorm_seconds = 31").unwrap_err();
        assert!(e.contains("storm_seconds"), "{e}");
        let e = DetectConfig::from_toml("[thresholds]\nstorm_repeated_max_distinct = 9").unwrap_err();
        assert!(e.contains("storm_repeated_max_distinct"), "{e}");
        let e = DetectConfig::from_toml("[thresholds]\nstorm_learned_factor = 0").unwrap_err();
        assert!(e.contains("storm_learned_factor"), "{e}");
        let c = DetectConfig::from_toml("[thresholds]\nstorm_seconds = 30\nstorm_writes_per_second = 50").unwrap();
        assert_eq!(c.thresholds.storm_seconds, 30);
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        let c = DetectConfig::from_toml("[thresholds]\nstorm_writes_per_second = 500").unwrap();
        assert!(c.warnings().iter().any(|w| w.contains("storm_writes_per_second")), "{:?}", c.warnings());
        assert!(DetectConfig::default().warnings().is_empty());
    }
}
