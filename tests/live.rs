//! `s7sentry live` on real interfaces: bad conditions, graceful shutdown, and
//! the end-to-end test — two network namespaces joined by a veth pair,
//! `tcpreplay` into one end, the sensor on the other, and a real Prometheus
//! server scraping it and evaluating the shipped alerting rules.
//!
//! Needs root (network namespaces, raw capture), tcpreplay and prometheus
//! (`scripts/deps test` installs them). CI runs as root. Set
//! `S7SENTRY_SKIP_LIVE=1` to skip on a workstation without root.

mod common;

use common::{must, own_pcap, sh, tmpdir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_s7sentry")
}

fn skip() -> bool {
    if std::env::var_os("S7SENTRY_SKIP_LIVE").is_some() {
        eprintln!("S7SENTRY_SKIP_LIVE set: live tests skipped");
        return true;
    }
    let uid = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    assert_eq!(uid.as_deref().ok(), Some("0"), "live tests need root (or set S7SENTRY_SKIP_LIVE=1)");
    false
}

/// Two namespaces `a` (replayer) and `b` (sensor) joined by veth-a <-> veth-b.
struct Netns {
    a: String,
    b: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let id = std::process::id() % 100_000;
        let n = Netns { a: format!("s7a{tag}{id}"), b: format!("s7b{tag}{id}") };
        let _ = sh(&format!("ip netns del {} 2>/dev/null; ip netns del {} 2>/dev/null", n.a, n.b));
        must(&format!("ip netns add {} && ip netns add {}", n.a, n.b));
        must(&format!(
            "ip link add s7va type veth peer name s7vb && ip link set s7va netns {} && ip link set s7vb netns {}",
            n.a, n.b
        ));
        must(&format!("ip -n {} link set s7va up && ip -n {} link set s7vb up && ip -n {} link set lo up && ip -n {} link set lo up", n.a, n.b, n.a, n.b));
        n
    }
    fn in_b(&self, cmd: &str) -> String {
        format!("ip netns exec {} {cmd}", self.b)
    }
    fn replay(&self, file: &Path, speed: &str) {
        must(&format!("ip netns exec {} tcpreplay -q -i s7va {speed} {} >/dev/null 2>&1", self.a, file.display()));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&format!("ip netns del {}; ip netns del {}", self.a, self.b));
    }
}

struct Sensor {
    child: Child,
    alerts: PathBuf,
}

impl Sensor {
    fn start(ns: &Netns, listen: &str, dir: &Path) -> Sensor {
        let alerts = dir.join("alerts.jsonl");
        let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden.toml");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.b, bin(), "live", "--interface", "s7vb", "--listen", listen])
            .arg("--config")
            .arg(&cfg)
            .arg("--alerts")
            .arg(&alerts)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sensor");
        // Wait for /healthz.
        let t0 = Instant::now();
        loop {
            let o = sh(&ns.in_b(&format!("curl -fs http://{listen}/healthz")));
            if o.status.success() {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "sensor did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        Sensor { child, alerts }
    }

    /// SIGTERM; returns (exit code, seconds to exit, stderr).
    fn stop(mut self) -> (Option<i32>, f64, String) {
        let t0 = Instant::now();
        must(&format!("kill -TERM {}", self.child.id()));
        // `ip netns exec` execs the sensor, so the pid is the sensor's.
        let status = self.child.wait().expect("wait");
        let secs = t0.elapsed().as_secs_f64();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), secs, err)
    }

    fn rules(&self) -> Vec<String> {
        std::fs::read_to_string(&self.alerts)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["rule"].as_str().unwrap().to_string())
            .collect()
    }
}

fn replay_rules(file: &Path) -> Vec<String> {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden.toml");
    let o = Command::new(bin()).args(["replay", "-q", "--config"]).arg(&cfg).arg(file).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["rule"].as_str().unwrap().to_string())
        .collect()
}

fn multiset(v: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in v {
        *m.entry(r.clone()).or_insert(0) += 1;
    }
    m
}

#[test]
fn bad_conditions_get_one_line_and_a_nonzero_exit() {
    if skip() {
        return;
    }
    let run = |args: &[&str]| Command::new(bin()).args(args).output().unwrap();
    let o = run(&["live", "--interface", "nosuchif0", "--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(3));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("interface 'nosuchif0' does not exist") && e.lines().count() == 1, "{e}");

    // A filter that does not compile is a configuration error: 2, which the unit does not restart.
    let o = run(&["live", "--interface", "lo", "--listen", "127.0.0.1:0", "--bpf", "tcp port nosuchport"]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("bad BPF expression 'tcp port nosuchport'"), "{e}");

    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let o = run(&["live", "--interface", "lo", "--listen", &addr]);
    assert_eq!(o.status.code(), Some(3));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains(&format!("cannot listen on {addr}")) && e.contains("--listen"), "{e}");

    // No capability: run as nobody.
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            bin(),
            "live",
            "--interface",
            "lo",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("no permission to capture on 'lo'") && e.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{e}"
    );

    let o = run(&["live"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--interface"));
}

/// A capture replayed live raises the same alerts as `replay` on the file, and
/// SIGTERM ends the sensor within a second with every alert written.
#[test]
fn live_matches_replay_and_stops_cleanly() {
    if skip() {
        return;
    }
    let ns = Netns::new("p");
    let dir = tmpdir("parity");
    let s = Sensor::start(&ns, "127.0.0.1:19811", &dir);
    let cap = own_pcap("attack_mixed").join("capture.pcap");
    ns.replay(&cap, "--pps=3000");
    std::thread::sleep(Duration::from_millis(1500));
    let (code, secs, err) = s.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(secs < 1.0, "took {secs:.2} s to stop");
    assert!(err.contains("packets 633"), "every packet processed: {err}");
    assert!(err.contains("dropped 0 kernel"), "{err}");
    let live =
        multiset(&Sensor { child: Command::new("true").spawn().unwrap(), alerts: dir.join("alerts.jsonl") }.rules());
    let replay = multiset(&replay_rules(&cap));
    assert_eq!(live, replay, "live and replay disagree");
}

/// SIGTERM in the middle of a replay: everything raised up to then is written.
#[test]
fn sigterm_during_replay_loses_no_alert() {
    if skip() {
        return;
    }
    let ns = Netns::new("t");
    let dir = tmpdir("term");
    let s = Sensor::start(&ns, "127.0.0.1:19812", &dir);
    let cap = own_pcap("attack_mixed").join("capture.pcap");
    // attack_mixed lasts 30 s; at 3x it lasts 10 s; stop after 5 s.
    let a = ns.a.clone();
    let replayer = std::thread::spawn(move || {
        let _ = sh(&format!("ip netns exec {a} tcpreplay -q -i s7va --multiplier=3 {} >/dev/null 2>&1", cap.display()));
    });
    std::thread::sleep(Duration::from_secs(5));
    let alerts_path = s.alerts.clone();
    let (code, secs, err) = s.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(secs < 1.0, "took {secs:.2} s to stop");
    // The packets processed before the stop...
    let n: u64 = err
        .split("packets ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|x| x.parse().ok())
        .expect("packet count");
    assert!(n > 50 && n < 633, "stopped mid-capture: {n}");
    // ...raise in replay exactly what the sensor wrote (pending operations are reported unconfirmed in both).
    let prefix = dir.join("prefix.pcap");
    must(&format!("editcap -r {} {} 1-{n}", own_pcap("attack_mixed").join("capture.pcap").display(), prefix.display()));
    let written: Vec<String> = std::fs::read_to_string(&alerts_path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(!written.is_empty());
    assert_eq!(multiset(&written), multiset(&replay_rules(&prefix)));
    let _ = replayer.join();
}

fn prom_query(ns: &Netns, prom: &str, q: &str) -> Vec<serde_json::Value> {
    let o = sh(&ns.in_b(&format!("curl -fsG http://{prom}/api/v1/query --data-urlencode 'query={q}'")));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value(r: &[serde_json::Value]) -> f64 {
    r.first().and_then(|x| x["value"][1].as_str()).and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
}

/// The whole path: veth, live sensor, real Prometheus with the shipped rules.
#[test]
fn end_to_end_with_prometheus() {
    if skip() {
        return;
    }
    let ns = Netns::new("e");
    let dir = tmpdir("e2e");
    let listen = "127.0.0.1:19813";
    let prom = "127.0.0.1:19913";
    let s = Sensor::start(&ns, listen, &dir);
    // Prometheus with the shipped rules, `for:` shortened so the test runs in seconds.
    let rules_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/s7sentry.rules.yml");
    let rules = std::fs::read_to_string(&rules_src).expect("deploy/prometheus/s7sentry.rules.yml");
    let rules = rules
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("for:") {
                format!("{}for: 0s", &l[..l.len() - l.trim_start().len()])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [\"{}\"]\nscrape_configs:\n  - job_name: s7sentry\n    static_configs:\n      - targets: [\"{listen}\"]\n        labels: {{sensor: test}}\n",
            dir.join("rules.yml").display()
        ),
    )
    .unwrap();
    must(&format!("promtool check config {} >/dev/null", dir.join("prometheus.yml").display()));
    let mut prometheus = Command::new("ip")
        .args(["netns", "exec", &ns.b, "prometheus"])
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg(format!("--web.listen-address={prom}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus");
    let t0 = Instant::now();
    while value(&prom_query(&ns, prom, "up{job=\"s7sentry\"}")) != 1.0 {
        assert!(t0.elapsed() < Duration::from_secs(30), "prometheus did not scrape the sensor");
        std::thread::sleep(Duration::from_millis(250));
    }
    // Benign and attack traffic at speed; the crash case at 4x real time so the
    // outage (about 50 s in the capture) spans several scrapes.
    ns.replay(&own_pcap("benign_plant").join("capture.pcap"), "--pps=3000");
    ns.replay(&own_pcap("attack_mixed").join("capture.pcap"), "--pps=3000");
    let a = ns.a.clone();
    let crash = own_pcap("attack_plc_crash").join("capture.pcap");
    let replayer = std::thread::spawn(move || {
        let _ =
            sh(&format!("ip netns exec {a} tcpreplay -q -i s7va --multiplier=4 {} >/dev/null 2>&1", crash.display()));
    });
    let checks: &[(&str, &str)] = &[
        ("packets", "sum(s7sentry_packets_processed_total) >= 1375"),
        ("pdus", "sum(s7sentry_pdus_total{proto=\"s7comm\"}) > 500"),
        ("cpu stop alert", "s7sentry_alerts_total{rule=\"control.cpu_stop\"} >= 1"),
        ("syn flood alert", "s7sentry_alerts_total{rule=\"flood.syn\"} >= 1"),
        ("crash pattern alert", "s7sentry_alerts_total{rule=\"crash_pattern.tcp_short_header\"} >= 1"),
        ("loss of communication alert", "s7sentry_alerts_total{rule=\"loss_of_communication.plc_unresponsive\"} >= 1"),
        ("plc_responding dropped to 0", "min_over_time(s7sentry_plc_responding{plc=\"10.10.1.10\"}[10m]) == 0"),
        (
            "rule S7SentryUnauthorizedControl fired",
            "max_over_time(ALERTS{alertname=\"S7SentryUnauthorizedControl\",alertstate=\"firing\"}[10m]) == 1",
        ),
        (
            "rule S7SentryFlood fired",
            "max_over_time(ALERTS{alertname=\"S7SentryFlood\",alertstate=\"firing\"}[10m]) == 1",
        ),
        (
            "rule S7SentryMalformedBurst fired",
            "max_over_time(ALERTS{alertname=\"S7SentryMalformedBurst\",alertstate=\"firing\"}[10m]) == 1",
        ),
        (
            "rule S7SentryPlcNotResponding fired",
            "max_over_time(ALERTS{alertname=\"S7SentryPlcNotResponding\",alertstate=\"firing\"}[10m]) == 1",
        ),
    ];
    let t0 = Instant::now();
    let mut missing: Vec<&str> = checks.iter().map(|c| c.0).collect();
    while !missing.is_empty() && t0.elapsed() < Duration::from_secs(60) {
        missing = checks.iter().filter(|(_, q)| prom_query(&ns, prom, q).is_empty()).map(|c| c.0).collect();
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = replayer.join();
    // The exposition passes promtool.
    must(&ns.in_b(&format!("sh -c 'curl -fs http://{listen}/metrics | promtool check metrics'")));
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    let (code, secs, err) = s.stop();
    assert!(missing.is_empty(), "not seen through Prometheus: {missing:?}\nsensor: {err}");
    assert_eq!(code, Some(0));
    assert!(secs < 1.0);
}

/// Without root: a copy of the binary with only CAP_NET_RAW and CAP_NET_ADMIN,
/// run as `nobody`, captures, and keeps no other capability.
#[test]
fn runs_as_nobody_with_two_capabilities() {
    if skip() {
        return;
    }
    let dir = tmpdir("caps");
    let copy = dir.join("s7sentry");
    std::fs::copy(bin(), &copy).unwrap();
    must(&format!(
        "chmod 755 {} {} && setcap cap_net_raw,cap_net_admin=eip {}",
        dir.display(),
        copy.display(),
        copy.display()
    ));
    let ns = Netns::new("c");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.b, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&copy)
        .args(["live", "--interface", "s7vb", "--listen", "127.0.0.1:19814", "--alerts", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !sh(&ns.in_b("curl -fs http://127.0.0.1:19814/healthz")).status.success() {
        assert!(t0.elapsed() < Duration::from_secs(10), "sensor did not come up as nobody");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let cap = |k: &str| {
        status.lines().find(|l| l.starts_with(k)).map(|l| l.split_whitespace().nth(1).unwrap().to_string()).unwrap()
    };
    assert_eq!(cap("Uid:"), "65534");
    // CAP_NET_ADMIN (12) and CAP_NET_RAW (13) only.
    assert_eq!(cap("CapEff:"), "0000000000003000");
    assert_eq!(cap("CapPrm:"), "0000000000003000");
    ns.replay(&own_pcap("attack_cpu_stop").join("capture.pcap"), "--pps=3000");
    std::thread::sleep(Duration::from_millis(800));
    must(&format!("kill -TERM {}", child.id()));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let alerts = String::from_utf8_lossy(&out.stdout);
    assert!(alerts.contains("\"rule\":\"control.cpu_stop\""), "{alerts}");
}

/// The capture interface goes down while running: reported, /readyz says 503
/// while /healthz (liveness) stays 200, the sensor retries and captures again
/// once the link is back.
#[test]
fn interface_down_is_reported_and_retried() {
    if skip() {
        return;
    }
    let ns = Netns::new("d");
    let dir = tmpdir("down");
    let s = Sensor::start(&ns, "127.0.0.1:19815", &dir);
    must(&format!("ip -n {} link del s7vb", ns.b));
    let t0 = Instant::now();
    loop {
        let o = sh(&ns.in_b("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:19815/readyz"));
        if String::from_utf8_lossy(&o.stdout) == "503" {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "readyz never reported the interface down");
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = sh(&ns.in_b("curl -s -w '%{http_code}' http://127.0.0.1:19815/healthz"));
    let body = String::from_utf8_lossy(&o.stdout);
    assert!(body.ends_with("200") && body.contains("interface down"), "liveness while the NIC is down: {body}");
    // Bring a new veth pair up under the same name: the sensor picks it up again.
    must(&format!(
        "ip link add s7va2 type veth peer name s7vb && ip link set s7va2 netns {} && ip link set s7vb netns {}",
        ns.a, ns.b
    ));
    must(&format!("ip -n {} link set s7va2 up && ip -n {} link set s7vb up", ns.a, ns.b));
    let t0 = Instant::now();
    while !sh(&ns.in_b("curl -fs http://127.0.0.1:19815/readyz")).status.success() {
        assert!(t0.elapsed() < Duration::from_secs(10), "sensor did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
    must(&format!(
        "ip netns exec {} tcpreplay -q -i s7va2 --pps=3000 {} >/dev/null 2>&1",
        ns.a,
        own_pcap("attack_cpu_stop").join("capture.pcap").display()
    ));
    std::thread::sleep(Duration::from_millis(800));
    let alerts = s.alerts.clone();
    let (code, _, err) = s.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("retrying every second") && err.contains("capturing on s7vb again"), "{err}");
    let rules = Sensor { child: Command::new("true").spawn().unwrap(), alerts }.rules();
    assert!(rules.iter().any(|r| r == "control.cpu_stop"), "{rules:?}");
}

/// `--wait-for-interface`: the SPAN NIC is not there at start; the sensor stays
/// up (liveness 200, readiness 503), captures once it appears, and its alerts
/// carry the interface and the sensor name; started as root with `[live] user`
/// it runs as that user with the two capture capabilities; evidence pcaps are
/// written for its alerts.
#[test]
fn waits_for_its_interface_runs_as_the_configured_user_and_names_itself() {
    if skip() {
        return;
    }
    let ns = Netns::new("w");
    let dir = tmpdir("wait");
    must(&format!("chmod 777 {}", dir.display()));
    let cfg = dir.join("s7sentry.toml");
    let golden = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden.toml")).unwrap();
    let (golden, rest) =
        golden.split_once("\n[").map(|(a, b)| (a.to_string(), format!("\n[{b}"))).unwrap_or((golden, String::new()));
    std::fs::write(
        &cfg,
        format!("{golden}\nsensor = \"cell-7\"\n{rest}\n[live]\nuser = \"nobody\"\nwait_for_interface = true\n"),
    )
    .unwrap();
    let alerts = dir.join("alerts.jsonl");
    let ev = dir.join("evidence");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.b, bin(), "live", "--interface", "s7late", "--listen", "127.0.0.1:19816"])
        .arg("--config")
        .arg(&cfg)
        .arg("--alerts")
        .arg(&alerts)
        .arg("--evidence")
        .arg(&ev)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = |path: &str| {
        let o = sh(&ns.in_b(&format!("curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:19816/{path}")));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let t0 = Instant::now();
    while code("healthz") != "200" {
        assert!(t0.elapsed() < Duration::from_secs(10), "sensor did not come up without its interface");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(code("readyz"), "503", "not ready without the interface");
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let field = |k: &str| {
        status.lines().find(|l| l.starts_with(k)).map(|l| l.split_whitespace().nth(1).unwrap().to_string()).unwrap()
    };
    assert_eq!(field("Uid:"), "65534", "[live] user = nobody");
    assert_eq!(field("CapEff:"), "0000000000003000");
    // The interface appears: ready, capturing.
    must(&format!(
        "ip link add s7late type veth peer name s7lateA && ip link set s7late netns {} && ip link set s7lateA netns {}",
        ns.b, ns.a
    ));
    must(&format!("ip -n {} link set s7late up && ip -n {} link set s7lateA up", ns.b, ns.a));
    let t0 = Instant::now();
    while code("readyz") != "200" {
        assert!(t0.elapsed() < Duration::from_secs(10), "not ready after the interface appeared");
        std::thread::sleep(Duration::from_millis(200));
    }
    must(&format!(
        "ip netns exec {} tcpreplay -q -i s7lateA --pps=3000 {} >/dev/null 2>&1",
        ns.a,
        own_pcap("attack_cpu_stop").join("capture.pcap").display()
    ));
    std::thread::sleep(Duration::from_millis(800));
    must(&format!("kill -TERM {}", child.id()));
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("waiting for it") && err.contains("capturing on s7late"), "{err}");
    let text = std::fs::read_to_string(&alerts).unwrap();
    let stop: serde_json::Value =
        serde_json::from_str(text.lines().find(|l| l.contains("\"control.cpu_stop\"")).expect(&text)).unwrap();
    assert_eq!(stop["in_iface"], "s7late");
    assert_eq!(stop["sensor"], "cell-7");
    assert_eq!(stop["pcap"], "s7late");
    let p = stop["evidence"]["evidence_pcap"].as_str().expect("evidence pcap");
    assert!(std::fs::metadata(p).unwrap().len() > 24, "{p}");
}

/// SIGHUP reloads the configuration into every worker (`--threads 2`) without
/// losing state: an invalid file is reported and the running configuration
/// kept; then a valid one with a `[[policy]]` suppress applies to the next
/// alerts, while the aggregation window opened before the reload still closes
/// with its follow-up (which the new policy then suppresses and counts).
#[test]
fn sighup_reloads_the_configuration_and_keeps_state() {
    if skip() {
        return;
    }
    let ns = Netns::new("h");
    let dir = tmpdir("reload");
    let cfg = dir.join("s7sentry.toml");
    std::fs::write(
        &cfg,
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden.toml")).unwrap(),
    )
    .unwrap();
    let alerts = dir.join("alerts.jsonl");
    let listen = "127.0.0.1:19817";
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.b, bin(), "live", "--interface", "s7vb", "--listen", listen, "--threads", "2"])
        .arg("--config")
        .arg(&cfg)
        .arg("--alerts")
        .arg(&alerts)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sensor");
    let t0 = Instant::now();
    while !sh(&ns.in_b(&format!("curl -fs http://{listen}/healthz"))).status.success() {
        assert!(t0.elapsed() < Duration::from_secs(10), "sensor did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let cap = own_pcap("detector_policy_quirk").join("capture.pcap");
    ns.replay(&cap, "--pps=3000");
    std::thread::sleep(Duration::from_millis(1200));
    let hmi_dr = |text: &str| {
        text.lines().filter(|l| l.contains("\"crash_pattern.cotp_dr\"") && l.contains("\"src\":\"10.10.2.20\"")).count()
    };
    assert_eq!(hmi_dr(&std::fs::read_to_string(&alerts).unwrap()), 1, "before the reload the HMI's DR alerts");

    std::fs::write(&cfg, "[[policy]]\nrule = \"control.*\"\nsrc = \"10.10.0.0/16\"\naction = \"suppress\"\n").unwrap();
    must(&format!("kill -HUP {}", child.id()));
    std::thread::sleep(Duration::from_millis(1500));
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden_policy.toml");
    std::fs::write(&cfg, std::fs::read_to_string(policy).unwrap()).unwrap();
    must(&format!("kill -HUP {}", child.id()));
    std::thread::sleep(Duration::from_millis(1500));
    ns.replay(&cap, "--pps=3000");
    std::thread::sleep(Duration::from_millis(1200));
    must(&format!("kill -TERM {}", child.id()));
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("config reload failed, keeping the running configuration") && err.contains("policy[1]"),
        "{err}"
    );
    assert!(err.contains("configuration reloaded"), "{err}");
    let text = std::fs::read_to_string(&alerts).unwrap();
    // The second DR of the HMI fell into the window its first alert opened
    // before the reload; the window survived and its follow-up was suppressed.
    assert_eq!(hmi_dr(&text), 1, "{text}");
    assert!(err.contains("suppressed by policy"), "{err}");
    let line = err.lines().skip_while(|l| !l.contains("suppressed by policy")).nth(1).unwrap_or("");
    assert!(line.contains("crash_pattern.cotp_dr"), "{err}");
    // The STOP of the second replay still alerts (a broad policy never hides it),
    // and the third HMI's DR still opens/follows its window.
    assert_eq!(text.lines().filter(|l| l.contains("\"control.cpu_stop\"")).count(), 2, "{text}");
    assert!(
        text.lines().any(|l| l.contains("\"crash_pattern.cotp_dr\"")
            && l.contains("\"aggregated\":true")
            && l.contains("10.10.2.22")),
        "{text}"
    );
}
