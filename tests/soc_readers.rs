//! SOC fields and capture readers together with the engine:
//! * `community_id` equals Corelight's reference implementation (`communityid`
//!   from PyPI) for every TCP connection of every bundled capture;
//! * `flow_id` is the same whether one engine or several sharded engines
//!   (`replay --threads N`) raise the alerts;
//! * a rotated set read as one stream keeps the connection state across the
//!   file boundary: the S7 PLC Stop cut by the rotation is detected and named
//!   by its file and record, which reading the second file alone misses.

mod common;

use s7sentry_capture::open::CaptureFile;
use s7sentry_capture::set::CaptureSet;
use s7sentry_capture::PacketSource;
use s7sentry_engine::link::{parse_tcp, slice, Sliced};
use s7sentry_engine::rules::{Alert, DetectConfig, Detector};
use s7sentry_engine::shard::Sharder;
use s7sentry_engine::{Engine, EngineConfig, Frame, Ts};
use s7sentry_export::soc::{alert_community_id, alert_flow_id, community_id};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config() -> DetectConfig {
    DetectConfig::from_toml(&std::fs::read_to_string(root().join("tests/golden.toml")).unwrap()).unwrap()
}

fn bundled() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(root().join("pcaps")).unwrap().flatten() {
        for n in ["capture.pcap", "capture.pcapng"] {
            if e.path().join(n).exists() {
                v.push(e.path().join(n));
            }
        }
    }
    v.sort();
    v
}

/// A Python that can import `communityid` (installed into the target directory if needed).
fn python_with_communityid() -> Option<(String, Option<PathBuf>)> {
    let ok = |pp: Option<&Path>| {
        let mut c = Command::new("python3");
        c.args(["-c", "import communityid"]);
        if let Some(p) = pp {
            c.env("PYTHONPATH", p);
        }
        c.output().map(|o| o.status.success()).unwrap_or(false)
    };
    if ok(None) {
        return Some(("python3".into(), None));
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pydeps");
    if !ok(Some(&dir)) {
        // Debian's own python3 refuses pip installs without --break-system-packages
        // (PEP 668), even into a --target folder; older pips do not know the flag.
        let install = |extra: &[&str]| {
            Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
                .args(extra)
                .arg("--target")
                .arg(&dir)
                .arg("communityid==1.5.0")
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if !install(&[]) && !install(&["--break-system-packages"]) {
            return None;
        }
    }
    ok(Some(&dir)).then_some(("python3".into(), Some(dir)))
}

#[test]
fn community_id_matches_the_reference_implementation_on_every_bundled_capture() {
    let Some((py, path)) = python_with_communityid() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs python3 with pip (scripts/deps test) to install communityid"
        );
        println!("SKIPPED: python3 cannot import or install communityid");
        return;
    };
    let mut tuples: BTreeSet<(IpAddr, u16, IpAddr, u16)> = BTreeSet::new();
    let files = bundled();
    assert!(files.len() >= 60);
    for f in &files {
        let Ok(mut src) = CaptureFile::open(f) else { continue }; // decode_notpcap
        while let Ok(Some(p)) = src.next_packet() {
            if let Sliced::Ip(ip) = slice(p.linktype.0, p.data) {
                if ip.proto == 6 && ip.fragment.is_none_or(|(off, _)| off == 0) {
                    if let Ok(t) = parse_tcp(ip.payload) {
                        tuples.insert((ip.src, t.sport, ip.dst, t.dport));
                    }
                }
            }
        }
    }
    assert!(tuples.len() > 1000, "tuples: {}", tuples.len());
    let input: String = tuples.iter().map(|(a, p, b, q)| format!("{a}\t{p}\t{b}\t{q}\n")).collect();
    let script = "import sys, communityid\n\
                  c = communityid.CommunityID(0)\n\
                  for l in sys.stdin:\n\
                  \x20   a, p, b, q = l.split()\n\
                  \x20   print(c.calc(communityid.FlowTuple.make_tcp(a, b, int(p), int(q))))\n";
    let mut cmd = Command::new(py);
    cmd.args(["-c", script]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    if let Some(p) = path {
        cmd.env("PYTHONPATH", p);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    let theirs: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    assert_eq!(theirs.len(), tuples.len());
    for ((a, p, b, q), want) in tuples.iter().zip(&theirs) {
        assert_eq!(community_id(*a, *p, *b, *q, 6, 0).as_deref(), Some(want.as_str()), "{a}:{p} -> {b}:{q}");
    }
}

/// Alerts of one capture with `workers` sharded engines (1: a single engine).
fn alerts(cap: &Path, workers: usize) -> Vec<Alert> {
    let mut src = CaptureFile::open(cap).unwrap();
    let mut sharder = Sharder::new(&[102], workers);
    let mut w: Vec<(Engine, Detector)> =
        (0..workers).map(|_| (Engine::new(EngineConfig::default()), Detector::new(config()))).collect();
    let mut out = Vec::new();
    while let Some(p) = src.next_packet().unwrap() {
        let fr = Frame { frame: p.frame, ts: Ts::new(p.ts.secs, p.ts.nanos), linktype: p.linktype.0, data: p.data };
        let k = if workers == 1 { 0 } else { sharder.worker(fr.linktype, fr.data) };
        for (i, (e, d)) in w.iter_mut().enumerate() {
            if i == k {
                e.process(&fr, d);
            } else {
                e.advance(&fr, d);
            }
            out.extend(d.drain());
        }
    }
    for (e, d) in &mut w {
        e.finish(d);
        d.finish();
        out.extend(d.drain());
    }
    out
}

#[test]
fn flow_ids_are_the_same_with_sharded_engines() {
    let mut tied = 0;
    for case in
        ["attack_mixed", "attack_block_download", "attack_conn_exhaustion", "attack_plc_crash", "attack_syn_flood"]
    {
        let cap = root().join("pcaps").join(case).join("capture.pcap");
        let key = |a: &Alert| (a.frame, a.rule, a.src, a.sport, alert_flow_id(a), alert_community_id(a));
        let one: BTreeSet<_> = alerts(&cap, 1).iter().map(key).collect();
        let three: BTreeSet<_> = alerts(&cap, 3).iter().map(key).collect();
        assert!(!one.is_empty(), "{case}");
        assert_eq!(one, three, "{case}");
        tied += one.iter().filter(|k| k.4.is_some()).count();
        // Alerts of one connection share one id; different connections differ.
        let mut by_conn = std::collections::HashMap::new();
        for k in one.iter().filter(|k| k.4.is_some()) {
            by_conn.entry(k.4).or_insert_with(BTreeSet::new).insert(k.5.clone());
        }
        assert!(by_conn.values().all(|c| c.len() == 1), "{case}: one flow id, one connection");
    }
    assert!(tied > 10, "alerts tied to a connection: {tied}");
}

#[test]
fn rotated_set_keeps_state_across_files() {
    let dir = root().join("pcaps/read_rotated");
    let mut set = CaptureSet::open(&[dir]).unwrap();
    let mut engine = Engine::new(EngineConfig::default());
    let mut det = Detector::new(config());
    let mut found = Vec::new();
    let mut seq = 0;
    while let Some(p) = set.next_packet().unwrap() {
        // The engine numbers packets over the whole set; alerts are mapped back to (file, record).
        seq += 1;
        let fr = Frame { frame: seq, ts: Ts::new(p.ts.secs, p.ts.nanos), linktype: p.linktype.0, data: p.data };
        engine.process(&fr, &mut det);
        for a in det.drain() {
            let (file, rec) = set.locate(a.frame).unwrap();
            found.push((a.rule, set.members()[file].name.clone(), rec));
        }
    }
    engine.finish(&mut det);
    let second = set.members()[1].name.clone();
    assert!(
        found.contains(&("control.cpu_stop", second.clone(), 1)),
        "the stop completes in record 1 of {second}: {found:?}"
    );
    // The second file alone starts inside the cut TPKT: no stop.
    let mut alone = CaptureFile::open(Path::new(&second)).unwrap();
    let mut engine = Engine::new(EngineConfig::default());
    let mut det = Detector::new(config());
    let mut rules = Vec::new();
    while let Some(p) = alone.next_packet().unwrap() {
        let fr = Frame { frame: p.frame, ts: Ts::new(p.ts.secs, p.ts.nanos), linktype: p.linktype.0, data: p.data };
        engine.process(&fr, &mut det);
        rules.extend(det.drain().map(|a| a.rule));
    }
    assert!(!rules.contains(&"control.cpu_stop"), "file by file the stop is lost: {rules:?}");
}
