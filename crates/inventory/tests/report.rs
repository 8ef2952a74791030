//! The fleet report: correlation with the real CSAF files in `../shared/csaf/`,
//! golden table / JSON / CSV output for a hand-built fleet and advisories the
//! test writes itself, and a malformed advisory next to good ones.
//!
//! Regenerate the golden files after an intended change with
//! `UPDATE_GOLDEN=1 cargo test -p s7sentry-inventory --test report`.

mod common;

use common::{func, ip, sample_fleet, t, talker, TempDir};
use s7sentry_engine::assets::{Device, Fleet, Identity, Role};
use s7sentry_inventory::load_dir;
use s7sentry_inventory::report::{build, to_csv, to_json, to_table, Correlator, DeviceRow, CSV_COLUMNS};
use serde_json::{json, Value};

const CSAF_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/csaf");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

fn plc(addr: &str, order: Option<&str>, firmware: Option<&str>) -> Device {
    let mut d = Device::new(ip(addr), t(0));
    d.role = Role::Plc;
    d.last_seen = t(600);
    d.identity = Identity {
        order_number: order.map(str::to_string),
        firmware: firmware.map(str::to_string),
        source: Some("szl".into()),
        ..Default::default()
    };
    d
}

fn client(addr: &str, role: Role) -> Device {
    let mut d = Device::new(ip(addr), t(0));
    d.role = role;
    d.last_seen = t(600);
    d
}

fn fleet_of(devices: Vec<Device>) -> Fleet {
    Fleet { devices: devices.into_iter().map(|d| (d.address, d)).collect(), ..Default::default() }
}

fn ids(r: &DeviceRow) -> Vec<&str> {
    let mut v: Vec<&str> = r.advisories.iter().map(|a| a.id.as_str()).collect();
    v.sort_unstable();
    v
}

fn row<'a>(rows: &'a [DeviceRow], addr: &str) -> &'a DeviceRow {
    rows.iter().find(|r| r.address == ip(addr)).unwrap()
}

/// Devices on affected and on fixed firmware against the real advisories: the
/// right advisories and no others (expectations as in tests/real_csaf.rs,
/// which names the product entries behind each).
#[test]
fn correlation_with_the_real_csaf_files() {
    let (advisories, errors) = load_dir(CSAF_DIR);
    assert!(errors.is_empty(), "{errors:?}");
    let hmi_talker = |d: &mut Device| {
        d.talkers.insert(ip("10.0.1.1"), talker(0, 600, true, &[("read_var", func(0, 600, 100, true))]));
    };
    let mut a = plc("10.0.0.10", Some("6ES7 511-1AK02-0AB0"), Some("V2.9.2"));
    hmi_talker(&mut a);
    let mut b = plc("10.0.0.11", Some("6ES7511-1AK02-0AB0"), Some("V2.9.7"));
    b.talkers.insert(ip("10.0.1.2"), talker(0, 600, true, &[("block_download", func(0, 1, 1, true))]));
    let c = plc("10.0.0.12", Some("6ES7511-1AL03-0AB0"), Some("V3.1.0"));
    let d = plc("10.0.0.13", Some("6ES7 315-2EH14-0AB0"), Some("V3.2.10"));
    let e = plc("10.0.0.14", Some("6ES7 315-2EH14-0AB0"), Some("V3.2.19"));
    let f = plc("10.0.0.15", Some("6ES7 215-1AG40-0XB0"), Some("V4.6.1"));
    let g = plc("10.0.0.16", None, None);
    let fleet = fleet_of(vec![
        a,
        b,
        c,
        d,
        e,
        f,
        g,
        client("10.0.1.1", Role::Hmi),
        client("10.0.1.2", Role::EngineeringStation),
    ]);
    let rows = build(&fleet, &mut Correlator::new(advisories));

    let r = row(&rows, "10.0.0.10");
    assert_eq!(ids(r), ["ICSA-22-041-01", "ICSA-22-349-03", "ICSA-23-257-01", "ICSA-23-348-09"]);
    let x = r.advisories.iter().find(|a| a.id == "ICSA-23-348-09").unwrap();
    assert_eq!(
        (x.title.as_str(), x.cvss, x.fixed_in.as_deref()),
        ("Siemens Simantic S7-1500 CPU family", Some(7.5), None)
    );
    assert_eq!(x.cves, ["CVE-2023-46156"]);
    let x = r.advisories.iter().find(|a| a.id == "ICSA-23-257-01").unwrap();
    assert_eq!(x.fixed_in.as_deref(), Some("V2.9.7"));
    assert_eq!((r.max_cvss, r.severity, r.fix_available), (Some(7.5), "high", Some(false)));
    assert_eq!(r.exposure, [ip("10.0.1.1")]);
    assert_eq!(r.risk, 7.5);

    // Fixed firmware for two of them; the all-versions entries remain.
    let r = row(&rows, "10.0.0.11");
    assert_eq!(ids(r), ["ICSA-22-349-03", "ICSA-23-348-09"]);
    assert!(r.exposure.is_empty(), "only an engineering station talks to it");
    assert!(r.talkers[0].engineering);
    assert_eq!(r.fix_available, Some(false));

    assert!(row(&rows, "10.0.0.12").advisories.is_empty(), "V3.1.0 is the fixed version");
    let r = row(&rows, "10.0.0.13");
    assert_eq!(ids(r), ["ICSA-22-104-06"]);
    assert_eq!((r.advisories[0].fixed_in.as_deref(), r.fix_available), (Some("V3.2.19"), Some(true)));
    assert!(row(&rows, "10.0.0.14").advisories.is_empty(), "V3.2.19 is the fixed version");
    assert_eq!(ids(row(&rows, "10.0.0.15")), ["ICSA-23-257-01"]);
    assert!(row(&rows, "10.0.0.16").advisories.is_empty(), "no identity, nothing to match");
    assert!(row(&rows, "10.0.1.1").advisories.is_empty());

    // Risk order: exposed + vulnerable, then vulnerable by CVSS, then PLCs, then clients.
    let order: Vec<String> = rows.iter().map(|r| r.address.to_string()).collect();
    assert_eq!(
        order,
        [
            "10.0.0.10",
            "10.0.0.11",
            "10.0.0.15",
            "10.0.0.13",
            "10.0.0.12",
            "10.0.0.14",
            "10.0.0.16",
            "10.0.1.2",
            "10.0.1.1"
        ]
    );
}

fn doc(id: &str, title: &str, tree: Value, vulnerabilities: Value) -> Value {
    json!({
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "title": title,
            "tracking": { "id": id, "current_release_date": "2025-01-01T00:00:00Z", "version": "1" }
        },
        "product_tree": tree,
        "vulnerabilities": vulnerabilities
    })
}

/// Two advisories of our own: an S7-1500 family entry fixed in V2.9.7, and an
/// order-number entry for all versions of the 1511-1 PN without a fix.
fn write_test_advisories(dir: &TempDir) {
    let family = doc(
        "TEST-GOLD-1",
        "Test S7-1500 CPU family denial of service",
        json!({ "branches": [{ "category": "vendor", "name": "Siemens", "branches": [
            { "category": "product_name", "name": "SIMATIC S7-1500 CPU family", "branches": [
                { "category": "product_version_range", "name": "vers:intdot/<2.9.7",
                  "product": { "product_id": "F-AFF", "name": "SIMATIC S7-1500 CPU family <V2.9.7" } },
                { "category": "product_version_range", "name": "vers:intdot/>=2.9.7",
                  "product": { "product_id": "F-FIX", "name": "SIMATIC S7-1500 CPU family >=V2.9.7" } }
            ]}
        ]}]}),
        json!([{
            "cve": "CVE-2099-1001",
            "scores": [{ "products": ["F-AFF"], "cvss_v3": { "version": "3.1", "baseScore": 7.5 } }],
            "product_status": { "known_affected": ["F-AFF"], "fixed": ["F-FIX"] },
            "remediations": [{ "category": "vendor_fix", "details": "Update to V2.9.7 or later version", "product_ids": ["F-AFF"] }]
        }]),
    );
    let order = doc(
        "TEST-GOLD-2",
        "Test CPU 1511-1 PN remote code execution",
        json!({ "branches": [{ "category": "vendor", "name": "Siemens", "branches": [
            { "category": "product_name", "name": "SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AK02-0AB0)", "branches": [
                { "category": "product_version_range", "name": "vers:all/*",
                  "product": { "product_id": "O-ALL", "name": "SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AK02-0AB0)" } }
            ]}
        ]}]}),
        json!([{
            "cve": "CVE-2099-1002",
            "scores": [{ "products": ["O-ALL"], "cvss_v3": { "version": "3.1", "baseScore": 9.8 } }],
            "product_status": { "known_affected": ["O-ALL"] },
            "remediations": [{ "category": "no_fix_planned", "details": "Currently no fix is planned", "product_ids": ["O-ALL"] }]
        }]),
    );
    std::fs::write(dir.file("test-gold-1.json"), family.to_string()).unwrap();
    std::fs::write(dir.file("test-gold-2.json"), order.to_string()).unwrap();
}

/// The sample fleet of the store tests plus three PLCs: fixed firmware with
/// only an engineering talker, unknown firmware, and an S7-1200.
fn golden_fleet() -> Fleet {
    let mut fleet = sample_fleet();
    let mut b = plc("10.0.0.11", Some("6ES7 511-1AK02-0AB0"), Some("V2.9.7"));
    b.identity.serial = Some("S C-B0000002".into());
    b.talkers.insert(ip("10.0.0.30"), talker(0, 500, true, &[("block_upload", func(0, 500, 3, true))]));
    let mut c = plc("10.0.0.12", Some("6ES7 515-2AM01-0AB0"), None);
    c.identity.module_type = Some("CPU 1515-2 PN".into());
    c.talkers.insert(ip("10.0.0.20"), talker(0, 600, true, &[("read_var", func(0, 600, 60, true))]));
    let mut d = plc("10.0.0.13", Some("6ES7 215-1AG40-0XB0"), Some("V4.5.0"));
    d.identity.serial = Some("=HYPERLINK(\"x\")".into());
    for x in [b, c, d] {
        fleet.devices.insert(x.address, x);
    }
    fleet
}

fn golden(name: &str, got: &str) {
    let path = std::path::Path::new(GOLDEN).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(GOLDEN).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if want != got {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  want {a}\n  got  {b}", i + 1))
            .collect();
        panic!(
            "{name} differs from {} ({} vs {} lines):\n{}\n\nfull output:\n{got}",
            path.display(),
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn golden_table_json_csv() {
    let dir = TempDir::new("golden");
    write_test_advisories(&dir);
    let (advisories, errors) = load_dir(&dir.0);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(advisories.len(), 2);
    let fleet = golden_fleet();
    let rows = build(&fleet, &mut Correlator::new(advisories));
    golden("inventory.txt", &to_table(&rows, &fleet, 2));
    golden("inventory.json", &to_json(&rows));
    golden("inventory.csv", &to_csv(&rows));

    // The JSON keys the issue asks for, on every object.
    let v: Value = serde_json::from_str(&to_json(&rows)).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 7);
    for o in arr {
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
            assert!(o.get(k).is_some(), "{k} missing in {o}");
        }
        for a in o["advisories"].as_array().unwrap() {
            for k in ["id", "title", "cves", "cvss", "fixed_in"] {
                assert!(a.get(k).is_some(), "advisory {k} missing in {a}");
            }
        }
    }
    // Most at risk first: 10.0.0.10 (9.8 × 2 exposed hosts), then 10.0.0.12 (possible 7.5 × 1).
    assert_eq!(arr[0]["address"], "10.0.0.10");
    assert_eq!(arr[0]["risk"], 19.6);
    assert_eq!(arr[0]["advisories"][0]["id"], "TEST-GOLD-2");
    assert_eq!(arr[0]["advisories"][0]["fixed_in"], Value::Null);
    assert_eq!(arr[0]["advisories"][1]["fixed_in"], "V2.9.7");
    assert_eq!(arr[0]["first_seen"], "2026-01-01T00:00:00.123456Z");
    assert_eq!(arr[1]["address"], "10.0.0.12");
    assert_eq!(arr[1]["advisories"][0]["possible"], true);
    // CSV: one header and one line per device, every line with every column.
    let csv = to_csv(&rows);
    assert_eq!(csv.lines().count(), 8);
    assert!(csv.starts_with(&CSV_COLUMNS.join(",")));
    assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\")\""), "formula guard and quoting: {csv}");
}

#[test]
fn malformed_advisory_is_named_and_the_rest_still_used() {
    let dir = TempDir::new("malformed");
    write_test_advisories(&dir);
    let mut bad = doc(
        "TEST-BAD-1",
        "Broken",
        json!({ "branches": [{ "category": "vendor", "name": "Siemens", "branches": [7] }] }),
        json!([]),
    );
    bad["vulnerabilities"] = json!([]);
    std::fs::write(dir.file("bad-branch.json"), bad.to_string()).unwrap();
    std::fs::write(dir.file("truncated.json"), "{\"document\": {").unwrap();
    let (advisories, errors) = load_dir(&dir.0);
    assert_eq!(advisories.len(), 2, "the good ones still load");
    assert_eq!(errors.len(), 2, "{errors:?}");
    let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let branch = msgs.iter().find(|m| m.contains("bad-branch.json")).unwrap();
    assert!(branch.contains("/product_tree/branches/0/branches/0"), "{branch}");
    assert!(msgs.iter().any(|m| m.contains("truncated.json")), "{msgs:?}");
    let fleet = golden_fleet();
    let rows = build(&fleet, &mut Correlator::new(advisories));
    assert_eq!(rows[0].advisories.len(), 2);
}

#[test]
fn empty_fleet_and_no_advisories() {
    let fleet = Fleet::default();
    let rows = build(&fleet, &mut Correlator::default());
    assert!(rows.is_empty());
    assert_eq!(to_json(&rows), "[]\n");
    assert_eq!(to_csv(&rows).lines().count(), 1);
    assert!(to_table(&rows, &fleet, 0).starts_with("0 devices"));
    // Without advisories every device is listed with none.
    let rows = build(&sample_fleet(), &mut Correlator::default());
    assert!(rows.iter().all(|r| r.advisories.is_empty() && r.fix_available.is_none()));
}
