//! Golden replays: every case in `pcaps/` is replayed with `tests/golden.toml`
//! and its alerts compared exactly (frame, rule, category, severity, in order)
//! with `pcaps/<case>/expected_alerts.tsv`.
//!
//! To regenerate after a deliberate change: `S7SENTRY_BLESS=1 cargo test --test golden`,
//! then review the diff of the .tsv files like code.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&root).expect("pcaps/") {
        let d = e.unwrap().path();
        if !d.is_dir() {
            continue;
        }
        let cap = ["capture.pcap", "capture.pcapng"].iter().map(|n| d.join(n)).find(|p| p.exists());
        if let Some(c) = cap {
            v.push((d.file_name().unwrap().to_string_lossy().to_string(), c));
        }
    }
    v.sort();
    v
}

fn replay(cap: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_s7sentry"))
        .args(["replay", "-q", "--config"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden.toml"))
        .arg(cap)
        .output()
        .expect("run s7sentry");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}: {:?} {}",
        cap.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut s = String::from("# frame\trule\tcategory\tseverity\n");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let a: serde_json::Value = serde_json::from_str(line).expect("alert JSON");
        s.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            a["frame"],
            a["rule"].as_str().unwrap(),
            a["category"].as_str().unwrap(),
            a["severity"].as_str().unwrap()
        ));
    }
    s
}

#[test]
fn every_case_raises_exactly_its_expected_alerts() {
    let bless = std::env::var_os("S7SENTRY_BLESS").is_some();
    let cases = cases();
    assert!(cases.len() >= 50, "expected the generated cases in pcaps/, found {}", cases.len());
    let mut failures = Vec::new();
    for (name, cap) in &cases {
        let got = replay(cap);
        let exp_path = cap.parent().unwrap().join("expected_alerts.tsv");
        if bless {
            std::fs::write(&exp_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&exp_path)
            .unwrap_or_else(|_| panic!("{} missing (bless with S7SENTRY_BLESS=1)", exp_path.display()));
        if got != want {
            failures.push(format!("== {name}\n-- expected\n{want}-- got\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{} case(s) differ:\n{}", failures.len(), failures.join("\n"));
}

/// Every attack case must raise at least one alert of the category its name
/// promises, and every benign twin nothing above info.
#[test]
fn attack_cases_alert_and_benign_twins_stay_quiet() {
    for (name, cap) in cases() {
        let got = replay(&cap);
        let rows: Vec<Vec<&str>> = got.lines().skip(1).map(|l| l.split('\t').collect()).collect();
        if name.starts_with("benign_") {
            let loud: Vec<_> = rows.iter().filter(|r| r[3] != "info").collect();
            assert!(loud.is_empty(), "{name}: benign case raised {loud:?}");
        } else if name.starts_with("attack_") {
            assert!(rows.iter().any(|r| r[3] != "info"), "{name}: attack case raised nothing above info");
        }
    }
}
