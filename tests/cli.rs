//! The command line: exit statuses and one-line messages for bad input,
//! configuration errors, `--fail-on`, `rules`, `--help`.

mod common;

use common::own_pcap;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_s7sentry")).args(args).output().expect("run s7sentry")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn p(case: &str, file: &str) -> String {
    own_pcap(case).join(file).display().to_string()
}

#[test]
fn missing_file_is_exit_2_naming_the_file() {
    let o = run(&["decode", "/nonexistent/x.pcap"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("/nonexistent/x.pcap") && e.to_lowercase().contains("no such file"), "{e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");
}

#[test]
fn non_capture_is_exit_2() {
    let f = p("decode_notpcap", "not_a_capture.txt");
    let o = run(&["decode", &f]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("not_a_capture.txt") && e.contains("cannot open capture"), "{e}");
    let o = run(&["replay", "-q", &f]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn truncated_capture_decodes_what_it_can_then_exit_1() {
    let f = p("decode_truncated", "capture.pcap");
    let o = run(&["decode", &f]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("unreadable record after frame 27") && e.contains("capture.pcap"), "{e}");
    let frames: Vec<u64> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["frame"].as_u64().unwrap())
        .collect();
    assert!(frames.len() >= 10, "records before the damage: {}", frames.len());
    assert!(frames.iter().all(|&f| f <= 27));
    // replay counts the unreadable record in its summary
    let o = run(&["replay", &f]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unreadable records 1"), "{}", stderr(&o));
}

#[test]
fn good_file_still_decoded_next_to_a_missing_one() {
    let good = p("decode_basic", "capture.pcap");
    let o = run(&["decode", "/nonexistent.pcap", &good]);
    assert_eq!(o.status.code(), Some(2));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().count() > 20);
    assert!(out.contains("\"pcap\":"), "multi-file runs tag records with the file");
}

#[test]
fn usage_errors_are_exit_2() {
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["decode"]).status.code(), Some(2));
    assert_eq!(run(&["decode", "--format", "xml", "x"]).status.code(), Some(2));
    assert_eq!(run(&["nosuchcommand"]).status.code(), Some(2));
    assert_eq!(run(&["--help"]).status.code(), Some(0));
}

#[test]
fn help_tells_the_operator() {
    let o = run(&["--help"]);
    let h = String::from_utf8_lossy(&o.stdout);
    for w in ["decode", "replay", "rules", "Exit status"] {
        assert!(h.contains(w), "--help lacks {w}: {h}");
    }
    let o = run(&["replay", "--help"]);
    let h = String::from_utf8_lossy(&o.stdout);
    for w in ["--config", "--engineering-hosts", "--alerts", "--fail-on"] {
        assert!(h.contains(w), "replay --help lacks {w}");
    }
}

#[test]
fn config_errors_name_the_key() {
    let dir = std::env::temp_dir().join(format!("s7sentry-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[thresholds]\nsyn_per_sec = 10\n").unwrap();
    let f = p("decode_basic", "capture.pcap");
    let o = run(&["replay", "--config", bad.to_str().unwrap(), &f]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("bad.toml") && e.contains("syn_per_sec"), "{e}");
    let o = run(&["replay", "--engineering-hosts", "10.0.0.0/40", &f]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--engineering-hosts"), "{}", stderr(&o));
    let o = run(&["replay", "--config", "/nonexistent.toml", &f]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent.toml"));
}

#[test]
fn rule_switched_off_and_regraded_in_config() {
    let dir = std::env::temp_dir().join(format!("s7sentry-cli2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        "[rules.\"control.cpu_stop\"]\nseverity = \"low\"\n[rules.\"control.engineering_session\"]\nenabled = false\n",
    )
    .unwrap();
    let f = p("attack_cpu_stop", "capture.pcap");
    let o = run(&["replay", "-q", "--config", cfg.to_str().unwrap(), &f]);
    let a: Vec<serde_json::Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let stop: Vec<_> = a.iter().filter(|x| x["rule"] == "control.cpu_stop").collect();
    assert_eq!(stop.len(), 1);
    assert_eq!(stop[0]["severity"], "low");
}

#[test]
fn fail_on_severity() {
    let attack = p("attack_cpu_stop", "capture.pcap");
    let benign = p("benign_plant", "capture.pcap");
    assert_eq!(run(&["replay", "-q", "--fail-on", "high", &attack]).status.code(), Some(1));
    assert_eq!(run(&["replay", "-q", "--fail-on", "high", &benign]).status.code(), Some(0));
    assert_eq!(run(&["replay", "-q", &attack]).status.code(), Some(0));
}

#[test]
fn alerts_to_a_file_and_summary_on_stderr() {
    let dir = std::env::temp_dir().join(format!("s7sentry-cli3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("alerts.jsonl");
    let f = p("attack_cpu_stop", "capture.pcap");
    let o = run(&["replay", "--alerts", out.to_str().unwrap(), &f]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    let a: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for k in [
        "ts", "frame", "pcap", "rule", "category", "severity", "src", "sport", "dst", "dport", "message", "cve",
        "evidence",
    ] {
        assert!(a.get(k).is_some(), "alert lacks {k}: {a}");
    }
    let e = stderr(&o);
    for w in [
        "packets",
        "packets/s",
        "PDUs",
        "findings by layer",
        "unreadable records",
        "detector caps hit: none",
        "control.cpu_stop",
    ] {
        assert!(e.contains(w), "summary lacks {w}: {e}");
    }
    assert!(e.lines().any(|l| l.trim() == "stream: none"), "summary: {e}");
}

#[test]
fn summary_lists_the_stream_counters_that_moved() {
    let f = p("evasion_tcp_checksum_decoy", "capture.pcap");
    let o = run(&["replay", "--alerts", "/dev/null", &f]);
    assert_eq!(o.status.code(), Some(0));
    let e = stderr(&o);
    let line =
        e.lines().find(|l| l.trim_start().starts_with("stream: ")).unwrap_or_else(|| panic!("no stream line: {e}"));
    for w in ["checksum_invalid ", "checksum_conflict "] {
        assert!(line.contains(w), "stream line lacks {w}: {line}");
    }
    assert!(!line.contains("none"), "{line}");
}

#[test]
fn rules_catalogue_lists_every_family() {
    let o = run(&["rules"]);
    let t = String::from_utf8_lossy(&o.stdout);
    for w in [
        "malformed.",
        "crash_pattern.",
        "control.cpu_stop",
        "flood.",
        "loss_of_communication.plc_unresponsive",
        "CVE-2025-40944",
    ] {
        assert!(t.contains(w), "rules lacks {w}");
    }
    let o = run(&["rules", "--format", "jsonl"]);
    let n = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    assert!(n >= 30);
}
