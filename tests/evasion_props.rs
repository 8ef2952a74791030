//! Issue 10, item 4: an attacker who knows TCP/IP must not hide a STOP.
//!
//! A seeded loop takes a conversation carrying a CPU STOP (S7comm PLC Stop
//! 0x29) or an S7comm-plus operating-state write, applies a random mix of the
//! mutations of `s7sentry_pcapgen::mutate` (segmentation, reordering,
//! duplication, overlapping retransmissions, decoys the PLC drops, SYN/RST
//! injections it ignores, keep-alives, mid-stream start, IPv4/IPv6
//! fragmentation with and without overlaps, IPv6 extension headers), all of
//! which leave what the PLC receives unchanged, replays the capture in memory
//! through `Engine` + `Detector` (as `tests/golden.rs` does) and asserts that
//! the STOP is reported: `control.cpu_stop`, `control.s7plus_operating_state`
//! or `control.confirmed_without_request` (the PLC's answer gives it away).
//! The benign twin, an HMI's Read Var session under the same mutations minus
//! the decoys, must raise nothing above `low` (fragments toward a PLC keep
//! their `crash_pattern.ip_fragment`, medium: CVE-2024-23814).
//!
//! Runs: every class alone ([`PER_CLASS`] seeds, alternating the two STOP
//! scenarios and IPv4/IPv6), then [`MIXED`] random mixes. On a failure the
//! seed, the classes and the alerts are printed and the capture is written to
//! `target/tmp/evasion_props/` (replay it with `s7sentry replay`). Rerun one
//! case with `EVASION_SEED=<seed> EVASION_CLASSES=a,b cargo test --release
//! --test evasion_props`.
//!
//! Classes in [`PENDING`] are run and reported but not asserted: they need
//! work on other branches (the TCP stream engine, the session layer's
//! confirmation from the PLC's answers). Empty the list once they are merged.

use s7sentry_engine::rules::{Alert, DetectConfig, Detector, Severity};
use s7sentry_engine::{Engine, EngineConfig, Frame, Ts};
use s7sentry_pcapgen::mutate::{check_plc_view, mutate, random_mix, Class, Conversation, Mutated, Scenario};
use s7sentry_pcapgen::pcap::Format;
use s7sentry_pcapgen::rng::SplitMix64;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Mutation classes that cannot pass before other branches are merged, with
/// the reason (the component that drops the STOP today). The lead empties
/// this list after merging the stream and session work of issue 10.
const PENDING: &[(Class, &str)] = &[];

/// Seeds per class when each class runs alone.
const PER_CLASS: u64 = 120;
/// Random mixes.
const MIXED: u64 = 4_000;
/// Floors for the random mixes: STOPs reported and benign twins quiet (of [`MIXED`]).
///
/// All 4 000 pass. The last residue (30 mixes, all with `midstream` and a TTL
/// or checksum decoy inside a split request, or a 1-byte last segment) was
/// closed by: a 1-byte segment just below the peer's ACK that ends held data
/// is the request's last byte, not a keep-alive (anchoring took it for one and
/// the whole request for old bytes); a request overlapped by a copy with other
/// bytes explains a confirmed control answer only if the kept copy was that
/// control function (`reason: request_overlapped`); and on a connection picked
/// up mid-stream the PLC's answers are judged once the client's direction
/// showed an overlap conflict or bytes the sensor could not decode.
const MIXED_FOUND_FLOOR: u64 = 4_000;
const MIXED_QUIET_FLOOR: u64 = 4_000;

/// Rules that report the STOP (or the PLC's answer to it).
const STOP_RULES: [&str; 3] =
    ["control.cpu_stop", "control.s7plus_operating_state", "control.confirmed_without_request"];

fn detect_config() -> DetectConfig {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden.toml"))
        .expect("tests/golden.toml");
    DetectConfig::from_toml(&text).expect("tests/golden.toml")
}

/// Replay a mutated capture in memory: the alerts.
fn replay(cfg: &DetectConfig, m: &Mutated) -> Vec<Alert> {
    let mut engine = Engine::new(EngineConfig::default());
    let mut det = Detector::new(cfg.clone());
    let mut out = Vec::new();
    for (n, f) in m.trace.frames.iter().enumerate() {
        let ts = Ts(f.ts_ns as i64);
        let fr = Frame { frame: n as u64 + 1, ts, linktype: 1, data: &f.data };
        engine.process(&fr, &mut det);
        out.extend(det.drain());
    }
    engine.finish(&mut det);
    det.finish();
    out.extend(det.drain());
    out
}

/// One case: what ran and what went wrong (None: passed).
struct Outcome {
    failure: Option<String>,
}

fn fragmenting(classes: &[Class]) -> bool {
    classes.iter().any(|c| {
        matches!(
            c,
            Class::Ipv4Frag
                | Class::Ipv4FragOverlapSame
                | Class::Ipv4FragDecoyLast
                | Class::Ipv4FragDecoyFirst
                | Class::Ipv6Frag
        )
    })
}

fn dump(name: &str, seed: u64, m: &Mutated) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("evasion_props");
    std::fs::create_dir_all(&dir).expect("create target/tmp/evasion_props");
    let p = dir.join(format!("{name}-{seed}.pcap"));
    std::fs::write(&p, m.trace.to_bytes(Format::CLASSIC).expect("pcap in memory")).expect("write capture");
    p
}

fn show(alerts: &[Alert]) -> String {
    alerts.iter().map(|a| format!("{} {} {}", a.frame, a.rule, a.severity.name())).collect::<Vec<_>>().join("; ")
}

/// Whether a case runs over IPv6: when a class needs it, or on odd seeds when no class needs IPv4.
fn over_ipv6(seed: u64, classes: &[Class]) -> bool {
    let needs = |v6| classes.iter().any(|c| c.family() == Some(v6));
    needs(true) || (seed % 2 == 1 && !needs(false))
}

/// The attack: the STOP must be reported.
fn attack(cfg: &DetectConfig, seed: u64, scenario: Scenario, classes: &[Class]) -> Outcome {
    let v6 = over_ipv6(seed, classes);
    let conv = Conversation::build(scenario, v6, seed);
    let m = mutate(&conv, classes, seed, false);
    if let Err(e) = check_plc_view(&conv, &m) {
        return Outcome { failure: Some(format!("mutation broke the PLC's view: {e}")) };
    }
    let alerts = replay(cfg, &m);
    if alerts.iter().any(|a| STOP_RULES.contains(&a.rule)) {
        return Outcome { failure: None };
    }
    let p = dump("attack", seed, &m);
    Outcome {
        failure: Some(format!(
            "{scenario:?} over {}: STOP not reported; alerts: [{}]; capture {}",
            if v6 { "IPv6" } else { "IPv4" },
            show(&alerts),
            p.display()
        )),
    }
}

/// The benign twin: nothing above low (but the fragment rule when fragmented).
fn benign(cfg: &DetectConfig, seed: u64, classes: &[Class]) -> Outcome {
    let classes: Vec<Class> = classes.iter().copied().filter(|c| !c.is_decoy()).collect();
    let v6 = over_ipv6(seed, &classes);
    let conv = Conversation::build(Scenario::ReadVar, v6, seed);
    let m = mutate(&conv, &classes, seed, true);
    let alerts = replay(cfg, &m);
    let frag = fragmenting(&classes);
    let loud: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.severity > Severity::Low && !(frag && a.rule == "crash_pattern.ip_fragment"))
        .collect();
    if loud.is_empty() {
        return Outcome { failure: None };
    }
    let p = dump("benign", seed, &m);
    Outcome {
        failure: Some(format!(
            "benign twin over {}: [{}]; capture {}",
            if v6 { "IPv6" } else { "IPv4" },
            loud.iter().map(|a| format!("{} {} {}", a.frame, a.rule, a.severity.name())).collect::<Vec<_>>().join("; "),
            p.display()
        )),
    }
}

fn pending(c: Class) -> bool {
    PENDING.iter().any(|(p, _)| *p == c)
}

#[test]
fn a_stop_survives_every_mutation_and_benign_twins_stay_quiet() {
    let cfg = detect_config();
    // One case from the environment, for debugging.
    if let (Ok(seed), Ok(names)) = (std::env::var("EVASION_SEED"), std::env::var("EVASION_CLASSES")) {
        let seed: u64 = seed.parse().expect("EVASION_SEED");
        let classes: Vec<Class> =
            names.split(',').map(|n| Class::from_name(n).unwrap_or_else(|| panic!("no class {n}"))).collect();
        for sc in [Scenario::CpuStop, Scenario::PlusStop] {
            let o = attack(&cfg, seed, sc, &classes);
            eprintln!("{sc:?}: {}", o.failure.unwrap_or_else(|| "STOP reported".into()));
        }
        eprintln!("benign: {}", benign(&cfg, seed, &classes).failure.unwrap_or_else(|| "quiet".into()));
        return;
    }
    let mut failures: Vec<String> = Vec::new();
    let mut table: BTreeMap<&'static str, (u64, u64, u64, u64, bool)> = BTreeMap::new();
    // Each class alone.
    for (k, class) in Class::ALL.into_iter().enumerate() {
        let (mut ok, mut bad, mut bok, mut bbad) = (0, 0, 0, 0);
        let mut first: Option<String> = None;
        for i in 0..PER_CLASS {
            let seed = 1_000_000 * (k as u64 + 1) + i;
            let sc = if i % 2 == 0 { Scenario::CpuStop } else { Scenario::PlusStop };
            match attack(&cfg, seed, sc, &[class]).failure {
                None => ok += 1,
                Some(f) => {
                    bad += 1;
                    first.get_or_insert(format!("[{}] seed {seed}: {f}", class.name()));
                }
            }
            if !class.is_decoy() {
                match benign(&cfg, seed, &[class]).failure {
                    None => bok += 1,
                    Some(f) => {
                        bbad += 1;
                        first.get_or_insert(format!("[{}] benign seed {seed}: {f}", class.name()));
                    }
                }
            }
        }
        table.insert(class.name(), (ok, bad, bok, bbad, pending(class)));
        if let Some(f) = first {
            if !pending(class) {
                failures.push(f);
            } else {
                eprintln!("pending class {}: {f}", class.name());
            }
        }
    }
    // Random mixes of the classes that must pass.
    let allowed: Vec<Class> = Class::ALL.into_iter().filter(|c| !pending(*c)).collect();
    let mut rng = SplitMix64::new(0x1010);
    let (mut mixed_ok, mut benign_ok) = (0u64, 0u64);
    let mut mix_failures: Vec<String> = Vec::new();
    // Per class: mixes containing it, and failed mixes containing it.
    let mut blame: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    for i in 0..MIXED {
        let classes = random_mix(&mut rng, &allowed);
        let names: Vec<&str> = classes.iter().map(|c| c.name()).collect();
        let seed = 7_000_000 + i;
        let sc = if i % 2 == 0 { Scenario::CpuStop } else { Scenario::PlusStop };
        let a = attack(&cfg, seed, sc, &classes).failure;
        let b = benign(&cfg, seed, &classes).failure;
        for c in &classes {
            let e = blame.entry(c.name()).or_default();
            e.0 += 1;
            e.1 += u64::from(a.is_some() || b.is_some());
        }
        match a {
            None => mixed_ok += 1,
            Some(f) => mix_failures.push(format!("mix {names:?} seed {seed}: {f}")),
        }
        match b {
            None => benign_ok += 1,
            Some(f) => mix_failures.push(format!("mix {names:?} seed {seed}: {f}")),
        }
    }
    if !PENDING.is_empty() {
        // Informational: mixes of every class, pending ones included.
        let mut rng = SplitMix64::new(0x2020);
        let (mut bad, mut blame_all) = (0u64, BTreeMap::<&'static str, (u64, u64)>::new());
        for i in 0..MIXED / 2 {
            let classes = random_mix(&mut rng, &Class::ALL);
            let seed = 9_000_000 + i;
            let sc = if i % 2 == 0 { Scenario::CpuStop } else { Scenario::PlusStop };
            let failed = attack(&cfg, seed, sc, &classes).failure.is_some();
            bad += u64::from(failed);
            for c in &classes {
                let e = blame_all.entry(c.name()).or_default();
                e.0 += 1;
                e.1 += u64::from(failed);
            }
        }
        eprintln!("mixes of every class (pending included, not asserted): {bad}/{} STOPs missed", MIXED / 2);
        for (name, (n, b)) in &blame_all {
            eprintln!("  {name:24} in {n} mixes, {b} of them missed the STOP");
        }
    }
    eprintln!("class                    attacks: ok/failed   benign: ok/failed");
    for (name, (ok, bad, bok, bbad, p)) in &table {
        eprintln!("{name:24} {ok:6}/{bad:<6}          {bok:6}/{bbad:<6} {}", if *p { "(pending)" } else { "" });
    }
    eprintln!("mixes: {mixed_ok}/{MIXED} attacks reported, {benign_ok}/{MIXED} benign twins quiet");
    for (name, (n, bad)) in &blame {
        if *bad > 0 {
            eprintln!("  {name:24} in {n} mixes, {bad} of them failed");
        }
    }
    for f in mix_failures.iter().take(5) {
        eprintln!("residue: {f}");
    }
    assert!(
        mixed_ok >= MIXED_FOUND_FLOOR && benign_ok >= MIXED_QUIET_FLOOR,
        "mixes: {mixed_ok}/{MIXED} STOPs reported (floor {MIXED_FOUND_FLOOR}), {benign_ok}/{MIXED} benign twins quiet (floor {MIXED_QUIET_FLOOR}); first failures:\n{}",
        mix_failures.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} failure(s); first ones:\n{}",
        failures.len(),
        failures.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// The IP evasion suite in `pcaps/` (its goldens are checked by `tests/golden.rs`):
/// every `evasion_ip_*` attack case reports the STOP and the evasion it uses,
/// every twin at most `crash_pattern.ip_fragment`. Guards against re-blessing
/// a golden that lost the STOP.
#[test]
fn the_ip_evasion_suite_reports_each_stop_and_its_technique() {
    let want: &[(&str, &[&str])] = &[
        ("evasion_ip_overlap_last_copy", &["evasion.ip_overlap_conflict"]),
        ("evasion_ip_overlap_first_copy", &["evasion.ip_overlap_conflict"]),
        ("evasion_ip_overlap_both_valid", &["evasion.ip_overlap_conflict"]),
        ("evasion_ip_tcp_header_overwrite", &["evasion.ip_tcp_header_overlap", "evasion.ip_tiny_fragment"]),
        ("evasion_ip_length_conflict", &["evasion.ip_length_conflict", "evasion.ip_overlap_conflict"]),
        ("evasion_ip_ipv6_fragments", &["evasion.ip_tiny_fragment"]),
        ("evasion_ip_ipv6_ext_headers", &["evasion.ip_tiny_fragment"]),
        // Reordered and duplicated fragments are legal: only the fragment rule.
        ("evasion_ip_out_of_order", &["crash_pattern.ip_fragment"]),
        ("evasion_ip_fragment_timeout", &["evasion.ip_datagram_incomplete", "evasion.ip_late_fragment"]),
        ("evasion_ip_fragment_flood", &["evasion.ip_reassembly_cap"]),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps");
    let mut seen = 0;
    for e in std::fs::read_dir(&root).expect("pcaps/").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("evasion_ip_") {
            continue;
        }
        seen += 1;
        let tsv = std::fs::read_to_string(e.path().join("expected_alerts.tsv")).expect("expected_alerts.tsv");
        let rows: Vec<(&str, &str)> = tsv
            .lines()
            .skip(1)
            .map(|l| {
                let c: Vec<&str> = l.split('\t').collect();
                (c[1], c[3])
            })
            .collect();
        if name.starts_with("evasion_ip_twin_") {
            assert!(
                rows.iter().all(|(r, s)| *r == "crash_pattern.ip_fragment" || *s == "info" || *s == "low"),
                "{name}: {rows:?}"
            );
            continue;
        }
        let Some((_, rules)) = want.iter().find(|(n, _)| *n == name) else {
            panic!("{name}: not listed in this test");
        };
        assert!(rows.iter().any(|(r, _)| *r == "control.cpu_stop"), "{name}: the STOP is not reported: {rows:?}");
        for r in *rules {
            assert!(rows.iter().any(|(x, _)| x == r), "{name}: {r} missing: {rows:?}");
        }
    }
    assert_eq!(seen, want.len() + 2, "evasion_ip_* cases in pcaps/");
}

/// The TCP evasion suite in `pcaps/` (goldens in `tests/golden.rs`): every
/// `evasion_tcp_*` attack case reports the STOP (or the PLC's answer to it)
/// and the technique's rule; every twin raises nothing above low.
#[test]
fn the_tcp_evasion_suite_reports_each_stop_and_its_technique() {
    let want: &[(&str, &[&str])] = &[
        ("evasion_tcp_equal_seq_held_decoy", &["malformed.tcp_overlap"]),
        ("evasion_tcp_hold_cap", &["evasion.hold_cap", "evasion.stream_late_data"]),
        ("evasion_tcp_midstream_out_of_order", &[]),
        ("evasion_tcp_midstream_one_byte", &[]),
        ("evasion_tcp_syn_inject", &["evasion.tcp_syn_on_established"]),
        ("evasion_tcp_rst_inject", &["evasion.tcp_rst_ignored"]),
        ("evasion_tcp_checksum_decoy", &["evasion.tcp_checksum_conflict"]),
        ("evasion_tcp_window_decoy", &["evasion.tcp_out_of_window"]),
        ("evasion_tcp_ttl_decoy", &["malformed.tcp_overlap"]),
        (
            "evasion_tcp_combined",
            &["evasion.tcp_syn_on_established", "evasion.tcp_rst_ignored", "evasion.tcp_checksum_conflict"],
        ),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps");
    let mut seen = 0;
    for e in std::fs::read_dir(&root).expect("pcaps/").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("evasion_tcp_") {
            continue;
        }
        seen += 1;
        let tsv = std::fs::read_to_string(e.path().join("expected_alerts.tsv")).expect("expected_alerts.tsv");
        let rows: Vec<(String, String)> = tsv
            .lines()
            .skip(1)
            .map(|l| {
                let c: Vec<&str> = l.split('\t').collect();
                (c[1].to_string(), c[3].to_string())
            })
            .collect();
        if name.starts_with("evasion_tcp_twin_") {
            assert!(rows.iter().all(|(_, s)| s == "info" || s == "low"), "{name}: {rows:?}");
            continue;
        }
        let Some((_, rules)) = want.iter().find(|(n, _)| *n == name) else {
            panic!("{name}: not listed in this test");
        };
        assert!(
            rows.iter().any(|(r, _)| STOP_RULES.contains(&r.as_str())),
            "{name}: the STOP is not reported: {rows:?}"
        );
        for r in *rules {
            assert!(rows.iter().any(|(x, _)| x == r), "{name}: {r} missing: {rows:?}");
        }
    }
    assert_eq!(seen, want.len() + 3, "evasion_tcp_* cases in pcaps/");
}
