//! Correlation against the real CISA CSAF files in `../shared/csaf/` (beside the
//! repository checkout; not bundled with the project).
//!
//! Every expectation below was derived by reading the files; each assertion
//! names the product entry (CSAF product id, range) and remediation behind it.

use s7sentry_inventory::{
    load_dir, match_device, Advisory, Match, MatchedBy, ProductStatus, Remediation, VersionRange,
};
use std::sync::OnceLock;

const CSAF_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/csaf");

fn advisories() -> &'static [Advisory] {
    static ADVISORIES: OnceLock<Vec<Advisory>> = OnceLock::new();
    ADVISORIES.get_or_init(|| {
        let (advisories, errors) = load_dir(CSAF_DIR);
        assert!(errors.is_empty(), "real CSAF files must load: {errors:#?}");
        advisories
    })
}

fn ids(matches: &[Match]) -> Vec<&str> {
    let mut v: Vec<&str> = matches.iter().map(|m| m.tracking_id.as_str()).collect();
    v.sort_unstable();
    v
}

fn get<'a>(matches: &'a [Match], id: &str) -> &'a Match {
    matches.iter().find(|m| m.tracking_id == id).unwrap_or_else(|| panic!("{id} not matched: {:?}", ids(matches)))
}

fn advisory(id: &str) -> &'static Advisory {
    advisories().iter().find(|a| a.tracking_id == id).unwrap_or_else(|| panic!("{id} not loaded"))
}

#[test]
fn loads_all_six_advisories_and_skips_the_readme() {
    let mut got: Vec<&str> = advisories().iter().map(|a| a.tracking_id.as_str()).collect();
    got.sort_unstable();
    assert_eq!(
        got,
        ["ICSA-18-317-05", "ICSA-22-041-01", "ICSA-22-104-06", "ICSA-22-349-03", "ICSA-23-257-01", "ICSA-23-348-09"]
    );
    let a = advisory("ICSA-23-348-09");
    assert_eq!(a.title, "Siemens Simantic S7-1500 CPU family");
    assert_eq!(a.cves, ["CVE-2023-46156"]);
    assert_eq!(a.cvss, Some(7.5));
    assert_eq!(a.products.len(), 151);

    let a = advisory("ICSA-22-349-03");
    assert_eq!(a.cves, ["CVE-2021-40365", "CVE-2021-44693", "CVE-2021-44694", "CVE-2021-44695"]);
    let per_cve: Vec<Option<f64>> = a.vulnerabilities.iter().map(|v| v.cvss).collect();
    assert_eq!(per_cve, [Some(7.5), Some(4.9), Some(5.5), Some(4.9)]);
    assert_eq!(a.cvss, Some(7.5));

    assert_eq!(advisory("ICSA-18-317-05").cvss, Some(5.3));
}

#[test]
fn product_entries_are_flattened() {
    // ICSA-23-348-09 product "12": order number entry, all versions, no fix planned.
    let e = advisory("ICSA-23-348-09").products.iter().find(|p| p.product_id == "12").unwrap();
    assert_eq!(e.name, "SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AK02-0AB0)");
    assert_eq!(e.order_numbers, ["6ES7511-1AK02-0AB0"]);
    assert_eq!(e.family, None);
    assert_eq!(e.version, VersionRange::Any);
    assert_eq!(e.version_text.as_deref(), Some("vers:all/*"));
    assert_eq!(e.status, Some(ProductStatus::Affected));
    assert_eq!(e.remediation, Some(Remediation::NoFixPlanned));

    // ICSA-23-348-09 product "13": range "<V3.1.0", vendor fix "Update to V3.1.0 or later version".
    let e = advisory("ICSA-23-348-09").products.iter().find(|p| p.product_id == "13").unwrap();
    assert_eq!(e.order_numbers, ["6ES7511-1AL03-0AB0"]);
    assert_eq!(e.version_text.as_deref(), Some("<V3.1.0"));
    assert_eq!(e.remediation, Some(Remediation::VendorFix { fixed_in: Some("V3.1.0".into()) }));

    // ICSA-22-041-01 CSAFPID-00010: family entry, "vers:all/>=V2.9.2<V2.9.4", fix V2.9.4.
    let e = advisory("ICSA-22-041-01").products.iter().find(|p| p.product_id == "CSAFPID-00010").unwrap();
    assert!(e.order_numbers.is_empty());
    let fam = e.family.as_ref().expect("family entry");
    assert_eq!((fam.name, fam.siplus), ("S7-1500", true));
    assert_eq!(e.version.to_string(), ">=V2.9.2|<V2.9.4");
    assert_eq!(e.remediation, Some(Remediation::VendorFix { fixed_in: Some("V2.9.4".into()) }));
    assert_eq!(e.vulnerabilities.len(), 3);

    // ICSA-18-317-05 CSAFPID-0002: prose range "All Versions < V2.6"; four vendor_fix
    // remediations, only "Update to V2.6 - Download: …" names a version.
    let e = advisory("ICSA-18-317-05").products.iter().find(|p| p.product_id == "CSAFPID-0002").unwrap();
    assert_eq!(e.family.as_ref().map(|f| f.name), Some("S7-1500"));
    assert_eq!(e.version.to_string(), "<V2.6");
    assert_eq!(e.remediation, Some(Remediation::VendorFix { fixed_in: Some("V2.6".into()) }));
}

/// CPU 1511-1 PN, 6ES7 511-1AK02-0AB0, firmware V2.9.2.
#[test]
fn cpu_1511_1_pn_v2_9_2() {
    let m = match_device(advisories(), Some("6ES7 511-1AK02-0AB0"), Some("V2.9.2"), None);
    // Not ICSA-18-317-05: its only S7-1500 entry (CSAFPID-0002, family) is "All Versions < V2.6".
    // Not ICSA-22-104-06: its S7-1500 entry (CSAFPID-00026, family) is "vers:all/<V2.0.0".
    assert_eq!(ids(&m), ["ICSA-22-041-01", "ICSA-22-349-03", "ICSA-23-257-01", "ICSA-23-348-09"]);

    // ICSA-22-041-01 CSAFPID-00010 "S7-1500 CPU family", vers:all/>=V2.9.2<V2.9.4, known_affected
    // for all three CVEs; vendor_fix "Update to V2.9.4 or later version".
    let x = get(&m, "ICSA-22-041-01");
    assert_eq!(x.cves, ["CVE-2021-37185", "CVE-2021-37204", "CVE-2021-37205"]);
    assert_eq!(x.cvss, Some(7.5));
    assert_eq!(x.fixed_in.as_deref(), Some("V2.9.4"));
    assert!(!x.no_fix);
    assert_eq!(x.matched_by, MatchedBy::Family);
    assert!(!x.possibly_affected);

    // ICSA-22-349-03 CSAFPID-0007 "(6ES7511-1AK02-0AB0)", vers:all/*, none_available; scores 7.5/4.9/5.5/4.9.
    let x = get(&m, "ICSA-22-349-03");
    assert_eq!(x.cves, ["CVE-2021-40365", "CVE-2021-44693", "CVE-2021-44694", "CVE-2021-44695"]);
    assert_eq!(x.cvss, Some(7.5));
    assert_eq!(x.fixed_in, None);
    assert!(x.no_fix);
    assert_eq!(x.matched_by, MatchedBy::OrderNumber);

    // ICSA-23-257-01 product "15" "(6ES7511-1AK02-0AB0)", vers:all/<V2.9.7; vendor_fix "Update to V2.9.7 …".
    let x = get(&m, "ICSA-23-257-01");
    assert_eq!(x.cves, ["CVE-2023-28831"]);
    assert_eq!(x.cvss, Some(7.5));
    assert_eq!(x.fixed_in.as_deref(), Some("V2.9.7"));
    assert_eq!(x.matched_by, MatchedBy::OrderNumber);

    // ICSA-23-348-09 product "12" "(6ES7511-1AK02-0AB0)", vers:all/*, no_fix_planned.
    let x = get(&m, "ICSA-23-348-09");
    assert_eq!(x.cves, ["CVE-2023-46156"]);
    assert_eq!(x.cvss, Some(7.5));
    assert_eq!(x.fixed_in, None);
    assert!(x.no_fix);
    assert_eq!(x.matched_by, MatchedBy::OrderNumber);
    assert_eq!(x.products, ["SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AK02-0AB0)"]);

    // The JSON shape the inventory output builds on.
    let j = serde_json::to_value(x).unwrap();
    assert_eq!(j["tracking_id"], "ICSA-23-348-09");
    assert_eq!(j["matched_by"], "order_number");
    assert_eq!(j["cvss"], 7.5);
    assert_eq!(j["fixed_in"], serde_json::Value::Null);
    assert_eq!(serde_json::to_value(get(&m, "ICSA-22-041-01")).unwrap()["matched_by"], "family");
}

#[test]
fn order_number_spelling_does_not_matter() {
    let reference = match_device(advisories(), Some("6ES7 511-1AK02-0AB0"), Some("V2.9.2"), None);
    for spelling in ["6ES7511-1AK02-0AB0", "6es7 511-1ak02-0ab0", " 6ES7 511-1AK02-0AB0  "] {
        assert_eq!(match_device(advisories(), Some(spelling), Some("V2.9.2"), None), reference, "{spelling}");
    }
    // Firmware written without the "V".
    assert_eq!(match_device(advisories(), Some("6ES7511-1AK02-0AB0"), Some("2.9.2"), None), reference);
}

#[test]
fn cpu_1511_1_pn_at_fixed_firmware() {
    // V2.9.4: ICSA-22-041-01 is fixed (CSAFPID-00010 ends below V2.9.4, CSAFPID-0009 below V2.9.2);
    // ICSA-23-257-01 product "15" (<V2.9.7) still applies.
    let m = match_device(advisories(), Some("6ES7511-1AK02-0AB0"), Some("V2.9.4"), None);
    assert_eq!(ids(&m), ["ICSA-22-349-03", "ICSA-23-257-01", "ICSA-23-348-09"]);

    // V2.9.7: ICSA-23-257-01 is fixed too. ICSA-22-349-03 (CSAFPID-0007) and ICSA-23-348-09
    // (product "12") cover all versions of this order number: no fix for it.
    let m = match_device(advisories(), Some("6ES7511-1AK02-0AB0"), Some("V2.9.7"), None);
    assert_eq!(ids(&m), ["ICSA-22-349-03", "ICSA-23-348-09"]);
    assert!(m.iter().all(|x| x.no_fix && x.fixed_in.is_none()));
}

#[test]
fn cpu_1511_1_pn_v2_5() {
    let m = match_device(advisories(), Some("6ES7511-1AK02-0AB0"), Some("V2.5"), None);
    // ICSA-22-104-06 CSAFPID-00026 is "<V2.0.0": not affected.
    assert_eq!(ids(&m), ["ICSA-18-317-05", "ICSA-22-041-01", "ICSA-22-349-03", "ICSA-23-257-01", "ICSA-23-348-09"]);
    // ICSA-18-317-05 CSAFPID-0002 family "All Versions < V2.6", "Update to V2.6 - Download: …".
    let x = get(&m, "ICSA-18-317-05");
    assert_eq!(
        (x.cves.as_slice(), x.cvss, x.fixed_in.as_deref()),
        (&["CVE-2018-13815".to_string()][..], Some(5.3), Some("V2.6"))
    );
    assert_eq!(x.matched_by, MatchedBy::Family);
    // ICSA-22-041-01 CSAFPID-0009 "vers:all/<V2.9.2" is known_affected only for CVE-2021-37204.
    let x = get(&m, "ICSA-22-041-01");
    assert_eq!(x.cves, ["CVE-2021-37204"]);
    assert_eq!(x.fixed_in.as_deref(), Some("V2.9.4"));
}

#[test]
fn older_cpu_1511_1_pn_1ak00_v1_8_5_hf1() {
    // 6ES7511-1AK00-0AB0 is listed by order number only in ICSA-23-348-09 (product "10",
    // vers:all/*); ICSA-22-349-03 and ICSA-23-257-01 list only 1AK01 / 1AK02, so they do not
    // apply. The family entries apply by range: ICSA-18-317-05 (<V2.6), ICSA-22-041-01
    // CSAFPID-0009 (<V2.9.2), ICSA-22-104-06 CSAFPID-00026 (<V2.0.0, fix V2.0.0).
    let m = match_device(advisories(), Some("6ES7 511-1AK00-0AB0"), Some("V1.8.5 HF1"), None);
    assert_eq!(ids(&m), ["ICSA-18-317-05", "ICSA-22-041-01", "ICSA-22-104-06", "ICSA-23-348-09"]);
    let x = get(&m, "ICSA-22-104-06");
    assert_eq!((x.cves.as_slice(), x.fixed_in.as_deref()), (&["CVE-2022-25622".to_string()][..], Some("V2.0.0")));
    assert_eq!(x.matched_by, MatchedBy::Family);
}

#[test]
fn cpu_1511_1_pn_unknown_firmware_is_possibly_affected() {
    let m = match_device(advisories(), Some("6ES7511-1AK02-0AB0"), None, None);
    assert_eq!(m.len(), 6);
    // vers:all/* entries by order number are certain: ICSA-22-349-03 CSAFPID-0007, ICSA-23-348-09 "12".
    for id in ["ICSA-22-349-03", "ICSA-23-348-09"] {
        assert!(!get(&m, id).possibly_affected, "{id}");
    }
    // Range-limited entries are only possible.
    for id in ["ICSA-18-317-05", "ICSA-22-041-01", "ICSA-22-104-06", "ICSA-23-257-01"] {
        assert!(get(&m, id).possibly_affected, "{id}");
    }
    // Certain matches sort first.
    assert!(!m[0].possibly_affected && !m[1].possibly_affected);
    // ICSA-22-041-01: both family ranges could apply; both say "Update to V2.9.4".
    let x = get(&m, "ICSA-22-041-01");
    assert_eq!(x.cves, ["CVE-2021-37185", "CVE-2021-37204", "CVE-2021-37205"]);
    assert_eq!(x.fixed_in.as_deref(), Some("V2.9.4"));
    // Unreadable firmware counts as unknown.
    assert_eq!(match_device(advisories(), Some("6ES7511-1AK02-0AB0"), Some("??"), None), m);
}

#[test]
fn s7_1200_does_not_match_s7_1500_advisories() {
    // CPU 1215C, 6ES7 215-1AG40-0XB0 (the X is a literal, not a wildcard), firmware V4.5.0.
    let m = match_device(advisories(), Some("6ES7 215-1AG40-0XB0"), Some("V4.5.0"), None);
    // ICSA-18-317-05 CSAFPID-0001 is "< V4.3": no. ICSA-22-104-06 and ICSA-23-348-09 list no S7-1200.
    assert_eq!(ids(&m), ["ICSA-22-041-01", "ICSA-22-349-03", "ICSA-23-257-01"]);
    // ICSA-22-041-01 CSAFPID-0008 family "vers:all/>=V4.5.0<V4.5.2", "Update to V4.5.2".
    let x = get(&m, "ICSA-22-041-01");
    assert_eq!(x.cves.len(), 3);
    assert_eq!(x.fixed_in.as_deref(), Some("V4.5.2"));
    assert_eq!(x.matched_by, MatchedBy::Family);
    // ICSA-22-349-03 CSAFPID-0003 family "vers:all/<V4.6.0", "Update to V4.6.0".
    assert_eq!(get(&m, "ICSA-22-349-03").fixed_in.as_deref(), Some("V4.6.0"));
    // ICSA-23-257-01 product "9" family "vers:all/*", none_available.
    let x = get(&m, "ICSA-23-257-01");
    assert!(x.no_fix && x.fixed_in.is_none());

    // At V4.6.1 only ICSA-23-257-01 (all versions) remains.
    let m = match_device(advisories(), Some("6ES7215-1AG40-0XB0"), Some("V4.6.1"), None);
    assert_eq!(ids(&m), ["ICSA-23-257-01"]);
}

#[test]
fn family_hint_without_order_number_matches_family_entries_only() {
    // Only ICSA-22-041-01 has an S7-1500 family entry covering V2.9.2 (CSAFPID-00010);
    // entries with order numbers cannot match a device without one.
    let m = match_device(advisories(), None, Some("V2.9.2"), Some("S7-1500"));
    assert_eq!(ids(&m), ["ICSA-22-041-01"]);
    assert_eq!(m[0].matched_by, MatchedBy::Family);
    // A module name works as a hint too.
    assert_eq!(match_device(advisories(), None, Some("V2.9.2"), Some("CPU 1511-1 PN")), m);
    // Nothing known about the device: nothing matches.
    assert!(match_device(advisories(), None, None, None).is_empty());
}

#[test]
fn siplus_variant() {
    // SIPLUS 6AG1511-1AK02-2AB0 at V2.9.2: the S7-1500 family entries include SIPLUS variants
    // (ICSA-22-041-01 CSAFPID-00010); listed by order number in ICSA-22-349-03 (CSAFPID-00071,
    // all, none_available), ICSA-23-257-01 ("100", <V2.9.7), ICSA-23-348-09 ("111", all).
    let m = match_device(advisories(), Some("6AG1511-1AK02-2AB0"), Some("V2.9.2"), None);
    assert_eq!(ids(&m), ["ICSA-22-041-01", "ICSA-22-349-03", "ICSA-23-257-01", "ICSA-23-348-09"]);
}

#[test]
fn s7_300_and_s7_400_entries_of_icsa_22_104_06() {
    // CPU 315-2 PN/DP: CSAFPID-00028 "(6ES7315-2EH14-0AB0)", vers:all/<V3.2.19, fix V3.2.19.
    let m = match_device(advisories(), Some("6ES7 315-2EH14-0AB0"), Some("V3.2.10"), None);
    assert_eq!(ids(&m), ["ICSA-22-104-06"]);
    assert_eq!(m[0].fixed_in.as_deref(), Some("V3.2.19"));
    assert_eq!(m[0].matched_by, MatchedBy::OrderNumber);
    assert!(match_device(advisories(), Some("6ES7315-2EH14-0AB0"), Some("V3.2.19"), None).is_empty());

    // CPU 414-5H (redundant), V6.0.3: CSAFPID-00037 "S7-400 H V6 CPU family", <V6.0.10.
    // Not CSAFPID-00038 "S7-400 PN/DP V7 CPU family" (V7 generation, standard CPUs).
    let m = match_device(advisories(), Some("6ES7 414-5HM06-0AB0"), Some("V6.0.3"), None);
    assert_eq!(ids(&m), ["ICSA-22-104-06"]);
    assert_eq!((m[0].fixed_in.as_deref(), m[0].matched_by), (Some("V6.0.10"), MatchedBy::Family));
    assert!(match_device(advisories(), Some("6ES7414-5HM06-0AB0"), Some("V6.0.10"), None).is_empty());

    // CPU 416-3 PN/DP, V7.0.3: CSAFPID-00038 "S7-400 PN/DP V7 CPU family", vers:all/*, no_fix_planned.
    let m = match_device(advisories(), Some("6ES7 416-3ES07-0AB0"), Some("V7.0.3"), None);
    assert_eq!(ids(&m), ["ICSA-22-104-06"]);
    assert!(m[0].no_fix && m[0].fixed_in.is_none());
    // The same CPU on V6 firmware is in neither the "H V6" (not an H CPU) nor the "V7" entry.
    assert!(match_device(advisories(), Some("6ES7416-3ES06-0AB0"), Some("V6.0.8"), None).is_empty());

    // CPU 410-5H, V8.2.2: CSAFPID-00040 "S7-410 V8 CPU family", <V8.2.3 — not the S7-400 entries.
    let m = match_device(advisories(), Some("6ES7 410-5HX08-0AB0"), Some("V8.2.2"), None);
    assert_eq!(ids(&m), ["ICSA-22-104-06"]);
    assert_eq!(m[0].fixed_in.as_deref(), Some("V8.2.3"));
    assert_eq!(m[0].products, ["SIMATIC S7-410 V8 CPU family (incl. SIPLUS variants)"]);
}

#[test]
fn devices_outside_every_advisory() {
    // An S7-1500 digital input module: not a CPU, not listed.
    assert!(match_device(advisories(), Some("6ES7 521-1BL00-0AB0"), Some("V2.2.0"), None).is_empty());
    // A newer CPU 1511-1 PN (1AL03) on V3.1.0: ICSA-23-348-09 product "13" is <V3.1.0,
    // ICSA-23-257-01 product "16" is <V3.0.3; the family entries end at V2.9.4 or below.
    assert!(match_device(advisories(), Some("6ES7511-1AL03-0AB0"), Some("V3.1.0"), None).is_empty());
    // …and on V3.0.3 only ICSA-23-348-09 applies, fixed in V3.1.0.
    let m = match_device(advisories(), Some("6ES7511-1AL03-0AB0"), Some("V3.0.3"), None);
    assert_eq!(ids(&m), ["ICSA-23-348-09"]);
    assert_eq!(m[0].fixed_in.as_deref(), Some("V3.1.0"));
}
