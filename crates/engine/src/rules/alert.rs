//! The alert record: the stable JSON schema `replay` and `live` write.

use crate::time::Ts;
use serde::{Serialize, Serializer};
use std::net::IpAddr;

/// Alert severity, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Audit trail.
    Info,
    /// Worth a look.
    Low,
    /// Investigate.
    Medium,
    /// Investigate now.
    High,
    /// A PLC is being stopped, crashed or reprogrammed.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] =
        [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    /// Parse a lower-case name.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.name() == s)
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Alert category: a fixed vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Violations of TPKT/COTP/S7comm/S7comm-plus structure.
    Malformed,
    /// Structures tied to published crash causes.
    CrashPattern,
    /// Control operations from a host that is not an engineering station.
    UnauthorizedControl,
    /// Control operations from an engineering station (audit trail).
    ControlOperation,
    /// Floods and resource exhaustion.
    Flood,
    /// A PLC stopped answering (and its recovery).
    LossOfCommunication,
    /// Traffic that cannot be inspected (TLS).
    Uninspectable,
    /// Changes of the asset inventory: identity changes, new talkers and functions after the baseline froze.
    Baseline,
    /// Traffic built to make the sensor and the PLC see different bytes (overlaps, invalid
    /// checksums, desynchronising SYN/RST, fragments), or bytes the sensor had to give up on.
    Evasion,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 9] = [
        Category::Malformed,
        Category::CrashPattern,
        Category::UnauthorizedControl,
        Category::ControlOperation,
        Category::Flood,
        Category::LossOfCommunication,
        Category::Uninspectable,
        Category::Baseline,
        Category::Evasion,
    ];
    /// Stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Category::Malformed => "malformed",
            Category::CrashPattern => "crash_pattern",
            Category::UnauthorizedControl => "unauthorized_control",
            Category::ControlOperation => "control_operation",
            Category::Flood => "flood",
            Category::LossOfCommunication => "loss_of_communication",
            Category::Uninspectable => "uninspectable",
            Category::Baseline => "baseline",
            Category::Evasion => "evasion",
        }
    }
}

impl Serialize for Category {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

fn ts_str<S: Serializer>(ts: &Ts, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(ts)
}

/// One alert. Keys are a stable interface; see the README ("alert schema").
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Time of the triggering packet, RFC 3339 UTC with microseconds.
    #[serde(serialize_with = "ts_str")]
    pub ts: Ts,
    /// 1-based capture record of the triggering packet.
    pub frame: u64,
    /// Capture file (replay) or interface (live).
    pub pcap: String,
    /// Rule id, e.g. `unauthorized_control.cpu_stop`.
    pub rule: &'static str,
    /// Category.
    pub category: Category,
    /// Severity (after configuration overrides).
    pub severity: Severity,
    /// Source address.
    pub src: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dport: u16,
    /// One sentence for an operator.
    pub message: String,
    /// CVE ids the rule is tied to.
    pub cve: &'static [&'static str],
    /// Layer, offset, bytes (hex), decoded names, counts.
    pub evidence: serde_json::Map<String, serde_json::Value>,
    /// Capture time of the first packet of the connection the triggering packet
    /// belongs to (`Ts(0)` when the alert is not tied to a tracked connection).
    /// Not part of the JSON written here: exports derive `flow_id` from it.
    #[serde(skip)]
    pub flow_start: Ts,
}
