//! `[[policy]]`, learned quirks and `check-config` through the binary: exit
//! statuses and messages of `check-config`, suppressions in the summary, and
//! learned quirks kept in the `--state` file across runs.

mod common;

use common::{own_pcap, tmpdir};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_s7sentry")).args(args).output().expect("run s7sentry")
}

fn repo(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p).to_string_lossy().to_string()
}

fn alerts(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).expect("alert JSON")).collect()
}

#[test]
fn check_config_prints_the_policies_and_warnings_and_exits_2_on_errors() {
    let o = run(&["check-config", &repo("tests/golden_policy.toml")]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out} {}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("valid"), "{out}");
    assert!(out.contains("engineering hosts: 10.10.3.30"), "{out}");
    assert!(out.contains("1. suppress crash_pattern.cotp_dr (1 rule(s)) from 10.10.2.20"), "{out}");
    assert!(out.contains("2. regrade to low category malformed"), "{out}");
    assert!(out.contains("policy[3]: the pattern also matches") && out.contains("control rule"), "{out}");

    let dir = tmpdir("checkcfg");
    for (text, key) in [
        ("[[policy]]\nrule = \"control.cpu_stop\"\nsrc = \"10.10.0.0/16\"\naction = \"suppress\"\n", "policy[1]"),
        ("[[policy]]\nrule = \"malformed.*\"\naction = \"supress\"\n", "supress"),
        ("[[policy]]\nrule = \"flood.synn\"\naction = \"suppress\"\n", "flood.synn"),
        ("[[policy]]\nrule = \"*\"\nsrc = \"10.1.1.300\"\naction = \"suppress\"\n", "10.1.1.300"),
        ("[thresholds]\nsyn_per_secnd = 5\n", "syn_per_secnd"),
    ] {
        let f = dir.join("bad.toml");
        std::fs::write(&f, text).unwrap();
        let o = run(&["check-config", f.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains("bad.toml") && err.contains(key), "{text}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        // replay refuses the same file the same way.
        let o = run(&["replay", "-q", "--config", f.to_str().unwrap(), &repo("pcaps/decode_basic/capture.pcap")]);
        assert_eq!(o.status.code(), Some(2), "{text}");
    }
    let o = run(&["check-config", dir.join("missing.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.toml"));
}

#[test]
fn suppressions_are_counted_in_the_summary() {
    let cap = own_pcap("detector_policy_quirk").join("capture.pcap");
    let o = run(&["replay", "--config", &repo("tests/golden_policy.toml"), cap.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("suppressed by policy 2"), "{err}");
    let line = err.lines().skip_while(|l| !l.contains("suppressed by policy")).nth(1).unwrap_or("");
    assert!(line.contains("crash_pattern.cotp_dr") && line.trim_end().ends_with(" 2"), "{err}");
    let a = alerts(&o);
    assert!(!a.iter().any(|a| a["rule"] == "crash_pattern.cotp_dr" && a["src"] == "10.10.2.20"));
    assert!(a.iter().any(|a| a["rule"] == "control.cpu_stop" && a["severity"] == "critical"));
}

/// Quirks learned in one run are in the state file: the next run (baseline
/// frozen) grades them info from the first packet, for those talkers only.
#[test]
fn learned_quirks_are_kept_in_the_state_file() {
    let dir = tmpdir("quirks");
    let state = dir.join("state.db");
    let cap = own_pcap("detector_learned_quirk").join("capture.pcap");
    let cfg = repo("tests/golden.toml");
    let (st, cap) = (state.to_str().unwrap(), cap.to_str().unwrap());
    let o = run(&["replay", "-q", "--config", &cfg, "--state", st, "--learn", "20s", cap]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let first = alerts(&o);
    assert_eq!(first.iter().filter(|a| a["evidence"]["learned_quirk"] == true).count(), 2, "{first:?}");
    let fleet = s7sentry_inventory::Store::open(&state).unwrap().load().unwrap();
    let q: Vec<(String, Vec<String>)> = fleet.quirks.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    assert_eq!(
        q,
        vec![
            ("10.10.2.20".to_string(), vec!["crash_pattern.cotp_dr".to_string()]),
            ("10.10.2.21".to_string(), vec!["malformed.s7comm".to_string()]),
        ]
    );
    let o = run(&["baseline", "show", "--state", st, "--format", "jsonl"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["mode"].as_str(), v["learned_quirks"].as_u64()), (Some("frozen"), Some(2)));
    let o = run(&["baseline", "show", "--state", st]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("quirks:    2 learned"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = run(&["replay", "-q", "--config", &cfg, "--state", st, cap]);
    let second = alerts(&o);
    let graded: Vec<(u64, &str)> = second
        .iter()
        .filter(|a| a["severity"] == "info")
        .map(|a| (a["frame"].as_u64().unwrap(), a["src"].as_str().unwrap()))
        .collect();
    assert_eq!(graded, vec![(14, "10.10.2.20"), (28, "10.10.2.21"), (62, "10.10.2.20"), (76, "10.10.2.21")]);
    let other = second.iter().find(|a| a["src"] == "10.10.2.22").expect("the third HMI still alerts");
    assert_eq!(other["severity"], "low");
    assert!(other["evidence"].get("learned_quirk").is_none());
}

#[test]
fn the_rule_catalogue_documents_suppression() {
    let o = run(&["rules", "--format", "jsonl"]);
    let rules: Vec<Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let get = |id: &str| rules.iter().find(|r| r["id"] == id).unwrap()["suppression"].as_str().unwrap().to_string();
    assert!(get("control.cpu_stop").contains("exact src host"), "{}", get("control.cpu_stop"));
    assert!(get("crash_pattern.cotp_dr").contains("learned quirk"));
    assert!(!get("flood.syn").contains("learned quirk"));
    assert!(rules.iter().all(|r| r["suppression"].is_string()));
    let o = run(&["rules"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("  suppression: "));
}
