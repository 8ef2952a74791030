//! Replays the committed fuzz corpus and the kept crashers on the stable
//! toolchain, through the very harness functions the cargo-fuzz targets call
//! (`fuzz/harness.rs`), so every `cargo test` re-checks them without nightly
//! or libFuzzer.
//!
//! Inputs: every file under `fuzz/corpus/<target>/` and
//! `fuzz/artifacts-keep/<target>/`. The test fails when a target's corpus
//! directory is missing or empty (a replay of nothing proves nothing), when a
//! directory names no known target, and when any input panics; the failure
//! message lists every panicking file.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

/// A harness function: one fuzz input.
type Harness = fn(&[u8]);

/// Every fuzz target with its harness function.
const TARGETS: &[(&str, Harness)] = &[
    ("tpkt", harness::tpkt),
    ("cotp", harness::cotp),
    ("s7comm", harness::s7comm),
    ("s7plus", harness::s7plus),
    ("engine_frames", harness::engine_frames),
    ("engine_stream", harness::engine_stream),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Regular files directly under `dir`, sorted (empty when `dir` is missing).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    v.sort();
    v
}

/// Run every file through `f`; returns the files that panicked, with the message.
fn replay(f: Harness, inputs: &[PathBuf]) -> Vec<String> {
    let mut failed = Vec::new();
    for p in inputs {
        let data = fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if let Err(e) = panic::catch_unwind(|| f(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| e.downcast_ref::<&str>().copied())
                .unwrap_or("non-string panic");
            failed.push(format!("{}: {msg}", p.display()));
        }
    }
    failed
}

/// Failures grouped by panic message (first line): count and up to five files each.
fn summary(failed: &[String]) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for f in failed {
        let (file, msg) = f.split_once(": ").unwrap_or((f, ""));
        let msg = msg.lines().next().unwrap_or("").to_string();
        match groups.iter_mut().find(|(m, _)| *m == msg) {
            Some((_, v)) => v.push(file),
            None => groups.push((msg, vec![file])),
        }
    }
    let mut out = String::new();
    for (msg, files) in &groups {
        out.push_str(&format!("  {} input(s): {msg}\n", files.len()));
        for f in files.iter().take(5) {
            out.push_str(&format!("    {f}\n"));
        }
    }
    out
}

/// Subdirectories of `dir` must all be known targets (catches a renamed target
/// whose corpus would otherwise silently stop being replayed).
fn assert_only_known_targets(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            assert!(TARGETS.iter().any(|(t, _)| *t == name), "{}: no fuzz target named {name}", dir.display());
        }
    }
}

#[test]
fn corpus_and_kept_crashers_replay_without_panic() {
    let corpus = fuzz_dir().join("corpus");
    let keep = fuzz_dir().join("artifacts-keep");
    assert!(corpus.is_dir(), "{} is missing", corpus.display());
    assert_only_known_targets(&corpus);
    assert_only_known_targets(&keep);
    let mut failed = Vec::new();
    let mut total = 0;
    for (name, f) in TARGETS {
        let inputs = files(&corpus.join(name));
        assert!(!inputs.is_empty(), "fuzz/corpus/{name}/ is missing or empty: seed it (fuzz/README.md)");
        let kept = files(&keep.join(name));
        total += inputs.len() + kept.len();
        failed.extend(replay(*f, &inputs));
        failed.extend(replay(*f, &kept));
    }
    assert!(failed.is_empty(), "{} of {total} inputs panicked:\n{}", failed.len(), summary(&failed));
}

/// The harness itself must be able to fail: a panicking function is reported.
#[test]
fn replay_reports_panics() {
    fn boom(d: &[u8]) {
        assert!(d.is_empty(), "boom");
    }
    let dir = std::env::temp_dir().join(format!("s7sentry-replay-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let p = dir.join("x");
    fs::write(&p, b"x").unwrap();
    let prev = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let failed = replay(boom, std::slice::from_ref(&p));
    panic::set_hook(prev);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].contains("boom"), "{failed:?}");
}

/// CPU STOP job (libnodave/ISF form) and its Ack_Data, one TPKT each.
const STOP_JOB: &[u8] = b"\x03\x00\x00\x21\x02\xf0\x80\x32\x01\x00\x00\x06\x00\x00\x10\x00\x00\
\x29\x00\x00\x00\x00\x00\x09P_PROGRAM";
const STOP_ACK: &[u8] = b"\x03\x00\x00\x14\x02\xf0\x80\x32\x03\x00\x00\x06\x00\x00\x01\x00\x00\x00\x00\x29";

/// The stream builder makes frames the engine follows down to the S7 layer:
/// plain chunks, chunks cut mid-TPKT, and chunks wrapped in TPKT + COTP DT.
#[test]
fn engine_stream_inputs_reach_the_s7_layer() {
    let input = harness::encode_stream(3, &[(0, STOP_JOB), (1, STOP_ACK)]);
    assert_eq!(harness::run_stream(&input).extra().pdus, 2);
    // The job split over two segments.
    let input = harness::encode_stream(3, &[(0, &STOP_JOB[..10]), (0, &STOP_JOB[10..]), (1, STOP_ACK)]);
    assert_eq!(harness::run_stream(&input).extra().pdus, 2);
    // ctl bit 1: the builder adds TPKT + COTP DT around the S7 bytes.
    let mut input = vec![3, 0x01, 0x02, 0, (STOP_JOB.len() - 7) as u8];
    input.extend_from_slice(&STOP_JOB[7..]);
    assert_eq!(harness::run_stream(&input).extra().pdus, 1);
}

/// An S7comm-plus write split over three frames (the ISF stop frame of
/// research/advisories-and-wire-format.md §2.4, cut after the object id and
/// inside the attribute VLQ), in TPKT + COTP DT each: the stream harness
/// reaches the message reassembly and the detector sees the whole write.
#[test]
fn engine_stream_inputs_reach_the_s7plus_reassembly() {
    let data: &[u8] =
        b"\x31\x00\x00\x04\xf2\x00\x00\x00\x01\x00\x00\x03\x94\x34\x00\x00\x00\x34\x01\x90\x77\x00\x08\x01\
\x00\x00\x04\xe8\x89\x69\x00\x12\x00\x00\x00\x00\x89\x6a\x00\x13\x00\x89\x6b\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00";
    let frame = |part: &[u8], last: bool| {
        let mut p = vec![0x72, 0x02];
        p.extend_from_slice(&(part.len() as u16).to_be_bytes());
        p.extend_from_slice(part);
        if last {
            p.extend_from_slice(&[0x72, 0x02, 0, 0]);
        }
        let mut t = vec![3, 0];
        t.extend_from_slice(&((p.len() + 7) as u16).to_be_bytes());
        t.extend_from_slice(&[2, 0xf0, 0x80]);
        t.extend_from_slice(&p);
        t
    };
    let (a, b, c) = (frame(&data[..18], false), frame(&data[18..20], false), frame(&data[20..], true));
    let input = harness::encode_stream(3, &[(0, &a), (0, &b), (0, &c)]);
    let run = harness::run_stream(&input);
    assert_eq!((run.extra().pdus, run.extra().joined), (3, 1));
    // With small buffers (config bit 2) the message is cut at the cap and still handed on.
    let input = harness::encode_stream(7, &[(0, &a), (0, &b), (0, &c)]);
    assert_eq!(harness::run_stream(&input).extra().joined, 1);
}

/// `encode_frames` round-trips captured frames of every supported link type.
#[test]
fn engine_frames_inputs_reach_the_s7_layer() {
    let mut sb = harness::StreamBuilder::new(1, false);
    let eth = sb.frame(0, 0, 0x18, 1000, STOP_JOB, 0).data.to_vec();
    let ip = &eth[14..];
    let mut sll = vec![0, 0, 0, 1, 0, 6, 0, 0x0c, 0x29, 0, 0, 2, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(ip);
    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0, 0x0c, 0x29, 0, 0, 2, 0, 0];
    sll2.extend_from_slice(ip);
    for (lt, f) in [(1, &eth[..]), (101, ip), (113, &sll[..]), (276, &sll2[..])] {
        let input = harness::encode_frames(3, &[(lt, f)]);
        assert_eq!(harness::run_frames(&input).extra().pdus, 1, "link type {lt}");
    }
}

/// The frames of `pcaps/<case>/capture.pcap`.
fn case_frames(case: &str) -> Vec<Vec<u8>> {
    use s7sentry_capture::PacketSource;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps").join(case).join("capture.pcap");
    let mut src = s7sentry_capture::MemorySource::load(&path).unwrap();
    let mut frames = Vec::new();
    while let Some(p) = src.next_packet().unwrap() {
        frames.push(p.data.to_vec());
    }
    frames
}

/// The `engine_frames` harness reaches IP reassembly: a STOP in IPv6 fragments
/// behind extension headers, and in IPv4 fragments overlapping with different
/// bytes (both copies with a valid checksum: both decoded), give their S7 PDUs;
/// the committed corpus holds such inputs (the evasion_ip_* captures).
#[test]
fn engine_frames_inputs_reach_ip_reassembly() {
    for (case, pdus) in [
        ("evasion_ip_ipv6_ext_headers", 4),
        ("evasion_ip_ipv6_fragments", 4),
        // Setup job and Ack_Data, the Read SZL (first copy) and the STOP (last copy), its Ack_Data.
        ("evasion_ip_overlap_both_valid", 5),
    ] {
        let frames = case_frames(case);
        let recs: Vec<(i32, &[u8])> = frames.iter().map(|f| (1, f.as_slice())).collect();
        let tee = harness::run_frames(&harness::encode_frames(3, &recs));
        assert_eq!(tee.extra().pdus, pdus, "{case}");
        assert!(
            tee.detector().expect("detector").counts[s7sentry_engine::rules::catalog::CTL_STOP] > 0,
            "{case}: STOP not reported"
        );
    }
    use s7sentry_engine::rules::catalog::{EVA_IP_LATE, EVA_IP_OVERLAP, EVA_IP_TINY};
    let (mut overlap, mut late, mut tiny) = (0, 0, 0);
    for p in files(&fuzz_dir().join("corpus/engine_frames")) {
        let data = fs::read(p).unwrap();
        if let Ok(c) = panic::catch_unwind(|| harness::run_frames(&data).detector().expect("detector").counts.clone()) {
            overlap += u64::from(c[EVA_IP_OVERLAP] > 0);
            late += u64::from(c[EVA_IP_LATE] > 0);
            tiny += u64::from(c[EVA_IP_TINY] > 0);
        }
    }
    assert!(
        overlap >= 2 && late >= 1 && tiny >= 1,
        "corpus inputs reaching reassembly: {overlap} overlaps, {late} late, {tiny} tiny"
    );
}

/// The committed engine corpora are not shallow: replayed, they produce S7 PDUs.
#[test]
fn engine_corpora_reach_the_s7_layer() {
    let corpus = fuzz_dir().join("corpus");
    for (name, run) in
        [("engine_frames", harness::run_frames as fn(&[u8]) -> harness::Run), ("engine_stream", harness::run_stream)]
    {
        // Inputs that panic are the other test's business; count the rest.
        let pdus: u64 = files(&corpus.join(name))
            .iter()
            .filter_map(|p| {
                let data = fs::read(p).unwrap();
                panic::catch_unwind(|| run(&data).extra().pdus).ok()
            })
            .sum();
        assert!(pdus > 100, "fuzz/corpus/{name}/ yields only {pdus} S7 PDUs");
    }
    // Seeds from pcaps/evasion_s7_* carry S7comm-plus messages split over frames.
    let joined: u64 = files(&corpus.join("engine_stream"))
        .iter()
        .filter_map(|p| {
            let data = fs::read(p).unwrap();
            panic::catch_unwind(|| harness::run_stream(&data).extra().joined).ok()
        })
        .sum();
    assert!(joined > 0, "fuzz/corpus/engine_stream/ reaches no S7comm-plus message reassembly");
}

/// The engine corpora again in every asset-tracking mode (config bits 4-5: on,
/// learning, frozen), and the generated inventory captures in every mode: no
/// panic, and the fleet stays within its caps (`Tee::check_fleet`).
#[test]
fn engine_corpora_with_asset_tracking() {
    let corpus = fuzz_dir().join("corpus");
    let mut failed = Vec::new();
    for (name, f) in [("engine_frames", harness::engine_frames as Harness), ("engine_stream", harness::engine_stream)] {
        for p in files(&corpus.join(name)) {
            let data = fs::read(&p).unwrap();
            if data.is_empty() {
                continue;
            }
            for mode in 1..=3u8 {
                let mut d = data.clone();
                d[0] = (d[0] & !0x30) | (mode << 4);
                if let Err(e) = panic::catch_unwind(|| f(&d)) {
                    let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
                    failed.push(format!("{} (asset mode {mode}): {msg}", p.display()));
                }
            }
        }
    }
    assert!(failed.is_empty(), "{} input(s) panicked with asset tracking:\n{}", failed.len(), failed.join("\n"));

    use s7sentry_engine::rules::catalog;
    for case in ["inventory_fleet", "inventory_firmware_change", "inventory_new_talker"] {
        let frames = case_frames(case);
        let recs: Vec<(i32, &[u8])> = frames.iter().map(|f| (1, f.as_slice())).collect();
        for mode in 0..=3u8 {
            let run = harness::run_frames(&harness::encode_frames(3 | (mode << 4), &recs));
            let det = run.detector().expect("the harness runs a detector");
            let fleet = det.fleet();
            assert_eq!(fleet.plcs().count() > 0, mode > 0, "{case} mode {mode}");
            let news = det.counts[catalog::NEW_TALKER] + det.counts[catalog::NEW_FUNCTION];
            match mode {
                0 | 1 => assert_eq!(news, 0, "{case} mode {mode}: no new_* alerts without a frozen baseline"),
                // 37 ms per frame: the 2 s learning period ends inside every case.
                2 => assert!(fleet.is_frozen(), "{case}: learning did not end"),
                _ => assert!(news > 0, "{case}: a frozen empty baseline flags the first talkers"),
            }
        }
    }
}
