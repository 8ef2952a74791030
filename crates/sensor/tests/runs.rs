//! The single-threaded and the sharded run give the same alerts, in the same
//! order, through the library alone (the binary's `replay --threads` is tested
//! in the root package's tests/threads.rs); and the pipeline delivers the
//! alerts of one frame in canonical order.

use s7sentry_capture::MemorySource;
use s7sentry_engine::rules::{Alert, DetectConfig, Detector};
use s7sentry_engine::EngineConfig;
use s7sentry_sensor::{canonical_order, run, run_sharded, worker_config, Ended, NoExtra, Pipeline, Totals};
use std::path::PathBuf;

fn capture(case: &str) -> MemorySource {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../pcaps").join(case).join("capture.pcap");
    MemorySource::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn detector() -> Detector {
    let text = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden.toml"))
        .expect("tests/golden.toml");
    Detector::new(DetectConfig::from_toml(&text).expect("config"))
}

fn single(case: &str) -> (Vec<Alert>, Totals) {
    let mut src = capture(case);
    let mut pipe = Pipeline::new(EngineConfig::default(), Some(detector()), NoExtra);
    let mut out = Vec::new();
    assert!(matches!(run(&mut src, &mut pipe, &mut out), Ended::End));
    pipe.finish(&mut out).unwrap();
    let mut t = Totals::default();
    t.add(&pipe);
    (out, t)
}

fn sharded(case: &str, n: usize) -> (Vec<Alert>, Totals) {
    let mut src = capture(case);
    let pipes = (0..n).map(|_| Pipeline::new(worker_config(n), Some(detector()), NoExtra)).collect();
    let mut out = Vec::new();
    let (ended, pipes) = run_sharded(&mut src, pipes, &mut out);
    assert!(matches!(ended, Ended::End));
    let mut t = Totals::default();
    for p in &pipes {
        t.add(p);
    }
    (out, t)
}

fn lines(v: &[Alert]) -> Vec<String> {
    v.iter().map(|a| format!("{} {} {} {:?} {} {}", a.frame, a.rule, a.ts, a.category, a.src, a.message)).collect()
}

#[test]
fn sharded_runs_equal_the_single_threaded_run() {
    let mut with_alerts = 0;
    for case in ["attack_mixed", "attack_syn_flood", "attack_plc_crash", "benign_busy_hmi", "attack_ip_fragments"] {
        let (one, t1) = single(case);
        with_alerts += usize::from(!one.is_empty());
        for n in [2, 3] {
            let (many, tn) = sharded(case, n);
            assert_eq!(lines(&one), lines(&many), "{case}: alerts differ with {n} workers");
            assert_eq!(t1.counts, tn.counts, "{case}: counts per rule differ with {n} workers");
            assert_eq!(t1.findings, tn.findings, "{case}: findings differ with {n} workers");
            assert_eq!(t1.stats.s7comm_pdus, tn.stats.s7comm_pdus, "{case}");
        }
    }
    assert!(with_alerts >= 4, "the cases must raise alerts for the comparison to mean something");
}

#[test]
fn alerts_of_one_frame_come_in_canonical_order() {
    let (all, _) = single("attack_mixed");
    assert!(all.len() >= 5);
    for w in all.windows(2) {
        if (w[0].ts, w[0].frame) == (w[1].ts, w[1].frame) {
            assert_ne!(canonical_order(&w[0], &w[1]), std::cmp::Ordering::Greater, "{} / {}", w[0].rule, w[1].rule);
        }
    }
}

/// An output that fails: the run stops and says so.
struct Broken;

impl s7sentry_sensor::Output for Broken {
    fn alert(&mut self, _: &Alert) -> std::io::Result<()> {
        Err(std::io::Error::other("disk full"))
    }
}

#[test]
fn a_failing_output_ends_the_run() {
    let mut src = capture("attack_mixed");
    let mut pipe = Pipeline::new(EngineConfig::default(), Some(detector()), NoExtra);
    match run(&mut src, &mut pipe, &mut Broken) {
        Ended::OutputFailed(Some(e)) => assert_eq!(e.to_string(), "disk full"),
        other => panic!("{other:?}"),
    }
    let mut src = capture("attack_mixed");
    let pipes = (0..2).map(|_| Pipeline::new(worker_config(2), Some(detector()), NoExtra)).collect();
    let (ended, _) = run_sharded(&mut src, pipes, &mut Broken);
    assert!(matches!(ended, Ended::OutputFailed(Some(_))), "{ended:?}");
}
