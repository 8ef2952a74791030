//! `replay --threads N` gives exactly the alerts of one thread, in the same
//! order, and the same summary counts — on every bundled capture, on the real
//! public captures and on a generated mixed capture large enough to spread many
//! PLCs over the workers.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn replay(file: &Path, threads: u16) -> (Vec<u8>, String, Option<i32>) {
    let cfg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_s7sentry"))
        .args(["replay", "--config"])
        .arg(&cfg)
        .args(["--threads", &threads.to_string()])
        .arg(file)
        .output()
        .expect("run s7sentry");
    let summary = String::from_utf8_lossy(&o.stderr)
        .lines()
        // Elapsed time and rate differ between runs; everything else must not.
        .filter(|l| !l.contains("elapsed"))
        .map(per_worker_counters_removed)
        .collect::<Vec<_>>()
        .join("\n");
    (o.stdout, summary, o.status.code())
}

/// Summary counters that count per worker, not per connection, and so depend on
/// the split (the alerts do not): checksum offload is learned per host in each
/// worker that sees the host, and the latency samples and state changes waiting
/// for an exporter flush are capped per worker.
fn per_worker_counters_removed(line: &str) -> String {
    const PER_WORKER: [&str; 4] =
        ["checksum_offload_direction ", "checksum_offload_host ", "latency_samples ", "state_changes "];
    let Some((head, items)) = line.split_once(": ") else { return line.to_string() };
    if !(head == "  stream" || head == "  detector caps hit") {
        return line.to_string();
    }
    let kept: Vec<&str> = items.split(", ").filter(|i| !PER_WORKER.iter().any(|p| i.starts_with(p))).collect();
    format!("{head}: {}", if kept.is_empty() { "none".to_string() } else { kept.join(", ") })
}

fn captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pcaps"))
        .expect("pcaps/")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("capture.pcap"))
        .filter(|p| p.is_file())
        .collect();
    for dir in ["pcaps/public", "pcaps/generated"] {
        let d = common::shared_dir().join(dir);
        for e in std::fs::read_dir(&d).expect("shared captures").filter_map(|e| e.ok()) {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

#[test]
fn every_capture_gives_the_same_alerts_with_2_and_3_workers() {
    let files = captures();
    assert!(files.len() > 100, "expected bundled and shared captures, found {}", files.len());
    let mut with_alerts = 0;
    for f in &files {
        let one = replay(f, 1);
        if !one.0.is_empty() {
            with_alerts += 1;
        }
        for n in [2, 3] {
            let many = replay(f, n);
            assert_eq!(one.2, many.2, "{}: exit status differs with {n} threads", f.display());
            assert!(one.0 == many.0, "{}: alerts differ with {n} threads", f.display());
            assert_eq!(one.1, many.1, "{}: summary differs with {n} threads", f.display());
        }
    }
    assert!(with_alerts > 40, "only {with_alerts} captures raised alerts: the comparison would prove little");
}

#[test]
fn a_large_mixed_capture_gives_the_same_alerts_with_4_workers() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join("threads_mixed.pcap");
    {
        use s7sentry_pcapgen::pcap::{AnyWriter, Format, LinkType};
        let out = std::io::BufWriter::new(std::fs::File::create(&file).expect("create capture"));
        let mut w = AnyWriter::new(out, LinkType::Ethernet, Format::CLASSIC).expect("pcap header");
        s7sentry_pcapgen::big::generate(&mut w, s7sentry_pcapgen::big::Kind::Mixed, 200_000).expect("generate");
        w.into_inner().expect("flush");
    }
    let one = replay(&file, 1);
    let four = replay(&file, 4);
    let n = one.0.iter().filter(|&&b| b == b'\n').count();
    assert!(n >= 10, "the mixed capture raised only {n} alerts");
    assert_eq!(one.2, four.2);
    assert!(one.0 == four.0, "alerts differ with 4 threads");
    assert_eq!(one.1, four.1);
}

#[test]
fn inventory_and_baseline_alerts_are_the_same_with_3_workers() {
    // Three captures in a row into one state file: a fleet learned for 20 s,
    // then a firmware change, then new talkers after the freeze; then the
    // public captures with identification data.
    let shared = common::shared_dir().join("pcaps/public");
    let mut files: Vec<PathBuf> = ["inventory_fleet", "inventory_firmware_change", "inventory_new_talker"]
        .iter()
        .map(|c| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pcaps").join(c).join("capture.pcap"))
        .collect();
    for f in
        ["icsnpp__s7ident.pcap", "gymgit__snap7_s300_everything.pcap", "wireshark-wiki__s7comm_reading_plc_status.pcap"]
    {
        files.push(shared.join(f));
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("threads_state_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut inventories = Vec::new();
    let mut all_alerts = Vec::new();
    for threads in ["1", "3"] {
        let state = dir.join(format!("state_{threads}.db"));
        let mut alerts = Vec::new();
        for f in &files {
            let o = Command::new(env!("CARGO_BIN_EXE_s7sentry"))
                .args(["replay", "-q", "--learn", "20s", "--threads", threads, "--state"])
                .arg(&state)
                .arg(f)
                .output()
                .expect("run s7sentry");
            assert!(o.status.success(), "{}: {}", f.display(), String::from_utf8_lossy(&o.stderr));
            alerts.push(o.stdout);
        }
        let o = Command::new(env!("CARGO_BIN_EXE_s7sentry"))
            .args(["inventory", "--format", "json", "--state"])
            .arg(&state)
            .output()
            .expect("run s7sentry inventory");
        assert!(o.status.success());
        inventories.push(o.stdout);
        all_alerts.push(alerts);
    }
    let baseline_alerts = all_alerts[0].iter().flatten().filter(|&&b| b == b'\n').count();
    assert!(baseline_alerts >= 5, "expected baseline and control alerts, got {baseline_alerts} lines");
    for (k, (a, b)) in all_alerts[0].iter().zip(&all_alerts[1]).enumerate() {
        assert!(a == b, "{}: alerts differ with 3 threads", files[k].display());
    }
    let devices: serde_json::Value = serde_json::from_slice(&inventories[0]).expect("inventory JSON");
    assert!(devices.as_array().is_some_and(|d| d.len() >= 10), "inventory too small: {devices}");
    assert!(inventories[0] == inventories[1], "inventory differs with 3 threads");
}
