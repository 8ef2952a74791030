//! Configuration reload (`Detector::reconfigure`, what `live` does on SIGHUP)
//! between two frames keeps every piece of detection state — aggregation
//! windows, pending control operations, flows — and the new policy applies from
//! the next alert on.

use s7sentry_capture::{MemorySource, PacketSource, Polled};
use s7sentry_engine::rules::{Alert, DetectConfig, Detector, Severity};
use s7sentry_engine::EngineConfig;
use s7sentry_sensor::{frame, NoExtra, Pipeline};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn config(name: &str) -> DetectConfig {
    let text = std::fs::read_to_string(root().join("tests").join(name)).expect("config");
    DetectConfig::from_toml(&text).expect("valid config")
}

/// Replay `case` with `cfg`, handing `reload` to the detector right after frame `at`.
fn replay(case: &str, cfg: DetectConfig, reload: Option<(u64, DetectConfig)>) -> Vec<Alert> {
    let p = root().join("pcaps").join(case).join("capture.pcap");
    let mut src = MemorySource::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut pipe = Pipeline::new(EngineConfig::default(), Some(Detector::new(cfg)), NoExtra);
    let mut out = Vec::new();
    let mut reload = reload;
    let mut n = 0u64;
    while let Polled::Packet(pk) = src.poll().expect("readable") {
        n += 1;
        pipe.process(&frame(&pk), &mut out).unwrap();
        if reload.as_ref().is_some_and(|(at, _)| *at == n) {
            let (_, c) = reload.take().unwrap();
            pipe.detector_mut().unwrap().reconfigure(c);
        }
    }
    pipe.finish(&mut out).unwrap();
    out
}

fn lines(v: &[Alert]) -> Vec<String> {
    v.iter()
        .map(|a| format!("{} {} {} {} {} {}", a.frame, a.rule, a.severity.name(), a.src, a.message, a.evidence.len()))
        .collect()
}

/// Reloading the same configuration in the middle of a flood (an aggregation
/// window open, flows and per-PLC rate state live) changes nothing: the
/// follow-up still counts every occurrence since the first alert.
#[test]
fn reload_mid_flood_keeps_aggregation_windows_and_flows() {
    let plain = replay("attack_write_flood", config("golden.toml"), None);
    let first = plain.iter().find(|a| a.rule == "flood.requests").expect("flood alert").frame;
    let follow = plain.iter().find(|a| a.evidence.get("aggregated").is_some()).expect("a follow-up");
    assert!(follow.frame > first + 10);
    let reloaded = replay("attack_write_flood", config("golden.toml"), Some((first + 10, config("golden.toml"))));
    assert_eq!(lines(&plain), lines(&reloaded), "a reload lost detection state");
    assert_eq!(
        follow.evidence["count"],
        reloaded.iter().find(|a| a.evidence.get("aggregated").is_some()).unwrap().evidence["count"]
    );
}

/// A policy loaded between a CPU STOP job and the PLC's answer: the pending
/// operation survives (the alert still carries the answer and its outcome),
/// alerts raised before the reload stay as they were, and the new policy
/// suppresses the next matching alert.
#[test]
fn reload_between_request_and_answer_keeps_the_pending_operation_and_applies_the_policy() {
    let case = "detector_policy_quirk";
    let before = replay(case, config("golden.toml"), None);
    let stop = before.iter().find(|a| a.rule == "control.cpu_stop").expect("STOP alert");
    let answer = stop.evidence["answer_frame"].as_u64().expect("answered");
    assert_eq!(answer, stop.frame + 1, "the case answers the STOP in the next frame");
    // The pen-test box's DR after its STOP alerts without the policy.
    assert!(before.iter().any(|a| a.rule == "crash_pattern.cotp_dr" && a.src.to_string() == "10.10.9.99"));

    let after = replay(case, config("golden.toml"), Some((stop.frame, config("golden_policy.toml"))));
    let s = after.iter().find(|a| a.rule == "control.cpu_stop").expect("STOP still alerted");
    assert_eq!(s.evidence["answer_frame"].as_u64(), Some(answer), "pending operation lost across the reload");
    assert_eq!(s.evidence["outcome"], "succeeded");
    assert_eq!(s.severity, Severity::Critical, "a broad policy never silences control operations");
    // Before the reload: as without a policy (HMI 10.10.2.20's DR alerted, the
    // Read Var without item count at its rule severity).
    assert!(after.iter().any(|a| a.rule == "crash_pattern.cotp_dr" && a.src.to_string() == "10.10.2.20"));
    let m = after.iter().find(|a| a.rule == "malformed.s7comm").unwrap();
    assert_eq!(m.severity, Severity::Medium);
    // After it: 10.10.9.99's structural alert is suppressed, and counted.
    assert!(!after.iter().any(|a| a.rule == "crash_pattern.cotp_dr" && a.src.to_string() == "10.10.9.99"));
    assert_eq!(after.len() + 1, before.len());
}

/// Without a reload, the policy configuration from the start: both policies act,
/// the suppressions are counted per rule, the regraded alert says what it was.
#[test]
fn policy_counts_suppressions_and_marks_regrades() {
    let p = root().join("pcaps/detector_policy_quirk/capture.pcap");
    let mut src = MemorySource::load(&p).unwrap();
    let mut pipe = Pipeline::new(EngineConfig::default(), Some(Detector::new(config("golden_policy.toml"))), NoExtra);
    let mut out = Vec::new();
    assert!(s7sentry_sensor::run(&mut src, &mut pipe, &mut out).is_ok());
    pipe.finish(&mut out).unwrap();
    let d = pipe.detector().unwrap();
    let dr = s7sentry_engine::rules::catalog::CRASH_COTP_DR;
    assert_eq!(d.policy.suppressed[dr], 2, "10.10.2.20's and 10.10.9.99's DR");
    assert_eq!(d.policy.suppressed.iter().sum::<u64>(), 2);
    let m = out.iter().find(|a| a.rule == "malformed.s7comm").unwrap();
    assert_eq!(m.severity, Severity::Low);
    assert_eq!(m.evidence["regraded_from"], "medium");
    assert!(m.evidence["policy"].as_str().unwrap().contains("10.10.2.21"));
}
