//! `s7sentry inventory`, `s7sentry baseline` and `--state` on `replay`: exit
//! statuses, one-line errors naming the file, and the report against the real
//! CSAF files in `../shared/csaf/` and a malformed advisory.

mod common;

use common::{own_pcap, shared_dir};
use s7sentry_engine::assets::{Device, Fleet, Role, Talker};
use s7sentry_engine::Ts;
use s7sentry_inventory::Store;
use serde_json::Value;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_s7sentry")).args(args).output().expect("run s7sentry")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("s7sentry-invcli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Two PLCs (one on affected, one on fixed firmware of the S7-1500 advisories),
/// an HMI talking to the first and an engineering station talking to both.
fn write_state(path: &Path) -> Fleet {
    let t = |s: i64| Ts::new(1_767_225_600 + s, 0);
    let talker = |baseline| Talker { first_seen: t(1), last_seen: t(60), baseline, functions: Default::default() };
    let mut fleet = Fleet::default();
    for (a, order, fw) in
        [("10.0.0.10", "6ES7 511-1AK02-0AB0", "V2.9.2"), ("10.0.0.11", "6ES7511-1AL03-0AB0", "V3.1.0")]
    {
        let mut d = Device::new(ip(a), t(0));
        d.role = Role::Plc;
        d.last_seen = t(60);
        d.identity.order_number = Some(order.into());
        d.identity.firmware = Some(fw.into());
        d.identity.serial = Some(format!("S C-{a}"));
        d.talkers.insert(ip("10.0.0.30"), talker(true));
        fleet.devices.insert(d.address, d);
    }
    fleet.devices.get_mut(&ip("10.0.0.10")).unwrap().talkers.insert(ip("10.0.0.20"), talker(false));
    for (a, role) in [("10.0.0.20", Role::Hmi), ("10.0.0.30", Role::EngineeringStation)] {
        let mut d = Device::new(ip(a), t(0));
        d.role = role;
        fleet.devices.insert(d.address, d);
    }
    Store::open(path).unwrap().save(&fleet).unwrap();
    fleet
}

#[test]
fn missing_or_foreign_state_is_exit_2_naming_the_file() {
    let dir = tmpdir("missing");
    let missing = dir.join("nope.db");
    for args in [
        vec!["inventory", "--state", s(&missing)],
        vec!["baseline", "show", "--state", s(&missing)],
        vec!["baseline", "freeze", "--state", s(&missing)],
        vec!["baseline", "learn", "--state", s(&missing), "--for", "8h"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains("nope.db") && e.contains("no such state file"), "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "one line: {e}");
        assert!(!missing.exists(), "{args:?} created the file");
    }
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a database\n").unwrap();
    for args in [vec!["inventory", "--state", s(&text)], vec!["replay", "-q", "--state", s(&text), "x.pcap"]] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains("notes.txt") && e.contains("not an s7sentry state file"), "{args:?}: {e}");
    }
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "not a database\n");
}

#[test]
fn inventory_correlates_with_the_real_advisories() {
    let dir = tmpdir("real");
    let state = dir.join("state.db");
    write_state(&state);
    let csaf = shared_dir().join("csaf");
    let o = run(&["inventory", "--state", s(&state), "--csaf", s(&csaf), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    // The vulnerable PLC an HMI talks to comes first.
    assert_eq!(rows[0]["address"], "10.0.0.10");
    let mut ids: Vec<&str> =
        rows[0]["advisories"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["ICSA-22-041-01", "ICSA-22-349-03", "ICSA-23-257-01", "ICSA-23-348-09"]);
    assert_eq!(rows[0]["exposure"], serde_json::json!(["10.0.0.20"]));
    let talkers = rows[0]["talkers"].as_array().unwrap();
    assert_eq!(talkers.len(), 2);
    assert!(talkers.iter().any(|t| t["address"] == "10.0.0.30" && t["engineering"] == true));
    // The fixed one: V3.1.0 of the 1AL03 is outside every range.
    assert_eq!(rows[1]["address"], "10.0.0.11");
    assert_eq!(rows[1]["advisories"], serde_json::json!([]));
    for r in rows {
        for k in [
            "address",
            "role",
            "order_number",
            "firmware",
            "serial",
            "first_seen",
            "last_seen",
            "talkers",
            "advisories",
        ] {
            assert!(r.get(k).is_some(), "{k}");
        }
    }

    let o = run(&["inventory", "--state", s(&state), "--csaf", s(&csaf)]);
    assert_eq!(o.status.code(), Some(0));
    let t = stdout(&o);
    for w in ["ADDRESS", "ORDER NUMBER", "FIRMWARE", "ICSA-23-348-09", "6ES7 511-1AK02-0AB0", "V2.9.2", "4 devices"] {
        assert!(t.contains(w), "table lacks {w}:\n{t}");
    }
    let o = run(&["inventory", "--state", s(&state), "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).lines().count(), 5);
    assert!(stdout(&o).starts_with("address,role,order_number,firmware"));
}

#[test]
fn malformed_advisory_is_named_and_the_rest_used_exit_1() {
    let dir = tmpdir("malformed");
    let state = dir.join("state.db");
    write_state(&state);
    let csaf = dir.join("csaf");
    std::fs::create_dir_all(&csaf).unwrap();
    let good = serde_json::json!({
        "document": { "category": "csaf_security_advisory", "csaf_version": "2.0", "title": "Test all 1511-1 PN",
                      "tracking": { "id": "TEST-CLI-1", "current_release_date": "2025-01-01T00:00:00Z", "version": "1" } },
        "product_tree": { "branches": [{ "category": "vendor", "name": "Siemens", "branches": [
            { "category": "product_name", "name": "SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AK02-0AB0)", "branches": [
                { "category": "product_version_range", "name": "vers:all/*",
                  "product": { "product_id": "P1", "name": "SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AK02-0AB0)" } } ] } ] }] },
        "vulnerabilities": [{ "cve": "CVE-2099-2001", "product_status": { "known_affected": ["P1"] },
                              "scores": [{ "products": ["P1"], "cvss_v3": { "baseScore": 6.1 } }] }]
    });
    std::fs::write(csaf.join("good.json"), good.to_string()).unwrap();
    let mut bad = good.clone();
    bad["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"] = Value::String("high".into());
    bad["document"]["tracking"]["id"] = Value::String("TEST-CLI-2".into());
    std::fs::write(csaf.join("bad.json"), bad.to_string()).unwrap();
    let o = run(&["inventory", "--state", s(&state), "--csaf", s(&csaf), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("bad.json") && e.contains("/vulnerabilities/0/scores/0/cvss_v3/baseScore"), "{e}");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["advisories"][0]["id"], "TEST-CLI-1");
    assert_eq!(v[0]["advisories"][0]["cvss"], 6.1);
    assert_eq!(v[0]["advisories"][0]["fixed_in"], Value::Null);
    // A CSAF directory that does not exist: exit 2, nothing printed on stdout.
    let o = run(&["inventory", "--state", s(&state), "--csaf", s(&dir.join("nope"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope") && o.stdout.is_empty());
}

#[test]
fn baseline_freeze_learn_show() {
    let dir = tmpdir("baseline");
    let state = dir.join("state.db");
    write_state(&state);
    let show = || -> Value {
        let o = run(&["baseline", "show", "--state", s(&state), "--format", "jsonl"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    let v = show();
    assert_eq!((v["mode"].as_str(), v["devices"].as_u64(), v["talkers"].as_u64()), (Some("off"), Some(4), Some(3)));
    assert_eq!(v["talkers_baseline"], 2);
    let o = run(&["baseline", "freeze", "--state", s(&state)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("baseline frozen"), "{}", stdout(&o));
    let v = show();
    assert_eq!(v["mode"], "frozen");
    assert_eq!((v["devices_baseline"].as_u64(), v["talkers_baseline"].as_u64()), (Some(4), Some(3)));
    let o = run(&["baseline", "learn", "--state", s(&state), "--for", "8h"]);
    assert_eq!(o.status.code(), Some(0));
    let v = show();
    assert_eq!(v["mode"], "learning");
    assert_eq!(v["devices_baseline"], 4, "learning again keeps the baseline");
    let o = run(&["baseline", "show", "--state", s(&state)]);
    assert!(stdout(&o).contains("learning until"), "{}", stdout(&o));
    // Bad durations are usage errors.
    assert_eq!(run(&["baseline", "learn", "--state", s(&state), "--for", "8"]).status.code(), Some(2));
    assert_eq!(run(&["replay", "--learn", "soon", "x.pcap"]).status.code(), Some(2));
}

#[test]
fn replay_with_state_creates_and_keeps_it() {
    let dir = tmpdir("replay");
    let state = dir.join("plant.db");
    let f = own_pcap("benign_plant").join("capture.pcap");
    let o = run(&["replay", "--state", s(&state), "--learn", "1h", s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("inventory:") && stderr(&o).contains("plant.db"), "{}", stderr(&o));
    assert!(state.exists());
    let before = Store::open(&state).unwrap().load().unwrap();
    // A second replay loads what the first saved (and adds to it).
    let o = run(&["replay", "-q", "--state", s(&state), s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let after = Store::open(&state).unwrap().load().unwrap();
    assert!(after.devices.len() >= before.devices.len());
    let o = run(&["inventory", "--state", s(&state), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(serde_json::from_str::<Value>(&stdout(&o)).unwrap().is_array());
    // A state written by hand survives a replay that adds nothing to it.
    let hand = dir.join("hand.db");
    let fleet = write_state(&hand);
    let empty = own_pcap("decode_basic").join("capture.pcap");
    let o = run(&["replay", "-q", "--state", s(&hand), s(&empty)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = Store::open(&hand).unwrap().load().unwrap();
    for (a, d) in &fleet.devices {
        let g = &got.devices[a];
        assert_eq!((&g.identity, g.role, g.first_seen), (&d.identity, d.role, d.first_seen), "{a}");
    }
}

#[test]
fn help_names_the_inventory_options() {
    let h = stdout(&run(&["--help"]));
    for w in ["inventory", "baseline"] {
        assert!(h.contains(w), "--help lacks {w}");
    }
    let h = stdout(&run(&["replay", "--help"]));
    for w in ["--state", "--learn"] {
        assert!(h.contains(w), "replay --help lacks {w}");
    }
    let h = stdout(&run(&["live", "--help"]));
    for w in ["--state", "--learn", "--csaf", "--save-interval"] {
        assert!(h.contains(w), "live --help lacks {w}");
    }
    let h = stdout(&run(&["inventory", "--help"]));
    for w in ["--state", "--csaf", "--format", "/var/lib/s7sentry/state.db", "table", "json", "csv"] {
        assert!(h.contains(w), "inventory --help lacks {w}");
    }
    let h = stdout(&run(&["baseline", "--help"]));
    for w in ["freeze", "learn", "show"] {
        assert!(h.contains(w), "baseline --help lacks {w}");
    }
}
