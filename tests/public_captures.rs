//! Zero false positives on real plant traffic, and every engineering action
//! caught: `../shared/pcaps/public/SOURCES.md` classes each real capture.
//!
//! * benign: no alert above `info`, with no configuration at all;
//! * engineering: with no engineering hosts configured, at least one
//!   `unauthorized_control` alert; with the capture's engineering station(s)
//!   configured (the clients those alerts name), only `control_operation`
//!   records (info) remain — nothing else above info.
//!
//! The emulator captures in `../shared/pcaps/generated/` must exercise
//! `malformed` and the write flood.

mod common;

use common::shared_dir;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const BENIGN: &[&str] = &[
    "agentcarter1__1",
    "agentcarter1__2",
    "agentcarter1__barkink1",
    "agentcarter1__fst",
    "agentcarter1__stabil_haberlesme",
    "ctsamples__Plant1_S7comm",
    "emreekin__CotpAnalog",
    "emreekin__cotp",
    "gar7ic__cooler",
    "gymgit__snap7_s300_readVar",
    "gymgit__snap7_s300_setupCommunication",
    "gymgit__step7_s300_readDiagData",
    "gymgit__step7_s300_readVarTab",
    "gymgit__step7_s300_rwVarTab",
    "gymgit__wincc_s300_setup-alarm-read-write",
    "gymgit__wincc_s300_setup-alarm-read",
    "gymgit__wincc_s400_production",
    "icsnpp__s7ident",
    "iti__modbusBig",
    "iti__s7comm_clean",
    "s7commwireshark__S7-1511_db2_var1_HMI",
    "s7commwireshark__S7-1511_db3_var1_HMI",
    "s7commwireshark__S7-1511_db6w0_HMI",
    "s7commwireshark__V13_1200_TP1200sim_MW100_Int_SPS_5s_MW102_Int_SPS_10s_MW102_ab_1000_Timer_sync",
    "s7commwireshark__s7-1200-hmi",
    "s7wiki-extra__1-S7comm-VarService-Read-DB1DBD0",
    "wireshark-wiki__s7comm_program_blocklist_onlineview",
    "wireshark-wiki__s7comm_reading_plc_status",
    "wireshark-wiki__s7comm_varservice_libnodavedemo",
    "wireshark-wiki__s7comm_varservice_libnodavedemo_bench",
];

const ENGINEERING: &[&str] = &[
    "agentcarter1__S71200_StartupGoOnline",
    "agentcarter1__paket_start",
    "agentcarter1__s71200_GoOfline_HWCompileDownload",
    "agentcarter1__s71200_Ofline_SWCompileDownload",
    "agentcarter1__s71200_OnlineStopStart",
    "agentcarter1__yeni_offline_alma_yeni",
    "agentcarter1__yeni_offline_start_yenimisss",
    "agentcarter1__yeni_offline_stop_yeni_yeni",
    "agentcarter1__yeni_online_alma_yeni",
    "agentcarter1__yeni_yeni_onlineyapilmis_upload",
    "gymgit__snap7_s300_everything",
    "gymgit__snap7_s300_stop",
    "gymgit__step7_s300_copyRamToRom",
    "gymgit__step7_s300_download",
    "gymgit__tia_s300_downloadOb1",
    "gymgit__tia_s300_goOnline",
    "icsnpp__s7comm_plus",
    "ndpi__s7comm",
    "s7commwireshark__S7-1200-Uploading-OB1-TIAV12",
    "wireshark-wiki__s7comm_downloading_block_db1",
    "wireshark-wiki__s7comm_reading_setting_plc_time",
];

/// Engineering-class captures that carry no control operation on the wire.
///
/// icsnpp__s7comm_plus: S7comm Setup/Read/Write Var plus S7comm-plus V3 traffic
/// whose only writes are SetVariable on attribute 1053 of a 0x7000xxxx object
/// (26 times, decreasing small values) and SetMultiVariables — the same
/// subscription-credit writes the simulated TP1200 HMI makes in the *benign*
/// s7commwireshark V13 capture (SetVariable attribute 1053 on 0x1000006a). No
/// operating-state write, no transfer objects, no engineering TSAP, no
/// program transaction: flagging it would flag every HMI of that kind.
const NO_CONTROL_ON_WIRE: &[&str] = &["icsnpp__s7comm_plus"];

fn file_for(stem: &str) -> std::path::PathBuf {
    let d = shared_dir().join("pcaps/public");
    for ext in ["pcap", "pcapng"] {
        let p = d.join(format!("{stem}.{ext}"));
        if p.exists() {
            return p;
        }
    }
    panic!("{stem}: not found in {}", d.display());
}

fn alerts(file: &Path, eng: Option<&str>) -> Vec<serde_json::Value> {
    let mut c = Command::new(env!("CARGO_BIN_EXE_s7sentry"));
    c.args(["replay", "-q"]);
    if let Some(e) = eng {
        c.args(["--engineering-hosts", e]);
    }
    let out = c.arg(file).output().expect("run s7sentry");
    assert_eq!(out.status.code(), Some(0), "{}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("alert JSON")).collect()
}

fn loud(a: &[serde_json::Value]) -> Vec<String> {
    a.iter()
        .filter(|x| x["severity"] != "info")
        .map(|x| format!("frame {} {} {}", x["frame"], x["rule"], x["message"]))
        .collect()
}

#[test]
fn benign_captures_raise_nothing_above_info() {
    let mut bad = Vec::new();
    for stem in BENIGN {
        let l = loud(&alerts(&file_for(stem), None));
        if !l.is_empty() {
            bad.push(format!("{stem}: {l:?}"));
        }
    }
    assert!(bad.is_empty(), "false positives:\n{}", bad.join("\n"));
}

#[test]
fn engineering_captures_are_unauthorized_unless_from_the_engineering_station() {
    let mut bad = Vec::new();
    for stem in ENGINEERING {
        let f = file_for(stem);
        let a = alerts(&f, None);
        let unauth: Vec<_> = a.iter().filter(|x| x["category"] == "unauthorized_control").collect();
        if NO_CONTROL_ON_WIRE.contains(stem) {
            if !loud(&a).is_empty() {
                bad.push(format!("{stem}: expected no alert, got {:?}", loud(&a)));
            }
            continue;
        }
        if unauth.is_empty() {
            bad.push(format!("{stem}: no unauthorized_control alert without engineering hosts"));
            continue;
        }
        // The engineering station(s): the clients performing the operations.
        let es: BTreeSet<String> = unauth.iter().map(|x| x["src"].as_str().unwrap().to_string()).collect();
        let list = es.into_iter().collect::<Vec<_>>().join(",");
        let a2 = alerts(&f, Some(&list));
        let wrong: Vec<_> = a2
            .iter()
            .filter(|x| x["category"] == "unauthorized_control" || x["severity"] != "info")
            .map(|x| format!("{} {} {}", x["frame"], x["rule"], x["category"]))
            .collect();
        if !wrong.is_empty() {
            bad.push(format!("{stem} with engineering hosts {list}: {wrong:?}"));
        }
        if !a2.iter().any(|x| x["category"] == "control_operation") {
            bad.push(format!("{stem} with engineering hosts {list}: no control_operation record"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn emulator_captures_exercise_malformed_and_write_flood() {
    let d = shared_dir().join("pcaps/generated");
    let rules = |f: &str| -> BTreeSet<String> {
        alerts(&d.join(f), None).iter().map(|x| x["rule"].as_str().unwrap().to_string()).collect()
    };
    // python-snap7's CPU-state probe: Read Var with parameter length 1 and no item count.
    assert!(rules("gen_snap7_stop_start.pcap").contains("malformed.s7comm"));
    assert!(rules("gen_snap7_engineering.pcap").contains("malformed.s7comm"));
    // The emulator's SZL 0x0011 answer declares 26-byte records (real ones are 28).
    assert!(rules("gen_nmap_s7info.pcap").contains("malformed.s7comm"));
    // A second client writing DB1.DBW4 400 times in about a second.
    assert!(rules("gen_snap7_write_burst.pcap").contains("flood.requests"));
    // TLS after InitSSL: reported once as uninspectable, never malformed.
    let tls = alerts(&d.join("gen_s7commplus_v2_tls.pcap"), None);
    assert_eq!(tls.iter().filter(|x| x["rule"] == "uninspectable.tls").count(), 1);
    assert!(!tls.iter().any(|x| x["category"] == "malformed"));
}
