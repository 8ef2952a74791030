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

/// `rate` exchanges per second for `secs` seconds from `at_ns`, each written by `f`.
fn paced(
    tr: &mut s7sentry_pcapgen::trace::Trace,
    at_ns: u64,
    rate: u64,
    secs: u64,
    mut f: impl FnMut(&mut s7sentry_pcapgen::trace::Trace, u64),
) {
    for i in 0..rate * secs {
        let target = at_ns + i * (1_000_000_000 / rate);
        if tr.now_ns < target {
            tr.now_ns = target;
        }
        f(tr, i);
    }
}

/// A capture from `at_ns`: 10.10.2.21 writes `hmi2.0` and reads `hmi2.1` times a
/// second, 10.10.2.20 writes `hmi` times a second, both to PLC 10.10.1.10 for
/// `secs` seconds (changing items and values: never repetition).
fn storm_capture(path: &Path, at_ns: u64, secs: u64, hmi2: (u64, u64), hmi: u64) {
    use s7sentry_pcapgen::cases::hosts::{HMI, HMI2, PLC1};
    use s7sentry_pcapgen::cases::session::{Session, POLL_ITEMS};
    use s7sentry_pcapgen::pcap::{Format, LinkType};
    use s7sentry_pcapgen::s7::AnyItem;
    use s7sentry_pcapgen::trace::Trace;
    let mut parts = Vec::new();
    for (client, port, writes, reads) in [(HMI2, 49_600, hmi2.0, hmi2.1), (HMI, 49_700, hmi, 0)] {
        let mut t = Trace::new(LinkType::Ethernet);
        t.now_ns = at_ns;
        let mut s = Session::new(client, port, PLC1, u64::from(port));
        s.delay_us = (300, 800);
        s.connect(&mut t, 2);
        let per = writes + reads;
        paced(&mut t, at_ns + 200_000_000, per, secs, |t, i| {
            if i % per < writes {
                let v = (i as u16).to_be_bytes();
                s.write(t, &[AnyItem::db_word(1, 8 + (i % 4) as u32 * 2)], &[&v]);
            } else {
                s.read(t, &POLL_ITEMS);
            }
        });
        s.close_fin(&mut t);
        parts.push(t);
    }
    std::fs::write(path, Trace::merge(parts).to_bytes(Format::CLASSIC).unwrap()).unwrap();
}

/// Learned storm rates are kept in `--state`: learn on one capture, restart on a
/// second one with the same state file. 10.10.2.21 learned 5 writes/s and now
/// writes 50/s: a storm on the `learned_rate` basis (without the saved rate it
/// would be judged by the plant default, 100/s, and stay quiet). 10.10.2.20
/// learned 30 writes/s and now writes 110/s: under 4 x 30, quiet (the plant
/// default would call it a `sustained` storm).
#[test]
fn learned_storm_rates_are_kept_in_the_state_file() {
    use s7sentry_engine::assets::StormRates;
    let dir = tmpdir("stormrates");
    let state = dir.join("state.db");
    let (learn, restart) = (dir.join("learn.pcap"), dir.join("restart.pcap"));
    let start = 1_767_225_600_000_000_000u64;
    storm_capture(&learn, start, 40, (5, 10), 30);
    storm_capture(&restart, start + 3_600_000_000_000, 25, (50, 0), 110);
    let storms = |o: &Output| -> Vec<Value> {
        stdout(o)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("alert JSON"))
            .filter(|a| a["rule"] == "flood.requests" && a["evidence"]["basis"].is_string())
            .collect()
    };

    let o = run(&["replay", "-q", "--state", s(&state), "--learn", "30s", s(&learn)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(storms(&o).is_empty(), "{}", stdout(&o));
    let fleet = Store::open(&state).unwrap().load().unwrap();
    assert!(fleet.is_frozen());
    let rates: Vec<_> = fleet.storm_rates.into_iter().collect();
    let plc = ip("10.10.1.10");
    assert_eq!(
        rates,
        vec![
            ((ip("10.10.2.20"), plc), StormRates { write: 30, read: 0, other: 0 }),
            ((ip("10.10.2.21"), plc), StormRates { write: 5, read: 10, other: 0 }),
        ]
    );
    let o = run(&["baseline", "show", "--state", s(&state)]);
    assert!(stdout(&o).contains("storms:    2 (talker, PLC) pairs with learned request rates"), "{}", stdout(&o));
    let o = run(&["baseline", "show", "--state", s(&state), "--format", "jsonl"]);
    assert_eq!(serde_json::from_str::<Value>(&stdout(&o)).unwrap()["learned_storm_rates"], 2);

    for threads in ["1", "2"] {
        let o = run(&["replay", "-q", "--threads", threads, "--state", s(&state), s(&restart)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let st = storms(&o);
        assert_eq!(st.len(), 1, "--threads {threads}: {}", stdout(&o));
        let (a, e) = (&st[0], &st[0]["evidence"]);
        assert_eq!(
            (a["src"].as_str(), e["basis"].as_str(), e["class"].as_str()),
            (Some("10.10.2.21"), Some("learned_rate"), Some("write"))
        );
        assert_eq!((e["learned_rate"].as_u64(), e["threshold"].as_u64()), (Some(5), Some(20)), "{e}");
        assert!((45..=50).contains(&e["rate"].as_u64().unwrap_or(0)), "{e}");
    }
    // The learned rates are still there, unchanged by the frozen runs.
    assert_eq!(Store::open(&state).unwrap().load().unwrap().storm_rates.len(), 2);

    // Control: the same restart with the learned rates removed from the state file is
    // judged by the plant defaults: 10.10.2.20's 110/s is a sustained storm, 50/s is not.
    strip_storm_rates(&state);
    let o = run(&["replay", "-q", "--state", s(&state), s(&restart)]);
    let st = storms(&o);
    assert_eq!(st.len(), 1, "{}", stdout(&o));
    assert_eq!((st[0]["src"].as_str(), st[0]["evidence"]["basis"].as_str()), (Some("10.10.2.20"), Some("sustained")));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Removes the learned storm rates from a state file (as a file written before they were saved).
fn strip_storm_rates(state: &Path) {
    let mut store = Store::open(state).unwrap();
    let mut fleet = store.load().unwrap();
    fleet.storm_rates.clear();
    store.save(&fleet).unwrap();
}
