//! `deploy/`: promtool checks and unit tests of the alerting rules, metrics
//! exposition example, dashboard / manifest syntax, systemd unit verification
//! (all in `deploy/test-deploy.sh`), and the example configuration accepted by
//! the binary.

use std::process::Command;

#[test]
fn deploy_checks_pass() {
    let root = env!("CARGO_MANIFEST_DIR");
    let o = Command::new("bash")
        .arg(format!("{root}/deploy/test-deploy.sh"))
        .current_dir(root)
        .output()
        .expect("run test-deploy.sh");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "deploy checks failed:\n{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("0 failed"), "{out}");
}

#[test]
fn example_config_is_accepted() {
    let root = env!("CARGO_MANIFEST_DIR");
    let o = Command::new(env!("CARGO_BIN_EXE_s7sentry"))
        .args(["replay", "-q", "--config"])
        .arg(format!("{root}/deploy/s7sentry.toml.example"))
        .arg(format!("{root}/pcaps/benign_plant/capture.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}
