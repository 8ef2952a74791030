//! EVE lines checked against the field names and types of the EVE JSON schema
//! Suricata publishes (`etc/schema.json` in OISF/suricata, read for this test;
//! the checks below encode what it says about the fields an alert can carry).
//!
//! Alerts come from replaying bundled captures through the engine and detector
//! (real evidence, every category), plus one synthetic alert per catalogue rule.

use s7sentry_capture::{MemorySource, PacketSource};
use s7sentry_engine::rules::catalog::RULES;
use s7sentry_engine::rules::{Alert, DetectConfig, Detector};
use s7sentry_engine::{Engine, EngineConfig, Frame, Ts};
use s7sentry_export::eve::eve_string;
use s7sentry_export::soc::AlertContext;
use serde_json::Value;
use std::path::Path;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum T {
    Str,
    Int,
    Obj,
}

/// Top-level alert fields of the schema and their types.
const TOP: &[(&str, T)] = &[
    ("timestamp", T::Str),
    ("flow_id", T::Int),
    ("event_type", T::Str),
    ("src_ip", T::Str),
    ("src_port", T::Int),
    ("dest_ip", T::Str),
    ("dest_port", T::Int),
    ("proto", T::Str),
    ("app_proto", T::Str),
    ("community_id", T::Str),
    ("pcap_filename", T::Str),
    ("pcap_cnt", T::Int),
    ("tx_id", T::Int),
    ("alert", T::Obj),
];

/// Fields Suricata writes that the published schema does not list (`in_iface`
/// for live captures, `host` with `sensor-name`), and our own key.
const EXTRA: &[(&str, T)] = &[("in_iface", T::Str), ("host", T::Str), ("s7sentry", T::Obj)];

/// `alert` object: additionalProperties false in the schema.
const ALERT: &[(&str, T)] = &[
    ("action", T::Str),
    ("category", T::Str),
    ("gid", T::Int),
    ("rev", T::Int),
    ("rule", T::Str),
    ("severity", T::Int),
    ("signature", T::Str),
    ("signature_id", T::Int),
    ("xff", T::Str),
    ("metadata", T::Obj),
];

/// `alert.metadata`: additionalProperties false; every value an array of strings.
const METADATA: &[&str] = &[
    "affected_product",
    "attack_target",
    "created_at",
    "deployment",
    "former_category",
    "malware_family",
    "policy",
    "signature_severity",
    "tag",
    "updated_at",
];

fn type_ok(v: &Value, t: T) -> bool {
    match t {
        T::Str => v.is_string(),
        T::Int => v.is_i64() || v.is_u64(),
        T::Obj => v.is_object(),
    }
}

/// The schema's timestamp pattern `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+[+\-]\d+$`.
fn timestamp_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if b.len() < 22 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) {
        return false;
    }
    if b[10] != b'T' || !digits(11..13) || b[13] != b':' || !digits(14..16) || b[16] != b':' || !digits(17..19) {
        return false;
    }
    if b[19] != b'.' {
        return false;
    }
    let rest = &s[20..];
    let Some(k) = rest.find(['+', '-']) else {
        return false;
    };
    k > 0
        && rest[..k].bytes().all(|c| c.is_ascii_digit())
        && rest.len() > k + 1
        && rest[k + 1..].bytes().all(|c| c.is_ascii_digit())
}

fn check(line: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return vec![format!("not JSON: {e}")],
    };
    let Some(top) = v.as_object() else {
        return vec!["not an object".into()];
    };
    for required in ["timestamp", "event_type"] {
        if !top.contains_key(required) {
            errs.push(format!("{required} missing"));
        }
    }
    for (k, val) in top {
        match TOP.iter().chain(EXTRA).find(|(n, _)| n == k) {
            None => errs.push(format!("top-level key {k} not in the schema")),
            Some((_, t)) if !type_ok(val, *t) => errs.push(format!("{k}: {val} is not {t:?}")),
            _ => {}
        }
    }
    if !top.get("timestamp").and_then(Value::as_str).is_some_and(timestamp_ok) {
        errs.push(format!("timestamp {:?} does not match the schema's pattern", top.get("timestamp")));
    }
    if top.get("event_type").and_then(Value::as_str) != Some("alert") {
        errs.push("event_type is not alert".into());
    }
    let Some(alert) = top.get("alert").and_then(Value::as_object) else {
        errs.push("alert missing".into());
        return errs;
    };
    for (k, val) in alert {
        match ALERT.iter().find(|(n, _)| n == k) {
            None => errs.push(format!("alert.{k} not in the schema")),
            Some((_, t)) if !type_ok(val, *t) => errs.push(format!("alert.{k}: {val} is not {t:?}")),
            _ => {}
        }
    }
    for k in ["signature_id", "signature", "category", "severity", "gid", "rev", "action"] {
        if !alert.contains_key(k) {
            errs.push(format!("alert.{k} missing"));
        }
    }
    if let Some(md) = alert.get("metadata").and_then(Value::as_object) {
        for (k, val) in md {
            if !METADATA.contains(&k.as_str()) {
                errs.push(format!("alert.metadata.{k} not in the schema"));
            }
            if !val.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                errs.push(format!("alert.metadata.{k} is not an array of strings"));
            }
        }
    }
    let sev = alert.get("severity").and_then(Value::as_u64).unwrap_or(0);
    if !(1..=4).contains(&sev) {
        errs.push(format!("alert.severity {sev} outside Suricata's 1..4"));
    }
    errs
}

fn replay(case: &str) -> Vec<Alert> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cfg = DetectConfig::from_toml(&std::fs::read_to_string(root.join("tests/golden.toml")).unwrap()).unwrap();
    let mut src = MemorySource::load(&root.join("pcaps").join(case).join("capture.pcap")).unwrap();
    let mut engine = Engine::new(EngineConfig::default());
    let mut det = Detector::new(cfg);
    let mut out = Vec::new();
    while let Some(p) = src.next_packet().unwrap() {
        let fr = Frame { frame: p.frame, ts: Ts::new(p.ts.secs, p.ts.nanos), linktype: p.linktype.0, data: p.data };
        engine.process(&fr, &mut det);
        out.extend(det.drain());
    }
    engine.finish(&mut det);
    det.finish();
    out.extend(det.drain());
    for a in &mut out {
        a.pcap = case.to_string();
    }
    out
}

#[test]
fn eve_lines_match_suricatas_schema() {
    let contexts = [AlertContext::new(Some("sensor-a".into()), None), AlertContext::new(None, Some("eth1".into()))];
    let mut alerts = Vec::new();
    for case in ["attack_mixed", "attack_syn_flood", "attack_plc_crash", "attack_ip_fragments", "s7plus_tls"] {
        let got = replay(case);
        assert!(!got.is_empty(), "{case}: no alerts");
        alerts.extend(got);
    }
    assert!(alerts.iter().any(|a| a.flow_start != Ts(0)), "some alerts are tied to a connection");
    let template = alerts[0].clone();
    for r in RULES {
        let mut a = template.clone();
        a.rule = r.id;
        a.category = r.category;
        a.severity = r.severity;
        a.cve = r.cve;
        alerts.push(a);
    }
    let mut errs = Vec::new();
    for a in &alerts {
        for ctx in &contexts {
            let line = eve_string(a, ctx);
            errs.extend(check(&line).into_iter().map(|e| format!("{}: {e}\n  {line}", a.rule)));
        }
    }
    assert!(errs.is_empty(), "{} problems:\n{}", errs.len(), errs.join("\n"));
}

#[test]
fn the_checker_rejects_what_the_schema_rejects() {
    let good = r#"{"timestamp":"2026-01-01T00:00:00.123456+0000","event_type":"alert","alert":{"signature_id":1,"signature":"x","category":"c","severity":1,"gid":1,"rev":1,"action":"allowed"}}"#;
    assert!(check(good).is_empty(), "{:?}", check(good));
    for bad in [
        good.replace("+0000", "Z"),
        good.replace("\"severity\":1", "\"severity\":\"high\""),
        good.replace("\"gid\":1", "\"gid\":1,\"extra\":2"),
        good.replace("\"event_type\":\"alert\",", "\"event_type\":\"alert\",\"message\":\"x\","),
        good.replace("\"action\":\"allowed\"", "\"action\":\"allowed\",\"metadata\":{\"cve\":[\"x\"]}"),
        good.replace("\"action\":\"allowed\"", "\"action\":\"allowed\",\"metadata\":{\"tag\":\"x\"}"),
        good.replace("\"event_type\":\"alert\",", "\"event_type\":\"alert\",\"src_port\":\"102\","),
    ] {
        assert!(!check(&bad).is_empty(), "accepted {bad}");
    }
}
