//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared research folder beside the checkout (`../shared`), or `$S7SENTRY_SHARED`.
pub fn shared_dir() -> PathBuf {
    if let Ok(p) = std::env::var("S7SENTRY_SHARED") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(
        p.join("pcaps/public").is_dir(),
        "{} not found: tests need the shared captures beside the checkout (or set S7SENTRY_SHARED)",
        p.display()
    );
    p
}

/// Whether tshark is installed.
pub fn tshark_available() -> bool {
    std::process::Command::new("tshark").arg("-v").output().map(|o| o.status.success()).unwrap_or(false)
}

/// Path of a file under the repo's `pcaps/`.
pub fn own_pcap(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pcaps").join(case)
}

/// Run a shell command.
pub fn sh(cmd: &str) -> std::process::Output {
    std::process::Command::new("sh").arg("-c").arg(cmd).output().expect("sh")
}

/// Run a shell command that must succeed.
pub fn must(cmd: &str) {
    let o = sh(cmd);
    assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A fresh temporary directory named after `tag` and this process.
pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("s7sentry-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
