//! `--alert-format eve`: alerts as Suricata EVE JSON lines, so that EVE
//! consumers (Filebeat's Suricata module, Security Onion, Splunk's Suricata
//! add-on, Arkime, jq scripts) ingest them without a custom mapping.
//!
//! One line per alert:
//!
//! ```json
//! {"timestamp":"2026-01-01T00:00:00.123456+0000","flow_id":123,"event_type":"alert",
//!  "src_ip":"10.10.9.99","src_port":49152,"dest_ip":"10.10.1.10","dest_port":102,"proto":"TCP",
//!  "app_proto":"s7comm","community_id":"1:...","pcap_filename":"x.pcap","pcap_cnt":7,"host":"sensor-a",
//!  "alert":{"action":"allowed","gid":1,"signature_id":7102012,"rev":1,
//!           "signature":"S7SENTRY control.cpu_stop","category":"unauthorized_control","severity":1,
//!           "metadata":{"signature_severity":["Critical"],"attack_target":["PLC"],...}},
//!  "s7sentry":{"rule":"control.cpu_stop","severity":"critical","message":"...","evidence":{...},...}}
//! ```
//!
//! * `timestamp` in Suricata's format (microseconds, numeric UTC offset `+0000`).
//! * `flow_id` and `community_id` as in [`crate::soc`]; `in_iface` (live) and
//!   `host` (the sensor name, as Suricata's `sensor-name` gives it).
//! * `pcap_filename` and `pcap_cnt` (the capture record) in replays; `pcap_cnt`
//!   alone in `live` (packets since the start).
//! * `alert.severity` on Suricata's scale, 1 = highest ([`eve_severity`]).
//! * `alert.signature_id`: a stable number per rule ([`SIGNATURE_IDS`]), `gid` 1,
//!   `rev` 1, `action` `allowed` (the sensor is passive).
//! * `alert.metadata` uses only keys Suricata's published EVE schema knows
//!   (`signature_severity`, `attack_target`, `affected_product`, `deployment`, `tag`).
//! * Everything of our own (message, evidence, CVEs, our severity name) sits
//!   under the one key `s7sentry`.

use crate::soc::{alert_community_id, alert_flow_id, AlertContext};
use s7sentry_engine::rules::{Alert, Severity};
use s7sentry_engine::Ts;
use serde::Serialize;
use std::io::Write;

/// Generator id of every s7sentry signature.
pub const GID: u32 = 1;

/// Signature revision (bumped for a rule whose meaning changes; none has yet).
pub const REV: u32 = 1;

/// Stable EVE `signature_id` of every rule. Numbers are assigned once and never
/// reused: a retired rule keeps its number here (commented out) and a new rule
/// takes the next free number. The range 7 102 000–7 102 999 lies outside the
/// ranges Snort/Talos (below 1 000 000), local rules (1 000 000–1 999 999) and
/// Emerging Threats (2 000 000–2 999 999) use.
pub const SIGNATURE_IDS: &[(&str, u32)] = &[
    ("malformed.tpkt", 7_102_001),
    ("malformed.cotp", 7_102_002),
    ("malformed.s7comm", 7_102_003),
    ("malformed.s7comm_plus", 7_102_004),
    ("malformed.unknown_protocol", 7_102_005),
    ("malformed.incomplete_tpkt", 7_102_006),
    ("malformed.tcp_overlap", 7_102_007),
    ("crash_pattern.cotp_dr", 7_102_008),
    ("crash_pattern.tcp_short_header", 7_102_009),
    ("crash_pattern.ip_fragment", 7_102_010),
    ("crash_pattern.var_item_count", 7_102_011),
    ("crash_pattern.setup_comm", 7_102_012),
    ("control.cpu_stop", 7_102_013),
    ("control.cpu_start", 7_102_014),
    ("control.pi_service", 7_102_015),
    ("control.block_delete", 7_102_016),
    ("control.block_download", 7_102_017),
    ("control.block_upload", 7_102_018),
    ("control.memory_reset", 7_102_019),
    ("control.clock_set", 7_102_020),
    ("control.password", 7_102_021),
    ("control.password_rejected", 7_102_022),
    ("control.s7plus_operating_state", 7_102_023),
    ("control.engineering_session", 7_102_024),
    ("control.programmer_command", 7_102_025),
    ("control.s7plus_engineering_operation", 7_102_026),
    ("flood.syn", 7_102_027),
    ("flood.half_open", 7_102_028),
    ("flood.connection_exhaustion", 7_102_029),
    ("flood.setup_comm", 7_102_030),
    ("flood.amq_exceeded", 7_102_031),
    ("flood.requests", 7_102_032),
    ("flood.rst_storm", 7_102_033),
    ("loss_of_communication.plc_unresponsive", 7_102_034),
    ("loss_of_communication.plc_recovered", 7_102_035),
    ("uninspectable.tls", 7_102_036),
    ("baseline.asset_change", 7_102_037),
    ("baseline.new_talker", 7_102_038),
    ("baseline.new_function", 7_102_039),
    ("control.confirmed_without_request", 7_102_040),
    ("evasion.ip_overlap_conflict", 7_102_041),
    ("evasion.ip_tcp_header_overlap", 7_102_042),
    ("evasion.ip_tiny_fragment", 7_102_043),
    ("evasion.ip_length_conflict", 7_102_044),
    ("evasion.ip_datagram_incomplete", 7_102_045),
    ("evasion.ip_late_fragment", 7_102_046),
    ("evasion.ip_reassembly_cap", 7_102_047),
    ("evasion.stream_gap", 7_102_048),
    ("evasion.hold_cap", 7_102_049),
    ("evasion.stream_late_data", 7_102_050),
    ("evasion.tcp_out_of_window", 7_102_051),
    ("evasion.tcp_checksum_conflict", 7_102_052),
    ("evasion.tcp_syn_on_established", 7_102_053),
    ("evasion.tcp_rst_ignored", 7_102_054),
];

/// Number given to an alert whose rule has no entry in [`SIGNATURE_IDS`] (a
/// test fails for every catalogue rule without one, so only a rule added
/// without updating the table can get it).
pub const UNMAPPED_SIGNATURE_ID: u32 = 7_102_999;

/// The rule's `signature_id`.
pub fn signature_id(rule: &str) -> u32 {
    SIGNATURE_IDS.iter().find(|(r, _)| *r == rule).map(|(_, n)| *n).unwrap_or(UNMAPPED_SIGNATURE_ID)
}

/// Suricata's severity scale (1 = highest, as `classification.config`
/// priorities): critical and high 1, medium 2, low 3, info 4. Our own five
/// levels stay in `alert.metadata.signature_severity` and `s7sentry.severity`.
pub const fn eve_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical | Severity::High => 1,
        Severity::Medium => 2,
        Severity::Low => 3,
        Severity::Info => 4,
    }
}

/// Suricata's EVE timestamp: `2026-01-01T00:00:00.123456+0000` (UTC).
pub fn eve_timestamp(ts: Ts) -> String {
    let s = ts.to_string(); // RFC 3339 with microseconds and `Z`
    match s.strip_suffix('Z') {
        Some(body) => format!("{body}+0000"),
        None => s,
    }
}

/// `app_proto` of the connection a rule looks at.
fn app_proto(rule: &str) -> &'static str {
    match rule {
        "uninspectable.tls" => "tls",
        r if r.contains("s7comm_plus") || r.contains("s7plus") => "s7comm-plus",
        "flood.syn"
        | "flood.half_open"
        | "flood.rst_storm"
        | "crash_pattern.tcp_short_header"
        | "crash_pattern.ip_fragment"
        | "malformed.tcp_overlap" => "failed",
        _ => "s7comm",
    }
}

fn signature_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Info => "Informational",
    }
}

#[derive(Serialize)]
struct Metadata {
    signature_severity: [&'static str; 1],
    attack_target: [&'static str; 1],
    affected_product: [&'static str; 1],
    deployment: [&'static str; 1],
    tag: Vec<&'static str>,
}

#[derive(Serialize)]
struct EveAlert {
    action: &'static str,
    gid: u32,
    signature_id: u32,
    rev: u32,
    signature: String,
    category: &'static str,
    severity: u8,
    metadata: Metadata,
}

#[derive(Serialize)]
struct Ours<'a> {
    rule: &'static str,
    category: &'static str,
    severity: &'static str,
    message: &'a str,
    cve: &'static [&'static str],
    pcap: &'a str,
    frame: u64,
    sensor: &'a str,
    evidence: &'a serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Eve<'a> {
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_iface: Option<&'a str>,
    event_type: &'static str,
    src_ip: String,
    src_port: u16,
    dest_ip: String,
    dest_port: u16,
    proto: &'static str,
    app_proto: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    community_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pcap_filename: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pcap_cnt: Option<u64>,
    host: &'a str,
    alert: EveAlert,
    s7sentry: Ours<'a>,
}

fn eve<'a>(a: &'a Alert, ctx: &'a AlertContext) -> Eve<'a> {
    let mut tag = vec!["s7sentry", a.category.name()];
    tag.extend_from_slice(a.cve);
    Eve {
        timestamp: eve_timestamp(a.ts),
        flow_id: alert_flow_id(a),
        in_iface: ctx.in_iface.as_deref(),
        event_type: "alert",
        src_ip: a.src.to_string(),
        src_port: a.sport,
        dest_ip: a.dst.to_string(),
        dest_port: a.dport,
        proto: "TCP",
        app_proto: app_proto(a.rule),
        community_id: alert_community_id(a),
        // In `live` the alert's `pcap` names the interface, not a file.
        pcap_filename: ctx.in_iface.is_none().then_some(a.pcap.as_str()),
        pcap_cnt: (a.frame > 0).then_some(a.frame),
        host: &ctx.sensor,
        alert: EveAlert {
            action: "allowed",
            gid: GID,
            signature_id: signature_id(a.rule),
            rev: REV,
            signature: format!("S7SENTRY {}", a.rule),
            category: a.category.name(),
            severity: eve_severity(a.severity),
            metadata: Metadata {
                signature_severity: [signature_severity(a.severity)],
                attack_target: ["PLC"],
                affected_product: ["Siemens_SIMATIC_S7"],
                deployment: ["Internal"],
                tag,
            },
        },
        s7sentry: Ours {
            rule: a.rule,
            category: a.category.name(),
            severity: a.severity.name(),
            message: &a.message,
            cve: a.cve,
            pcap: &a.pcap,
            frame: a.frame,
            sensor: &ctx.sensor,
            evidence: &a.evidence,
        },
    }
}

/// Write alert `a` as one EVE JSON line.
pub fn write_eve(w: &mut dyn Write, a: &Alert, ctx: &AlertContext) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, &eve(a, ctx)).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}

/// The EVE JSON of alert `a` (without the newline).
pub fn eve_string(a: &Alert, ctx: &AlertContext) -> String {
    serde_json::to_string(&eve(a, ctx)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soc::tests::alert;
    use s7sentry_engine::rules::catalog::RULES;

    #[test]
    fn every_rule_has_a_unique_signature_id_in_range() {
        let mut seen = std::collections::HashSet::new();
        for (rule, n) in SIGNATURE_IDS {
            assert!(seen.insert(*n), "{n} used twice");
            assert!((7_102_001..UNMAPPED_SIGNATURE_ID).contains(n), "{rule}: {n}");
        }
        for r in RULES {
            assert!(
                SIGNATURE_IDS.iter().any(|(id, _)| *id == r.id),
                "rule {} has no EVE signature_id: add it to SIGNATURE_IDS in crates/export/src/eve.rs with the next free number",
                r.id
            );
        }
        assert_eq!(signature_id("control.cpu_stop"), 7_102_013);
        assert_eq!(signature_id("no.such_rule"), UNMAPPED_SIGNATURE_ID);
    }

    #[test]
    fn timestamp_and_severity_in_suricatas_form() {
        assert_eq!(eve_timestamp(Ts::new(1_767_225_600, 123_456_789)), "2026-01-01T00:00:00.123456+0000");
        assert_eq!(Severity::ALL.map(eve_severity), [4, 3, 2, 1, 1]);
    }

    #[test]
    fn replay_and_live_lines() {
        let a = alert("control.cpu_stop", Severity::Critical, Ts::new(1_767_225_600, 0));
        let v: serde_json::Value =
            serde_json::from_str(&eve_string(&a, &AlertContext::new(Some("s1".into()), None))).unwrap();
        assert_eq!(v["pcap_filename"], "x.pcap");
        assert_eq!(v["pcap_cnt"], 7);
        assert_eq!(v["host"], "s1");
        assert!(v.get("in_iface").is_none());
        assert_eq!(v["alert"]["signature_id"], 7_102_013);
        assert_eq!(v["alert"]["severity"], 1);
        assert_eq!(
            v["alert"]["metadata"]["tag"],
            serde_json::json!(["s7sentry", "unauthorized_control", "CVE-2018-13815"])
        );
        assert_eq!(v["s7sentry"]["severity"], "critical");
        assert_eq!(v["s7sentry"]["message"], "PLC Stop\u{7} sent");
        let v: serde_json::Value =
            serde_json::from_str(&eve_string(&a, &AlertContext::new(Some("s1".into()), Some("eth1".into())))).unwrap();
        assert_eq!(v["in_iface"], "eth1");
        assert!(v.get("pcap_filename").is_none(), "live: pcap names the interface");
        assert_eq!(v["pcap_cnt"], 7);
    }
}
