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

/// Every fuzz target with its harness function.
const TARGETS: &[(&str, fn(&[u8]))] = &[
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
fn replay(f: fn(&[u8]), inputs: &[PathBuf]) -> Vec<String> {
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
    assert!(failed.is_empty(), "{} of {total} inputs panicked:\n{}", failed.len(), failed.join("\n"));
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
