//! Small CSAF documents written by the tests: the entry kinds the matcher must
//! handle, and malformed documents.

use s7sentry_inventory::{load_dir, load_file, match_device, parse_advisory, Advisory, MatchedBy, ProductStatus};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("s7sentry-inventory-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn doc(id: &str, tree: Value, vulnerabilities: Value) -> Value {
    json!({
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "title": format!("Test advisory {id}"),
            "tracking": { "id": id, "current_release_date": "2024-01-01T00:00:00Z", "version": "1" }
        },
        "product_tree": tree,
        "vulnerabilities": vulnerabilities
    })
}

fn parse(v: &Value) -> Advisory {
    parse_advisory(v.to_string().as_bytes(), "test.json").unwrap()
}

/// A family entry with a vers:intdot range, a fixed family range, and an
/// order-number entry for one CPU that stays affected.
fn family_doc() -> Value {
    doc(
        "TEST-FAMILY-1",
        json!({ "branches": [{ "category": "vendor", "name": "Siemens", "branches": [
            { "category": "product_family", "name": "SIMATIC S7-1500", "branches": [
                { "category": "product_name", "name": "SIMATIC S7-1500 CPU family", "branches": [
                    { "category": "product_version_range", "name": "vers:intdot/>=2.0|<2.9.4",
                      "product": { "product_id": "FAM-AFF", "name": "SIMATIC S7-1500 CPU family >=2.0 <2.9.4" } },
                    { "category": "product_version_range", "name": "vers:intdot/>=2.9.4",
                      "product": { "product_id": "FAM-FIX", "name": "SIMATIC S7-1500 CPU family >=2.9.4" } }
                ]}
            ]},
            { "category": "product_name", "name": "SIMATIC S7-1500 CPU 1518-4 PN/DP MFP (6ES7 518-4AX00-1AB0)", "branches": [
                { "category": "product_version_range", "name": "vers:intdot/>=2.9.4",
                  "product": { "product_id": "MFP", "name": "SIMATIC S7-1500 CPU 1518-4 PN/DP MFP (6ES7 518-4AX00-1AB0)" } }
            ]}
        ]}]}),
        json!([{
            "cve": "CVE-2099-0001",
            "scores": [{ "products": ["FAM-AFF", "MFP"], "cvss_v3": { "version": "3.1", "baseScore": 8.1 } }],
            "product_status": { "known_affected": ["FAM-AFF", "MFP"], "fixed": ["FAM-FIX"] },
            "remediations": [
                { "category": "vendor_fix", "details": "Update to V2.9.4 or later version", "product_ids": ["FAM-AFF"] },
                { "category": "no_fix_planned", "details": "Currently no fix is planned", "product_ids": ["MFP"] },
                { "category": "mitigation", "details": "Restrict access to port 102/tcp", "product_ids": ["FAM-AFF", "MFP"] }
            ]
        }]),
    )
}

/// An exact product_version, a wildcard order number, and a known_not_affected
/// product given as a top-level full_product_name.
fn exact_doc() -> Value {
    doc(
        "TEST-EXACT-1",
        json!({
            "branches": [{ "category": "vendor", "name": "Siemens", "branches": [
                { "category": "product_name", "name": "SIMATIC S7-1500 CPU 1513-1 PN (6ES7513-1AL02-0AB0)", "branches": [
                    { "category": "product_version", "name": "V2.8.3",
                      "product": { "product_id": "EXACT", "name": "SIMATIC S7-1500 CPU 1513-1 PN (6ES7513-1AL02-0AB0) V2.8.3" } }
                ]},
                { "category": "product_name", "name": "SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AKxx-0AB0)", "branches": [
                    { "category": "product_version_range", "name": "<V3.0",
                      "product": { "product_id": "WILD", "name": "SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AKxx-0AB0) <V3.0" } }
                ]}
            ]}],
            "full_product_names": [
                { "product_id": "NA", "name": "SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AK01-0AB0)" }
            ]
        }),
        json!([{
            "cve": "CVE-2099-0002",
            "scores": [
                { "products": ["EXACT"], "cvss_v3": { "baseScore": 5.0 } },
                { "products": ["WILD"], "cvss_v3": { "baseScore": 6.5 } }
            ],
            "product_status": { "known_affected": ["EXACT", "WILD"], "known_not_affected": ["NA"] },
            "remediations": [{ "category": "none_available", "details": "Currently no fix is available", "product_ids": ["EXACT", "WILD"] }]
        }]),
    )
}

#[test]
fn family_entry_with_vers_intdot_range() {
    let advs = [parse(&family_doc())];
    let fam = advs[0].products.iter().find(|p| p.product_id == "FAM-AFF").unwrap();
    assert_eq!(fam.family.as_ref().map(|f| f.name), Some("S7-1500"));
    assert!(!fam.family.as_ref().unwrap().siplus);

    // Inside ">=2.0|<2.9.4": affected through the family entry, fix from its vendor_fix.
    for fw in ["V2.0", "V2.5", "2.9.3"] {
        let m = match_device(&advs, Some("6ES7 511-1AK02-0AB0"), Some(fw), None);
        assert_eq!(m.len(), 1, "{fw}");
        assert_eq!(m[0].tracking_id, "TEST-FAMILY-1");
        assert_eq!(m[0].title, "Test advisory TEST-FAMILY-1");
        assert_eq!(m[0].cves, ["CVE-2099-0001"]);
        assert_eq!(m[0].cvss, Some(8.1));
        assert_eq!(m[0].fixed_in.as_deref(), Some("V2.9.4"));
        assert!(!m[0].no_fix);
        assert_eq!(m[0].matched_by, MatchedBy::Family);
        assert!(!m[0].possibly_affected);
    }
    // Below the range, and in the fixed range: nothing.
    for fw in ["V1.8.5 HF1", "V2.9.4", "V3.1.0"] {
        assert!(match_device(&advs, Some("6ES7511-1AK02-0AB0"), Some(fw), None).is_empty(), "{fw}");
    }
    // A SIPLUS CPU is not covered: the family entry does not mention SIPLUS variants.
    assert!(match_device(&advs, Some("6AG1511-1AK02-2AB0"), Some("V2.5"), None).is_empty());
    // An S7-1200 is not of the family.
    assert!(match_device(&advs, Some("6ES7 215-1AG40-0XB0"), Some("V2.5"), None).is_empty());
    // Family from a hint only.
    let m = match_device(&advs, None, Some("V2.5"), Some("SIMATIC S7-1500"));
    assert_eq!(m.len(), 1);
    // Unknown firmware: possibly affected (the family entry limits versions).
    let m = match_device(&advs, Some("6ES7511-1AK02-0AB0"), None, None);
    assert_eq!(m.len(), 1);
    assert!(m[0].possibly_affected);
}

#[test]
fn order_number_entry_beats_a_fixed_family_entry() {
    let advs = [parse(&family_doc())];
    // The MFP CPU at V3.0 is in the family's fixed range (FAM-FIX, >=2.9.4) but its own
    // entry (MFP, >=2.9.4, known_affected, no_fix_planned) says affected.
    let m = match_device(&advs, Some("6ES7518-4AX00-1AB0"), Some("V3.0"), None);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].matched_by, MatchedBy::OrderNumber);
    assert!(m[0].no_fix);
    assert_eq!(m[0].fixed_in, None);
    assert_eq!(m[0].products, ["SIMATIC S7-1500 CPU 1518-4 PN/DP MFP (6ES7 518-4AX00-1AB0)"]);
}

#[test]
fn exact_product_version_and_wildcards() {
    let advs = [parse(&exact_doc())];
    let e = advs[0].products.iter().find(|p| p.product_id == "EXACT").unwrap();
    assert_eq!(e.version_text.as_deref(), Some("V2.8.3"));

    // product_version "V2.8.3": only that version.
    let m = match_device(&advs, Some("6ES7 513-1AL02-0AB0"), Some("V2.8.3"), None);
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].cvss, m[0].no_fix, m[0].matched_by), (Some(5.0), true, MatchedBy::OrderNumber));
    assert!(match_device(&advs, Some("6ES7513-1AL02-0AB0"), Some("V2.8.4"), None).is_empty());
    assert!(match_device(&advs, Some("6ES7513-1AL02-0AB0"), Some("V2.8.2"), None).is_empty());
    let m = match_device(&advs, Some("6ES7513-1AL02-0AB0"), None, None);
    assert!(m.len() == 1 && m[0].possibly_affected);

    // "6ES7511-1AKxx-0AB0" covers 1AK02 ...
    let m = match_device(&advs, Some("6ES7511-1AK02-0AB0"), Some("V2.9"), None);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].cvss, Some(6.5));
    // ... but 1AK01 is known_not_affected (all versions), and 1AL03 is not covered.
    assert!(match_device(&advs, Some("6ES7511-1AK01-0AB0"), Some("V2.9"), None).is_empty());
    assert!(match_device(&advs, Some("6ES7511-1AL03-0AB0"), Some("V2.9"), None).is_empty());
    // Outside "<V3.0".
    assert!(match_device(&advs, Some("6ES7511-1AK02-0AB0"), Some("V3.0.0"), None).is_empty());
}

#[test]
fn relationships_groups_and_identification_helpers() {
    let v = doc(
        "TEST-REL-1",
        json!({
            "full_product_names": [
                { "product_id": "CPU", "name": "SIMATIC S7-1500 CPU 1515-2 PN (6ES7515-2AM02-0AB0)" },
                { "product_id": "HELPER", "name": "CPU 1516-3 PN/DP",
                  "product_identification_helper": { "model_numbers": ["6ES7 516-3AN02-0AB0"] } }
            ],
            "branches": [{ "category": "vendor", "name": "Siemens", "branches": [
                { "category": "product_name", "name": "S7-1500 firmware", "branches": [
                    { "category": "product_version", "name": "V2.9.1",
                      "product": { "product_id": "FW", "name": "S7-1500 firmware V2.9.1" } }
                ]}
            ]}],
            "relationships": [{
                "category": "installed_on", "product_reference": "FW", "relates_to_product_reference": "CPU",
                "full_product_name": { "product_id": "CPU-FW", "name": "Firmware V2.9.1 on CPU 1515-2 PN" }
            }],
            "product_groups": [{ "group_id": "G1", "product_ids": ["CPU-FW"] }]
        }),
        json!([{
            "ids": [{ "system_name": "Vendor", "text": "VENDOR-2024-1" }],
            "product_status": { "known_affected": ["CPU-FW", "HELPER"] },
            "remediations": [{ "category": "vendor_fix", "details": "Update to V2.9.2 or later version", "group_ids": ["G1"] }]
        }]),
    );
    let advs = [parse(&v)];
    let rel = advs[0].products.iter().find(|p| p.product_id == "CPU-FW").unwrap();
    assert_eq!(rel.order_numbers, ["6ES7515-2AM02-0AB0"]);
    assert_eq!(rel.version_text.as_deref(), Some("V2.9.1"));
    assert_eq!(rel.status, Some(ProductStatus::Affected));

    let m = match_device(&advs, Some("6ES7515-2AM02-0AB0"), Some("V2.9.1"), None);
    assert_eq!(m.len(), 1);
    // No CVE: the vulnerability is named by its other id; no score given.
    assert_eq!(m[0].cves, ["VENDOR-2024-1"]);
    assert_eq!(m[0].cvss, None);
    assert_eq!(m[0].fixed_in.as_deref(), Some("V2.9.2"));
    assert!(match_device(&advs, Some("6ES7515-2AM02-0AB0"), Some("V2.9.2"), None).is_empty());

    // Order number only in product_identification_helper.model_numbers; all versions.
    let m = match_device(&advs, Some("6ES7516-3AN02-0AB0"), Some("V3.0"), None);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].fixed_in, None);
    assert!(!m[0].no_fix);
}

#[test]
fn malformed_documents_are_reported_and_the_rest_still_loads() {
    let dir = TempDir::new("malformed");
    dir.write("good-family.json", family_doc().to_string());
    dir.write("sub/good-exact.json", exact_doc().to_string());

    // A branch that is not an object, three levels down.
    let mut bad = family_doc();
    bad["product_tree"]["branches"][0]["branches"].as_array_mut().unwrap().push(json!("oops"));
    dir.write("bad-branch.json", bad.to_string());

    // No tracking id.
    let mut no_id = family_doc();
    no_id["document"]["tracking"].as_object_mut().unwrap().remove("id");
    dir.write("no-id.json", no_id.to_string());

    // A score that is not a number.
    let mut bad_score = exact_doc();
    bad_score["vulnerabilities"][0]["scores"][1]["cvss_v3"]["baseScore"] = json!("high");
    dir.write("bad-score.json", bad_score.to_string());

    // A product without product_id.
    let mut no_pid = exact_doc();
    no_pid["product_tree"]["full_product_names"][0].as_object_mut().unwrap().remove("product_id");
    dir.write("no-product-id.json", no_pid.to_string());

    // Not JSON at all, under a .json name; and a truncated document.
    dir.write("not-json.json", "<html>404 Not Found</html>\n");
    dir.write("truncated.json", "{\n  \"document\": {\n    \"tracking\": {\"id\": \"X\"\n");
    // Not UTF-8.
    dir.write("binary.json", [0xffu8, 0xfe, 0x00, 0x7b]);

    // Ignored: other extensions, hidden files, provider metadata.
    dir.write("README.md", "# not an advisory\n");
    dir.write("index.txt", "good-family.json\n");
    dir.write(".hidden.json", "garbage");
    dir.write("provider-metadata.json", "{\"canonical_url\": \"https://example.invalid\"}");

    let (advisories, errors) = load_dir(&dir.0);
    let mut loaded: Vec<&str> = advisories.iter().map(|a| a.tracking_id.as_str()).collect();
    loaded.sort_unstable();
    assert_eq!(loaded, ["TEST-EXACT-1", "TEST-FAMILY-1"]);

    let find = |name: &str| {
        errors
            .iter()
            .find(|e| e.file.file_name().and_then(|n| n.to_str()) == Some(name))
            .unwrap_or_else(|| panic!("no error for {name}: {errors:#?}"))
    };
    assert_eq!(errors.len(), 7, "{errors:#?}");

    let e = find("bad-branch.json");
    assert_eq!(e.pointer, "/product_tree/branches/0/branches/2");
    let text = e.to_string();
    assert!(text.contains("bad-branch.json: /product_tree/branches/0/branches/2: expected an object"), "{text}");

    let e = find("no-id.json");
    assert_eq!(e.pointer, "/document/tracking/id");
    assert!(e.to_string().ends_with("no-id.json: /document/tracking/id: missing required member"), "{e}");

    let e = find("bad-score.json");
    assert_eq!(e.pointer, "/vulnerabilities/0/scores/1/cvss_v3/baseScore");
    assert!(e.message.contains("expected a number"));

    assert_eq!(find("no-product-id.json").pointer, "/product_tree/full_product_names/0/product_id");

    let e = find("not-json.json");
    assert_eq!(e.pointer, "");
    assert!(e.to_string().contains("not-json.json: not valid JSON") && e.message.contains("line 1"), "{e}");
    assert!(find("truncated.json").message.contains("line 4"), "{}", find("truncated.json"));
    assert!(find("binary.json").message.contains("not valid JSON"));

    // The documents that loaded still match: EXACT by order number, and the S7-1500
    // family entry FAM-AFF (>=2.0|<2.9.4) of the other document.
    let m = match_device(&advisories, Some("6ES7513-1AL02-0AB0"), Some("V2.8.3"), None);
    let got: Vec<(&str, MatchedBy)> = m.iter().map(|x| (x.tracking_id.as_str(), x.matched_by)).collect();
    // Sorted by CVSS: 8.1 (family document) before 5.0.
    assert_eq!(got, [("TEST-FAMILY-1", MatchedBy::Family), ("TEST-EXACT-1", MatchedBy::OrderNumber)]);
}

#[test]
fn load_file_and_missing_directory() {
    let dir = TempDir::new("single");
    let p = dir.write("one.json", family_doc().to_string());
    let adv = load_file(&p).unwrap();
    assert_eq!(adv.tracking_id, "TEST-FAMILY-1");
    assert_eq!(adv.source, p);

    let missing = dir.0.join("nope.json");
    let e = load_file(&missing).unwrap_err();
    assert!(e.to_string().contains("nope.json: cannot read"), "{e}");

    let (advs, errs) = load_dir(Path::new(&dir.0).join("no-such-dir"));
    assert!(advs.is_empty());
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.contains("cannot read directory"));
}

#[test]
fn root_that_is_not_an_object() {
    let e = parse_advisory(b"[1, 2, 3]", "array.json").unwrap_err();
    assert_eq!(e.to_string(), "array.json: /: expected an object, found an array");
    let e = parse_advisory(br#"{"document": {"tracking": {"id": 7}}}"#, "n.json").unwrap_err();
    assert_eq!(e.to_string(), "n.json: /document/tracking/id: expected a string, found a number");
}

#[test]
fn duplicate_tracking_ids_keep_the_newest_revision() {
    let dir = TempDir::new("dupes");
    let old = family_doc();
    let mut new = family_doc();
    new["document"]["tracking"]["current_release_date"] = json!("2024-06-01T00:00:00Z");
    new["document"]["tracking"]["version"] = json!("2");
    new["document"]["title"] = json!("Test advisory TEST-FAMILY-1 (Update A)");
    dir.write("a-new.json", new.to_string());
    dir.write("b-old.json", old.to_string());
    let (advs, errs) = load_dir(&dir.0);
    assert!(errs.is_empty());
    assert_eq!(advs.len(), 1);
    assert_eq!(advs[0].title, "Test advisory TEST-FAMILY-1 (Update A)");
}
