//! Smoke test of `scripts/perf-compare` (the comparison itself is long and is
//! not part of the test suite): tiny captures, one run of each timing, and a
//! check that every row and ratio is printed. No timing is asserted.

use s7sentry_pcapgen::big::{self, Kind};
use s7sentry_pcapgen::pcap::{AnyWriter, Format, LinkType};
use std::io::BufWriter;
use std::path::Path;
use std::process::Command;

fn generate(dir: &Path, kind: Kind, name: &str, frames: u64) {
    let file = std::fs::File::create(dir.join(name)).expect("create capture");
    let mut w = AnyWriter::new(BufWriter::new(file), LinkType::Ethernet, Format::CLASSIC).expect("pcap header");
    assert_eq!(big::generate(&mut w, kind, frames).expect("generate"), frames);
    w.into_inner().expect("flush");
}

#[test]
fn perf_compare_smoke() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("s7sentry-perf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // The names the script expects for --smoke; present, so it does not need the generator binary.
    generate(&dir, Kind::Benign, "benign_20000.pcap", 20_000);
    generate(&dir, Kind::Mixed, "mixed_20000.pcap", 20_000);
    generate(&dir, Kind::SynFlood, "synflood_50000.pcap", 50_000);
    let out = Command::new(root.join("scripts/perf-compare"))
        .args(["--smoke", "--no-build", "--bin", env!("CARGO_BIN_EXE_s7sentry"), "--dir"])
        .arg(&dir)
        .current_dir(root)
        .output()
        .expect("run scripts/perf-compare");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("== machine") && text.contains("cpu:"), "{text}");
    for kind in ["benign", "mixed", "synflood"] {
        assert!(text.contains(&format!("== {kind}:")), "{kind}: {text}");
    }
    assert_eq!(text.matches("bare libpcap loop").count(), 3, "{text}");
    // One single-thread and one `--threads 2` row per capture.
    assert_eq!(text.matches("s7sentry replay ").count(), 6, "{text}");
    assert_eq!(text.matches("s7sentry replay --threads 2 ").count(), 3, "{text}");
    assert_eq!(text.matches("--threads 2/1 thread").count(), 3, "{text}");
    assert_eq!(text.matches("s7sentry/limit").count(), 3, "{text}");
    if text.contains("tshark:") {
        assert_eq!(text.matches("s7sentry/tshark").count(), 2, "{text}");
    }
    // Every replay row counts the whole capture.
    assert!(text.lines().any(|l| l.trim_start().starts_with("s7sentry replay") && l.contains(" 50000 ")), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
