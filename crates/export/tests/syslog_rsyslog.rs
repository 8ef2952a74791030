//! Syslog over TCP (RFC 6587 octet counting) received by a real rsyslog.
//!
//! The test starts its own `rsyslogd` (foreground, own configuration file,
//! `imtcp` on a port the kernel picks, lines written by `omfile` with a
//! template that prints the fields rsyslog parsed), sends alerts, and checks
//! each received line: facility, severity, APP-NAME, MSGID, and the JSON. Then
//! it stops the collector, sends more alerts, starts it again on the same port
//! and checks the sender reconnected and delivered the lines it held.
//!
//! `scripts/deps test` installs rsyslog. Without it the test is skipped with a
//! printed reason, except in CI (`CI` set), where it fails.

use s7sentry_engine::rules::{Alert, Category, Severity};
use s7sentry_engine::Ts;
use s7sentry_export::sinks::{msgid, Syslog, SyslogOptions};
use s7sentry_export::soc::AlertContext;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn rsyslogd() -> Option<PathBuf> {
    ["/usr/sbin/rsyslogd", "/sbin/rsyslogd", "/usr/local/sbin/rsyslogd"].iter().map(PathBuf::from).find(|p| p.exists())
}

fn alert(rule: &'static str, severity: Severity, n: u64) -> Alert {
    Alert {
        ts: Ts::new(1_767_225_600, 0),
        frame: n,
        pcap: "capture.pcap".into(),
        rule,
        category: Category::UnauthorizedControl,
        severity,
        src: "10.10.9.99".parse().unwrap(),
        sport: 49152,
        dst: "10.10.1.10".parse().unwrap(),
        dport: 102,
        message: format!("alert number {n}\nwith a newline and \"quotes\""),
        cve: &[],
        evidence: serde_json::Map::new(),
        flow_start: Ts::new(1_767_225_599, 0),
    }
}

struct Collector {
    child: Child,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &Path, dir: &Path, port: u16) -> (Collector, u16) {
    let port_file = dir.join("port");
    let _ = std::fs::remove_file(&port_file);
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{d}")
module(load="imtcp")
template(name="fields" type="string" string="%syslogfacility-text%|%syslogseverity-text%|%app-name%|%msgid%|%msg%\n")
ruleset(name="alerts") {{
  action(type="omfile" file="{d}/out.log" template="fields")
}}
input(type="imtcp" port="{port}" listenPortFileName="{d}/port" ruleset="alerts")
"#,
            d = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rsyslogd");
    let c = Collector { child };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // rsyslog writes the port file only for port 0; a fixed port is probed.
        if let Some(p) = std::fs::read_to_string(&port_file).ok().and_then(|s| s.trim().parse::<u16>().ok()) {
            return (c, p);
        }
        if port != 0 && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (c, port);
        }
        assert!(Instant::now() < deadline, "rsyslogd did not open its TCP port");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Lines received so far.
fn received(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("out.log")).unwrap_or_default().lines().map(str::to_string).collect()
}

fn wait_for(dir: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = received(dir);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn rsyslog_receives_octet_counted_alerts_and_the_sender_reconnects() {
    let Some(bin) = rsyslogd() else {
        assert!(std::env::var_os("CI").is_none(), "rsyslogd is required in CI (scripts/deps test installs rsyslog)");
        println!("SKIPPED: rsyslogd not installed (scripts/deps test installs rsyslog)");
        return;
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("rsyslog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (collector, port) = start(&bin, &dir, 0);

    let opts = SyslogOptions {
        facility: 19, // local3
        queue: 1000,
        context: AlertContext::new(Some("sensor-a".into()), None),
    };
    let spec = format!("tcp://127.0.0.1:{port}");
    let s = Syslog::open_with(&spec, opts.clone()).unwrap();
    let rules: [(&'static str, Severity, &str); 4] = [
        ("control.cpu_stop", Severity::Critical, "crit"),
        ("loss_of_communication.plc_unresponsive", Severity::High, "err"),
        ("control.s7plus_engineering_operation", Severity::Medium, "warning"),
        ("loss_of_communication.plc_recovered", Severity::Info, "info"),
    ];
    let mut sent = Vec::new();
    for n in 1..=40u64 {
        let (rule, sev, _) = rules[(n % 4) as usize];
        s.send(&alert(rule, sev, n)).unwrap();
        sent.push((n, rule));
    }
    let got = wait_for(&dir, sent.len());
    assert_eq!(got.len(), sent.len(), "received:\n{}", got.join("\n"));
    for (line, (n, rule)) in got.iter().zip(&sent) {
        let f: Vec<&str> = line.splitn(5, '|').collect();
        let (_, _, sev_text) = rules.iter().find(|r| r.0 == *rule).unwrap();
        assert_eq!(f[0], "local3", "{line}");
        assert_eq!(f[1], *sev_text, "{line}");
        assert_eq!(f[2], "s7sentry", "{line}");
        assert_eq!(f[3], msgid(rule), "{line}");
        assert!(f[3].len() <= 32);
        let v: serde_json::Value = serde_json::from_str(f[4].trim()).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["rule"], *rule);
        assert_eq!(v["frame"], *n);
        assert_eq!(v["sensor"], "sensor-a");
        assert_eq!(v["event_type"], "alert");
        assert!(v["message"].as_str().unwrap().contains("\n"), "newline carried inside the JSON");
    }
    assert_eq!(s.undelivered(), 0);

    // The collector goes away: lines are held (bounded), then delivered after it comes back.
    drop(collector);
    for n in 41..=60u64 {
        let _ = s.send(&alert("control.cpu_stop", Severity::Critical, n));
    }
    let (_collector, again) = start(&bin, &dir, port);
    assert_eq!(again, port);
    let got = wait_for(&dir, 60);
    let frames: Vec<u64> = got
        .iter()
        .filter_map(|l| l.splitn(5, '|').nth(4))
        .filter_map(|j| serde_json::from_str::<serde_json::Value>(j.trim()).ok())
        .filter_map(|v| v["frame"].as_u64())
        .collect();
    assert_eq!(frames, (1..=60).collect::<Vec<u64>>(), "every line once, in order, after the reconnect");
    assert_eq!(s.close(Duration::from_secs(10)), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
