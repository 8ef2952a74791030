//! The SOC and forensics wiring of the command line: alert lines with the SOC
//! fields, EVE and text formats, every capture format read with the results of
//! the same packets as one plain pcap, rotated sets with alerts naming their
//! file and record, evidence pcaps, the timeline, syslog over TCP, the
//! multi-sensor inventory, read-only state commands and plain logs.

mod common;

use common::{own_pcap, tmpdir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_s7sentry")
}

fn cfg() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden.toml")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("run s7sentry")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `replay -q --config tests/golden.toml ARGS...` as JSON values (stdout).
fn replay_json(args: &[&str]) -> Vec<Value> {
    let c = s(&cfg());
    let mut all = vec!["replay", "-q", "--config", &c];
    all.extend_from_slice(args);
    let o = run(&all);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).expect(l)).collect()
}

/// An alert without the fields that name where it was read.
fn without_place(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("pcap");
    o.remove("frame");
    v
}

#[test]
fn json_alerts_carry_the_soc_fields_after_todays_keys() {
    let cap = own_pcap("attack_cpu_stop").join("capture.pcap");
    let v = replay_json(&["--sensor", "hall-3", &s(&cap)]);
    let a = v.iter().find(|a| a["rule"] == "control.cpu_stop").expect("stop");
    // Key order on the line itself: today's keys first, then the SOC fields (no in_iface in replays).
    let c = s(&cfg());
    let raw = String::from_utf8(run(&["replay", "-q", "--config", &c, "--sensor", "hall-3", &s(&cap)]).stdout).unwrap();
    let line = raw.lines().find(|l| l.contains("control.cpu_stop")).unwrap();
    let order = [
        "ts",
        "frame",
        "pcap",
        "rule",
        "category",
        "severity",
        "src",
        "sport",
        "dst",
        "dport",
        "message",
        "cve",
        "evidence",
        "event_type",
        "flow_id",
        "community_id",
        "sensor",
    ];
    let at: Vec<usize> = order.iter().map(|k| line.find(&format!("\"{k}\":")).expect(k)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
    assert_eq!(a.as_object().unwrap().len(), order.len(), "{line}");
    assert_eq!(a["event_type"], "alert");
    assert_eq!(a["sensor"], "hall-3");
    assert!(a["flow_id"].as_u64().unwrap() > 0);
    assert!(a["community_id"].as_str().unwrap().starts_with("1:"));
    // Default sensor: the host name.
    let v = replay_json(&[&s(&cap)]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(v[0]["sensor"], host.trim());
}

#[test]
fn eve_lines_are_suricata_alert_records() {
    let cap = own_pcap("attack_mixed").join("capture.pcap");
    let json = replay_json(&[&s(&cap)]);
    let eve = replay_json(&["--alert-format", "eve", "--sensor", "s1", &s(&cap)]);
    assert_eq!(json.len(), eve.len());
    for (j, e) in json.iter().zip(&eve) {
        assert_eq!(e["event_type"], "alert");
        assert_eq!(e["src_ip"], j["src"]);
        assert_eq!(e["dest_port"], j["dport"]);
        assert_eq!(e["proto"], "TCP");
        assert_eq!(e["pcap_filename"], j["pcap"]);
        assert_eq!(e["pcap_cnt"], j["frame"]);
        assert_eq!(e["flow_id"], j["flow_id"]);
        assert_eq!(e["community_id"], j["community_id"]);
        assert_eq!(e["host"], "s1");
        assert!(e["alert"]["signature_id"].as_u64().unwrap() >= 7_102_001);
        assert!((1..=4).contains(&e["alert"]["severity"].as_u64().unwrap()));
        assert_eq!(e["s7sentry"]["rule"], j["rule"]);
        assert!(e["timestamp"].as_str().unwrap().ends_with("+0000"));
    }
}

#[test]
fn text_view_is_one_plain_line_per_alert_in_time_order() {
    let cap = own_pcap("attack_plc_crash").join("capture.pcap");
    let json = replay_json(&[&s(&cap)]);
    let c = s(&cfg());
    let o = run(&["replay", "-q", "--config", &c, "--format", "text", &s(&cap)]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), json.len());
    assert!(!text.contains('\x1b'), "no colour when stdout is not a terminal");
    let ts: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "time order: {ts:?}");
    for l in &lines {
        let rule = l.split_whitespace().nth(2).unwrap();
        let a = json.iter().find(|a| a["rule"] == rule && l.contains(&format!(" #{}]", a["frame"]))).expect(l);
        assert!(l.contains(&format!("[{} #{}]", a["pcap"].as_str().unwrap(), a["frame"])), "{l}");
    }
    assert!(lines[0].contains(" HIGH "), "{}", lines[0]);
}

#[test]
fn compressed_and_multi_interface_captures_give_the_plain_results() {
    let plain = replay_json(&[&s(&own_pcap("attack_cpu_stop").join("capture.pcap"))]);
    assert!(!plain.is_empty());
    for f in ["attack_cpu_stop.pcap.gz", "attack_cpu_stop.pcap.zst"] {
        let p = own_pcap("read_compressed").join(f);
        let got = replay_json(&[&s(&p)]);
        assert_eq!(
            got.iter().map(|a| without_place(a.clone())).collect::<Vec<_>>(),
            plain.iter().map(|a| without_place(a.clone())).collect::<Vec<_>>(),
            "{f}"
        );
        assert!(got.iter().zip(&plain).all(|(g, p)| g["frame"] == p["frame"] && g["pcap"] == s(&p_of(&got, f))));
    }
    // Two interfaces with different link types (Ethernet + Npcap loopback): the stop
    // on loopback is record 17 (tshark's frame number, see tests/tshark_diff.rs).
    let multi = own_pcap("read_multi_interface").join("multi_interface.pcapng");
    let got = replay_json(&[&s(&multi)]);
    let stop: Vec<&Value> = got.iter().filter(|a| a["rule"] == "control.cpu_stop").collect();
    assert_eq!(stop.len(), 1, "{got:?}");
    assert_eq!((stop[0]["frame"].as_u64(), stop[0]["src"].as_str()), (Some(17), Some("127.0.0.1")));
    let gz = replay_json(&[&s(&own_pcap("read_compressed").join("multi_interface.pcapng.gz"))]);
    assert_eq!(
        gz.iter().map(|a| without_place(a.clone())).collect::<Vec<_>>(),
        got.iter().map(|a| without_place(a.clone())).collect::<Vec<_>>()
    );
}

fn p_of(v: &[Value], f: &str) -> PathBuf {
    let p = v.first().and_then(|a| a["pcap"].as_str()).unwrap_or_default();
    assert!(p.ends_with(f), "{p}");
    PathBuf::from(p)
}

/// Records of a classic little-endian pcap: (header, records).
fn pcap_records(p: &Path) -> (Vec<u8>, Vec<Vec<u8>>) {
    let b = std::fs::read(p).unwrap();
    // Little-endian, micro- or nanosecond.
    assert!(
        [[0xd4, 0xc3, 0xb2, 0xa1], [0x4d, 0x3c, 0xb2, 0xa1]].contains(&[b[0], b[1], b[2], b[3]]),
        "{}",
        p.display()
    );
    let mut v = Vec::new();
    let mut at = 24;
    while at + 16 <= b.len() {
        let n = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        v.push(b[at..at + 16 + n].to_vec());
        at += 16 + n;
    }
    (b[..24].to_vec(), v)
}

#[test]
fn rotated_set_equals_one_plain_pcap_and_names_file_and_record() {
    let dir = own_pcap("read_rotated");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3);
    // The same packets as one plain pcap.
    let tmp = tmpdir("rotated-cli");
    let one = tmp.join("one.pcap");
    let mut bytes = Vec::new();
    let mut offsets = Vec::new();
    for f in &files {
        let (hdr, recs) = pcap_records(f);
        if bytes.is_empty() {
            bytes = hdr;
        }
        offsets.push(recs.len());
        recs.iter().for_each(|r| bytes.extend_from_slice(r));
    }
    std::fs::write(&one, &bytes).unwrap();
    let whole = replay_json(&[&s(&one)]);
    let stop = whole.iter().find(|a| a["rule"] == "control.cpu_stop").expect("stop in the plain pcap");
    // Shuffled on the command line: ordered by first timestamp.
    let fs: Vec<String> = files.iter().rev().map(|p| s(p)).collect();
    let mut args = vec!["--continuous"];
    args.extend(fs.iter().map(String::as_str));
    for set in [replay_json(&args), replay_json(&[&s(&dir)])] {
        assert_eq!(
            set.iter().map(|a| without_place(a.clone())).collect::<Vec<_>>(),
            whole.iter().map(|a| without_place(a.clone())).collect::<Vec<_>>()
        );
        // Each alert names the file and the record the plain pcap's frame falls in.
        for (a, w) in set.iter().zip(&whole) {
            let mut f = w["frame"].as_u64().unwrap() as usize;
            let mut k = 0;
            while f > offsets[k] {
                f -= offsets[k];
                k += 1;
            }
            assert_eq!((a["pcap"].as_str().unwrap(), a["frame"].as_u64().unwrap()), (s(&files[k]).as_str(), f as u64));
        }
        let st = set.iter().find(|a| a["rule"] == "control.cpu_stop").unwrap();
        assert_eq!((st["pcap"].as_str().unwrap(), st["frame"].as_u64()), (s(&files[1]).as_str(), Some(1)));
        assert_eq!(st["flow_id"], stop["flow_id"]);
    }
    // File by file the stop is lost (the reason for --continuous).
    let by_file = replay_json(&fs.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!by_file.iter().any(|a| a["rule"] == "control.cpu_stop"));
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn evidence_pcap_holds_the_alerts_connection_around_it() {
    let tmp = tmpdir("evidence-cli");
    let ev = tmp.join("ev");
    let cap = own_pcap("attack_mixed").join("capture.pcap");
    let v = replay_json(&["--evidence", &s(&ev), &s(&cap)]);
    let (_, recs) = pcap_records(&cap);
    let mut files = 0;
    for a in &v {
        let sev = a["severity"].as_str().unwrap();
        let Some(p) = a["evidence"]["evidence_pcap"].as_str() else {
            assert!(sev == "info" || sev == "low" || a["flow_id"].is_null(), "{a}");
            continue;
        };
        files += 1;
        assert!(!["info", "low"].contains(&sev), "below medium: {a}");
        let name = Path::new(p).file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name.contains(a["rule"].as_str().unwrap()) && name.ends_with(&format!("_frame{}.pcap", a["frame"])),
            "{name}"
        );
        let (_, got) = pcap_records(Path::new(p));
        // The alert's own packet is in it, byte for byte (header: ts, lengths).
        let frame = recs[a["frame"].as_u64().unwrap() as usize - 1].clone();
        let same_ts_len = |r: &Vec<u8>| r[16..] == frame[16..] && r[0..4] == frame[0..4];
        assert!(got.iter().any(same_ts_len), "{name}: the alert's packet");
        assert!(got.len() <= 64 + 64, "{name}: bounded");
    }
    assert!(files >= 5, "{files}");
    // Above the threshold only: high and critical.
    let high = tmp.join("high");
    let v = replay_json(&["--evidence", &s(&high), "--evidence-min-severity", "critical", &s(&cap)]);
    let n = std::fs::read_dir(&high).unwrap().count();
    assert_eq!(n, v.iter().filter(|a| a["evidence"]["evidence_pcap"].is_string()).count());
    assert!(v.iter().all(|a| a["evidence"]["evidence_pcap"].is_null() || a["severity"] == "critical"));
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn timeline(args: &[&str]) -> Vec<Value> {
    let c = s(&cfg());
    let mut all = vec!["timeline", "--json", "--config", &c];
    all.extend_from_slice(args);
    let o = run(&all);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice::<Vec<Value>>(&o.stdout).unwrap()
}

#[test]
fn timeline_per_plc_connections_controls_outcomes_states_outages() {
    let crash = own_pcap("attack_plc_crash").join("capture.pcap");
    let t = timeline(&[&s(&crash)]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["plc"], "10.10.1.10");
    let e = t[0]["entries"].as_array().unwrap();
    let ts: Vec<&str> = e.iter().map(|x| x["ts"].as_str().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "time order");
    let kinds: Vec<&str> = e.iter().map(|x| x["kind"].as_str().unwrap()).collect();
    let pos = |k: &str| kinds.iter().position(|x| *x == k).unwrap_or_else(|| panic!("{k}: {kinds:?}"));
    assert!(pos("connection") < pos("alert") && pos("alert") < pos("outage") && pos("outage") < pos("recovered"));
    let attacker = e.iter().find(|x| x["kind"] == "connection" && x["peer"] == "10.10.9.99:44000").unwrap();
    assert_eq!(attacker["result"], "accepted");
    // Every alert of replay is in the timeline, with its flow id.
    let alerts = replay_json(&[&s(&crash)]);
    for a in &alerts {
        assert!(
            e.iter().any(|x| x["rule"] == a["rule"] && x["frame"] == a["frame"] && x["flow_id"] == a["flow_id"]),
            "{a}"
        );
    }

    // Outcomes: succeeded with the state change, failed.
    let stop = timeline(&[&s(&own_pcap("attack_cpu_stop").join("capture.pcap"))]);
    let e = stop[0]["entries"].as_array().unwrap();
    let c = e.iter().find(|x| x["rule"] == "control.cpu_stop").unwrap();
    assert_eq!(c["result"], "succeeded");
    let st = e.iter().find(|x| x["kind"] == "state").unwrap();
    assert!(st["message"].as_str().unwrap().starts_with("CPU -> STOP"), "{st}");
    // A real TIA Portal session (S7comm-plus): STOP, then START folded into an
    // aggregated follow-up alert; both state changes are in the timeline.
    let real = common::shared_dir().join("pcaps/public/agentcarter1__s71200_OnlineStopStart.pcapng");
    let t = timeline(&[&s(&real)]);
    let states: Vec<String> = t
        .iter()
        .flat_map(|p| p["entries"].as_array().unwrap())
        .filter(|x| x["kind"] == "state")
        .map(|x| x["message"].as_str().unwrap().split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(states, ["CPU -> STOP", "CPU -> START"], "{t:?}");
    let pw = timeline(&[&s(&own_pcap("attack_password").join("capture.pcap"))]);
    let failed = pw
        .iter()
        .flat_map(|p| p["entries"].as_array().unwrap())
        .find(|x| x["rule"] == "control.password")
        .unwrap()
        .clone();
    assert_eq!(failed["result"], "failed");

    // Unanswered: the capture cut right after the stop job (no Ack_Data).
    let tmp = tmpdir("timeline-cut");
    let (hdr, recs) = pcap_records(&own_pcap("attack_cpu_stop").join("capture.pcap"));
    let stop_frame = c["frame"].as_u64().unwrap() as usize;
    let mut cut = hdr;
    recs[..stop_frame].iter().for_each(|r| cut.extend_from_slice(r));
    let p = tmp.join("cut.pcap");
    std::fs::write(&p, &cut).unwrap();
    let t = timeline(&[&s(&p)]);
    let e = t[0]["entries"].as_array().unwrap();
    let c = e.iter().find(|x| x["rule"] == "control.cpu_stop").unwrap();
    assert_eq!(c["result"], "unanswered");
    assert!(!e.iter().any(|x| x["kind"] == "state"), "no state change without the PLC's answer");
    // The text view: one header per PLC, one line per entry.
    let o = run(&["timeline", "--config", &s(&cfg()), &s(&crash)]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("PLC 10.10.1.10 ("), "{text}");
    assert!(text.contains(" outage ") && text.contains(" recovered "), "{text}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// RFC 6587 octet-counted frames: "LEN SP MSG" back to back.
fn octet_counted(data: &[u8]) -> Vec<String> {
    let mut msgs = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let sp = at + data[at..].iter().position(|b| *b == b' ').unwrap();
        let n: usize = std::str::from_utf8(&data[at..sp]).unwrap().parse().unwrap();
        msgs.push(String::from_utf8(data[sp + 1..sp + 1 + n].to_vec()).unwrap());
        at = sp + 1 + n;
    }
    msgs
}

/// Two sensors send their alerts to one central collector over TCP; each line
/// carries its sensor, the facility and the severity in PRI.
#[test]
fn two_sensors_to_one_syslog_collector_over_tcp() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let collector = std::thread::spawn(move || {
        (0..2)
            .map(|_| {
                let (mut c, _) = l.accept().unwrap();
                let mut all = Vec::new();
                std::io::Read::read_to_end(&mut c, &mut all).unwrap();
                octet_counted(&all)
            })
            .collect::<Vec<_>>()
    });
    let url = format!("tcp://127.0.0.1:{port}");
    let a = replay_json(&[
        "--syslog",
        &url,
        "--syslog-facility",
        "local4",
        "--sensor",
        "hall-1",
        &s(&own_pcap("attack_cpu_stop").join("capture.pcap")),
    ]);
    let b =
        replay_json(&["--syslog", &url, "--sensor", "hall-2", &s(&own_pcap("attack_plc_crash").join("capture.pcap"))]);
    let got = collector.join().unwrap();
    assert_eq!((got[0].len(), got[1].len()), (a.len(), b.len()));
    // local4 = 20, critical = 2: PRI 162; local0 (default) = 16, high = 3: PRI 131.
    assert!(got[0][0].starts_with("<162>1 "), "{}", got[0][0]);
    assert!(got[1][0].starts_with("<131>1 "), "{}", got[1][0]);
    for (msgs, alerts, sensor) in [(&got[0], &a, "hall-1"), (&got[1], &b, "hall-2")] {
        for (m, al) in msgs.iter().zip(alerts.iter()) {
            let parts: Vec<&str> = m.splitn(8, ' ').collect();
            assert!(parts[5].len() <= 32, "MSGID {}", parts[5]);
            let json: Value = serde_json::from_str(parts[7]).unwrap();
            assert_eq!(json["sensor"], sensor);
            assert_eq!(json["rule"], al["rule"]);
            assert_eq!(json["flow_id"], al["flow_id"]);
        }
    }
}

#[test]
fn inventory_merges_sensors_and_opens_state_read_only() {
    let tmp = tmpdir("inv-merge");
    let (a, b) = (tmp.join("a.db"), tmp.join("b.db"));
    let c = s(&cfg());
    for (db, name, caps) in [
        (&a, "hall1", vec![own_pcap("inventory_fleet").join("capture.pcap")]),
        (&b, "hall2", vec![own_pcap("attack_cpu_stop").join("capture.pcap")]),
    ] {
        let mut args =
            vec!["replay".to_string(), "-q".into(), "--config".into(), c.clone(), "--sensor".into(), name.into()];
        args.extend(["--state".into(), s(db), "--alerts".into(), s(&tmp.join("x.jsonl"))]);
        args.extend(caps.iter().map(|p| s(p)));
        let o = Command::new(bin()).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let before: Vec<Vec<u8>> = [&a, &b].iter().map(|p| std::fs::read(p).unwrap()).collect();
    let o = run(&["inventory", "--state", &s(&a), "--state", &s(&b), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let addrs: Vec<&str> = rows.iter().map(|r| r["address"].as_str().unwrap()).collect();
    let mut uniq = addrs.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), addrs.len(), "one row per device");
    let plc = rows.iter().find(|r| r["address"] == "10.10.1.10").unwrap();
    assert_eq!(plc["sensors"], serde_json::json!(["hall1", "hall2"]));
    let only_a = rows.iter().find(|r| r["address"] == "10.10.1.11").unwrap();
    assert_eq!(only_a["sensors"], serde_json::json!(["hall1"]));
    let table = String::from_utf8(run(&["inventory", "--state", &s(&a), "--state", &s(&b)]).stdout).unwrap();
    assert!(table.contains("SENSORS") && table.contains("hall1,hall2"), "{table}");
    // A single state: today's output (no sensors key or column).
    let one = String::from_utf8(run(&["inventory", "--state", &s(&a), "--format", "json"]).stdout).unwrap();
    assert!(!one.contains("\"sensors\""));
    let csv = String::from_utf8(run(&["inventory", "--state", &s(&a), "--format", "csv"]).stdout).unwrap();
    assert!(!csv.lines().next().unwrap().contains("sensors"));
    // Read-only: inventory and baseline show never write.
    assert_eq!(run(&["baseline", "show", "--state", &s(&a)]).status.code(), Some(0));
    let after: Vec<Vec<u8>> = [&a, &b].iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(before, after, "state files untouched");
    // A 0-byte file and a text file: clear errors, files untouched.
    let empty = tmp.join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let text = tmp.join("notes.db");
    std::fs::write(&text, b"not a database\n").unwrap();
    for (f, want) in [(&empty, "empty (0 bytes)"), (&text, "not an SQLite database")] {
        for args in [vec!["inventory", "--state"], vec!["baseline", "show", "--state"]] {
            let mut args = args.clone();
            let fs = s(f);
            args.push(&fs);
            let o = run(&args);
            assert_eq!(o.status.code(), Some(2));
            let e = String::from_utf8_lossy(&o.stderr);
            assert!(e.contains(want) && e.lines().count() == 1, "{e}");
        }
        assert!(!tmp.join(format!("{}-wal", f.file_name().unwrap().to_string_lossy())).exists());
    }
    assert_eq!(std::fs::read(&empty).unwrap(), b"");
    assert_eq!(std::fs::read(&text).unwrap(), b"not a database\n");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn decode_stats_are_json_and_logs_are_plain_off_a_terminal() {
    let cap = own_pcap("decode_basic").join("capture.pcap");
    let o = Command::new(bin()).args(["decode", "--stats", &s(&cap)]).env("S7SENTRY_LOG", "debug").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(!err.contains('\x1b'), "no ANSI escapes when stderr is not a terminal: {err:?}");
    let line = err.lines().find(|l| l.starts_with('{')).expect("a JSON line");
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["file"], s(&cap));
    assert!(v["packets"].as_u64().unwrap() > 0);
    assert!(v["s7comm_pdus"].as_u64().unwrap() > 0);
    // S7SENTRY_LOG is documented where operators look.
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    assert!(help.contains("S7SENTRY_LOG"), "{help}");
    let o = Command::new(bin()).args(["replay", "-q", &s(&cap)]).env("S7SENTRY_LOG", "info").output().unwrap();
    assert!(!o.stderr.contains(&0x1b));
}
