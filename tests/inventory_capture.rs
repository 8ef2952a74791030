//! Passive inventory (issue 6) on real and generated captures: each capture is
//! replayed through the sensor pipeline (`Engine` + `Detector`) with asset tracking on, and the fleet
//! must hold exactly the devices stated here: address, role, order number,
//! firmware, serial, module type, and each talker with its functions.
//!
//! Real captures with identification data (`../shared/pcaps/public/`, read in
//! place). SZL answers are cross-checked against tshark's own fields
//! (`s7comm.szl.xy11.0001.anz` — the order number of record 0x0001 —,
//! `.ausbg` / `.ausbe` of record 0x0007 — the firmware —,
//! `s7comm.szl.001c.0005.serialn`, `s7comm.szl.001c.0007.cputypname`) when
//! tshark is installed. tshark 4.0 has no S7comm-plus dissector: the S7comm-plus
//! identities below were read from the CreateObject answers' bytes (attribute
//! 319, `1;<order number> ;V<firmware>`, sent by the PLC; the client's echo in
//! its SetMultiVariables may name the version of the offline project instead,
//! e.g. `;V4.2` in the agentcarter1 captures, and is not used).
//!
//! `INV_DUMP=file[,file...] cargo test --test inventory_capture dump -- --nocapture`
//! prints the fleet of any capture (a bare name is looked up in the public captures).

mod common;

use s7sentry_capture::MemorySource;
use s7sentry_engine::assets::{Baseline, Fleet, Role};
use s7sentry_engine::rules::{Alert, DetectConfig, Detector};
use s7sentry_engine::{EngineConfig, Ts};
use s7sentry_sensor::{run, NoExtra, Pipeline};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Replay `path` through Engine + Detector with asset tracking on, starting from `fleet`.
fn replay_from(path: &Path, cfg: DetectConfig, fleet: Fleet, setup: impl FnOnce(&mut Detector)) -> (Fleet, Vec<Alert>) {
    let mut src = MemorySource::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut det = Detector::new(cfg);
    det.enable_assets(fleet);
    setup(&mut det);
    let mut pipe = Pipeline::new(EngineConfig::default(), Some(det), NoExtra);
    let mut alerts = Vec::new();
    assert!(run(&mut src, &mut pipe, &mut alerts).is_ok());
    pipe.finish(&mut alerts).expect("alerts into memory");
    let fleet = pipe.detector_mut().and_then(Detector::take_fleet).expect("tracking on");
    (fleet, alerts)
}

fn replay(path: &Path, cfg: DetectConfig, setup: impl FnOnce(&mut Detector)) -> (Fleet, Vec<Alert>) {
    replay_from(path, cfg, Fleet::default(), setup)
}

fn public(name: &str) -> PathBuf {
    common::shared_dir().join("pcaps/public").join(name)
}

fn own(case: &str) -> PathBuf {
    common::own_pcap(&format!("{case}/capture.pcap"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// What one device must look like.
struct Want {
    addr: &'static str,
    role: Role,
    order: Option<&'static str>,
    firmware: Option<&'static str>,
    serial: Option<&'static str>,
    module_type: Option<&'static str>,
    /// Talkers (clients of this PLC) and the functions each used, sorted by name.
    talkers: &'static [(&'static str, &'static [&'static str])],
}

const fn client(addr: &'static str, role: Role) -> Want {
    Want { addr, role, order: None, firmware: None, serial: None, module_type: None, talkers: &[] }
}

const fn plc(addr: &'static str, talkers: &'static [(&'static str, &'static [&'static str])]) -> Want {
    Want { addr, role: Role::Plc, order: None, firmware: None, serial: None, module_type: None, talkers }
}

impl Want {
    const fn ident(mut self, order: &'static str, firmware: &'static str) -> Want {
        self.order = Some(order);
        self.firmware = Some(firmware);
        self
    }
    const fn szl(mut self, serial: &'static str, module_type: &'static str) -> Want {
        self.serial = Some(serial);
        self.module_type = Some(module_type);
        self
    }
}

/// The fleet holds exactly `want` (devices, roles, identities, talkers and their functions).
fn check(name: &str, fleet: &Fleet, want: &[Want]) {
    let got: Vec<String> = fleet.devices.keys().map(|a| a.to_string()).collect();
    let mut exp: Vec<IpAddr> = want.iter().map(|w| ip(w.addr)).collect();
    exp.sort();
    let exp: Vec<String> = exp.iter().map(|a| a.to_string()).collect();
    assert_eq!(got, exp, "{name}: devices");
    for w in want {
        let d = fleet.device(ip(w.addr)).unwrap();
        let i = &d.identity;
        assert_eq!(d.role, w.role, "{name} {}: role", w.addr);
        assert_eq!(i.order_number.as_deref(), w.order, "{name} {}: order number", w.addr);
        assert_eq!(i.firmware.as_deref(), w.firmware, "{name} {}: firmware", w.addr);
        assert_eq!(i.serial.as_deref(), w.serial, "{name} {}: serial", w.addr);
        assert_eq!(i.module_type.as_deref(), w.module_type, "{name} {}: module type", w.addr);
        let talkers: Vec<(String, Vec<String>)> =
            d.talkers.iter().map(|(a, t)| (a.to_string(), t.functions.keys().cloned().collect())).collect();
        let mut exp: Vec<(IpAddr, Vec<String>)> =
            w.talkers.iter().map(|(a, f)| (ip(a), f.iter().map(|s| s.to_string()).collect())).collect();
        exp.sort();
        let exp: Vec<(String, Vec<String>)> = exp.into_iter().map(|(a, f)| (a.to_string(), f)).collect();
        assert_eq!(talkers, exp, "{name} {}: talkers and functions", w.addr);
        assert!(d.first_seen <= d.last_seen, "{name} {}: first/last seen", w.addr);
        for t in d.talkers.values() {
            assert!(t.first_seen <= t.last_seen && t.functions.values().all(|f| f.count >= 1));
        }
    }
    assert_eq!(fleet.evicted, 0, "{name}: nothing evicted");
}

/// Identity fields tshark shows for the SZL answers of `path`: (order number of
/// record 1, firmware from record 7, serial number, module type name).
fn tshark_identity(path: &Path) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-Y", "s7comm.szl.xy11.0001.index || s7comm.szl.001c.000x.index", "-T", "fields", "-E", "occurrence=a"])
        .args(["-e", "s7comm.szl.xy11.0001.index", "-e", "s7comm.szl.xy11.0001.anz"])
        .args(["-e", "s7comm.szl.xy11.0001.ausbg", "-e", "s7comm.szl.xy11.0001.ausbe"])
        .args(["-e", "s7comm.szl.001c.0005.serialn", "-e", "s7comm.szl.001c.0007.cputypname"])
        .output()
        .expect("tshark");
    let (mut order, mut fw, mut serial, mut typ) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let push = |v: &mut Vec<String>, s: &str| {
        let s = s.trim().to_string();
        if !s.is_empty() && !v.contains(&s) {
            v.push(s);
        }
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let col = |i: usize| f.get(i).copied().unwrap_or("").split(',').collect::<Vec<_>>();
        let (idx, anz, g, e) = (col(0), col(1), col(2), col(3));
        for (k, x) in idx.iter().enumerate() {
            let num = |v: &Vec<&str>| v.get(k).and_then(|s| s.trim().parse::<u16>().ok());
            match *x {
                "0x0001" => push(&mut order, anz.get(k).copied().unwrap_or("")),
                "0x0007" => {
                    if let (Some(g), Some(e)) = (num(&g), num(&e)) {
                        push(&mut fw, &format!("{}{}.{}.{}", (g >> 8) as u8 as char, g & 0xFF, e >> 8, e & 0xFF));
                    }
                }
                _ => {}
            }
        }
        push(&mut serial, f.get(4).copied().unwrap_or(""));
        push(&mut typ, f.get(5).copied().unwrap_or(""));
    }
    (order, fw, serial, typ)
}

/// The PLC's SZL identity equals what tshark decodes from the same capture.
fn agrees_with_tshark(name: &str, path: &Path, fleet: &Fleet, plc_addr: &str) {
    if !common::tshark_available() {
        eprintln!("{name}: tshark not installed, cross-check skipped");
        return;
    }
    let (order, fw, serial, typ) = tshark_identity(path);
    let i = &fleet.device(ip(plc_addr)).unwrap().identity;
    let one = |v: &[String]| v.first().cloned();
    assert_eq!(order.len(), 1, "{name}: tshark order numbers {order:?}");
    assert_eq!(i.order_number, one(&order), "{name}: order number vs tshark");
    if !fw.is_empty() {
        assert_eq!(i.firmware, one(&fw), "{name}: firmware vs tshark");
    }
    if !serial.is_empty() {
        assert_eq!(i.serial, one(&serial), "{name}: serial vs tshark");
        assert_eq!(i.module_type, one(&typ), "{name}: module type vs tshark");
    }
}

// ---------------------------------------------------------------------------
// Real captures with SZL identification.

const S300_EVERYTHING: &[&str] = &[
    "block_info",
    "block_list",
    "block_upload",
    "clock_read",
    "clock_set",
    "copy_ram_to_rom",
    "cpu_start",
    "cpu_stop",
    "pi_service",
    "read_var",
    "setup_communication",
    "szl_read",
    "write_var",
];

/// snap7 client doing everything against a real CPU 315-2 PN/DP (FW V3.2.7): the
/// SZL 0x001C answer comes in two data units (PDU 240) and is reassembled; the
/// STOP and START it sends are confirmed and recorded as state changes.
#[test]
fn gymgit_snap7_s300_everything() {
    let name = "gymgit__snap7_s300_everything.pcap";
    let (fleet, _) = replay(&public(name), DetectConfig::default(), |_| {});
    check(
        name,
        &fleet,
        &[
            plc("134.217.61.211", &[("134.217.61.131", S300_EVERYTHING)])
                .ident("6ES7 315-2EH14-0AB0", "V3.2.7")
                .szl("S C-B1U393142011", "CPU 315-2 PN/DP"),
            client("134.217.61.131", Role::EngineeringStation),
        ],
    );
    let d = fleet.device(ip("134.217.61.211")).unwrap();
    assert_eq!(d.identity.plc_name.as_deref(), Some("S7300/ET200M station_1"));
    assert_eq!(d.identity.module_name.as_deref(), Some("PLC_1"));
    assert_eq!(d.identity.hardware.as_deref(), Some("3"));
    assert_eq!(d.identity.source.as_deref(), Some("szl"));
    assert_eq!((d.connection.pdu_size, d.connection.amq), (Some(240), Some((1, 1))));
    let states: Vec<(&str, Option<IpAddr>)> = d.state_changes.iter().map(|s| (s.state.as_str(), s.by)).collect();
    assert_eq!(states, [("stop", Some(ip("134.217.61.131"))), ("start", Some(ip("134.217.61.131")))]);
    agrees_with_tshark(name, &public(name), &fleet, "134.217.61.211");
}

/// TIA Portal going online with the same CPU 315-2 PN/DP.
#[test]
fn gymgit_tia_s300_go_online() {
    let name = "gymgit__tia_s300_goOnline.pcap";
    let (fleet, _) = replay(&public(name), DetectConfig::default(), |_| {});
    const FUNCTIONS: &[&str] =
        &["alarm", "block_info", "block_list", "programmer_monitor", "setup_communication", "szl_read"];
    check(
        name,
        &fleet,
        &[
            plc("134.217.61.211", &[("134.217.61.131", FUNCTIONS)])
                .ident("6ES7 315-2EH14-0AB0", "V3.2.7")
                .szl("S C-B1U393142011", "CPU 315-2 PN/DP"),
            client("134.217.61.131", Role::EngineeringStation),
        ],
    );
    agrees_with_tshark(name, &public(name), &fleet, "134.217.61.211");
}

/// s7ident against a snap7 server emulating a CPU 315-2 PN/DP (FW V3.2.6), client
/// and server on the same address: one device, a PLC that is its own talker.
#[test]
fn icsnpp_s7ident() {
    let name = "icsnpp__s7ident.pcap";
    let (fleet, _) = replay(&public(name), DetectConfig::default(), |_| {});
    check(
        name,
        &fleet,
        &[plc("172.17.0.2", &[("172.17.0.2", &["block_upload", "read_var", "setup_communication", "szl_read"])])
            .ident("6ES7 315-2EH14-0AB0", "V3.2.6")
            .szl("S C-C2UR28922012", "CPU 315-2 PN/DP")],
    );
    let d = fleet.device(ip("172.17.0.2")).unwrap();
    assert_eq!(d.identity.plc_name.as_deref(), Some("SNAP7-SERVER"));
    assert_eq!(d.identity.hardware.as_deref(), Some("4"));
    assert_eq!(d.connection.tsaps, ["0101"]);
    agrees_with_tshark(name, &public(name), &fleet, "172.17.0.2");
}

/// STEP 7 reading the module status of an ET 200S IM151-8 PN/DP CPU (FW V3.2.6):
/// SZL 0x0111, 0x0011, 0x001C and diagnostics; the client reads only, so it is an HMI.
#[test]
fn wireshark_wiki_reading_plc_status() {
    let name = "wireshark-wiki__s7comm_reading_plc_status.pcap";
    let (fleet, _) = replay(&public(name), DetectConfig::default(), |_| {});
    check(
        name,
        &fleet,
        &[
            plc("192.168.1.40", &[("192.168.1.10", &["alarm", "clock_read", "setup_communication", "szl_read"])])
                .ident("6ES7 151-8AB01-0AB0", "V3.2.6")
                .szl("S C-C6TW74882012", "IM151-8 PN/DP CPU"),
            client("192.168.1.10", Role::Hmi),
        ],
    );
    let d = fleet.device(ip("192.168.1.40")).unwrap();
    assert_eq!(d.identity.plc_name.as_deref(), Some("IM151-8-CPU"));
    assert_eq!(d.connection.tsaps, ["0102"]);
    agrees_with_tshark(name, &public(name), &fleet, "192.168.1.40");
}

// ---------------------------------------------------------------------------
// Real captures with S7comm-plus identification (CreateObject answers).

const TIA_ONLINE: &[&str] = &[
    "engineering_session",
    "s7plus_create_object",
    "s7plus_delete_object",
    "s7plus_explore",
    "s7plus_get",
    "s7plus_link",
    "s7plus_set",
];

/// TIA Portal going online with an S7-1200 CPU 1215C (answers `;V4.3`; TIA echoes
/// the project's `;V4.2`), while HMIs read two other CPUs that never identify themselves.
#[test]
fn agentcarter1_s71200_startup_go_online() {
    let name = "agentcarter1__S71200_StartupGoOnline.pcapng";
    let (fleet, _) = replay(&public(name), DetectConfig::default(), |_| {});
    check(
        name,
        &fleet,
        &[
            plc("192.168.41.10", &[("192.168.55.5", &["s7plus_get"])]),
            plc("192.168.42.10", &[("192.168.55.5", TIA_ONLINE)]).ident("6ES7 215-1AG40-0XB0", "V4.3"),
            plc("192.168.43.10", &[("192.168.55.5", &["s7plus_get"])]),
            client("192.168.55.5", Role::EngineeringStation),
        ],
    );
    let d = fleet.device(ip("192.168.42.10")).unwrap();
    assert_eq!(d.identity.source.as_deref(), Some("s7comm-plus"));
    assert_eq!(d.connection.tsaps, ["SIMATIC-ROOT-ES"]);
    assert!(d.connection.s7comm_plus && !d.connection.s7comm);
}

/// Two HMIs on an S7-1200 CPU 1214C (FW V4.2).
#[test]
fn emreekin_cotp() {
    let name = "emreekin__cotp.pcap";
    let (fleet, _) = replay(&public(name), DetectConfig::default(), |_| {});
    check(
        name,
        &fleet,
        &[
            plc(
                "192.168.1.3",
                &[
                    ("192.168.1.5", &["s7plus_get", "s7plus_set"]),
                    ("192.168.1.75", &["s7plus_create_object", "s7plus_get", "s7plus_set"]),
                ],
            )
            .ident("6ES7 214-1AG40-0XB0", "V4.2"),
            client("192.168.1.5", Role::Hmi),
            client("192.168.1.75", Role::Hmi),
        ],
    );
}

/// TIA Portal V12 uploading OB1 from an S7-1200 CPU 1214C DC/DC/DC (FW V2.2).
#[test]
fn s7commwireshark_s71200_uploading_ob1() {
    let name = "s7commwireshark__S7-1200-Uploading-OB1-TIAV12.pcap";
    let (fleet, _) = replay(&public(name), DetectConfig::default(), |_| {});
    const FUNCTIONS: &[&str] = &[
        "engineering_session",
        "s7plus_create_object",
        "s7plus_delete_object",
        "s7plus_engineering_operation",
        "s7plus_explore",
        "s7plus_get",
        "s7plus_link",
        "s7plus_set",
    ];
    check(
        name,
        &fleet,
        &[
            plc("192.168.1.191", &[("192.168.1.10", FUNCTIONS)]).ident("6ES7 214-1HE30-0XB0", "V2.2"),
            client("192.168.1.10", Role::EngineeringStation),
        ],
    );
}

/// HMI panels on an S7-1500 CPU 1511-1 PN (FW V1.0) and S7-1200 CPUs.
#[test]
fn s7commwireshark_hmi_captures() {
    let cases: [(&str, Want, Want); 3] = [
        (
            "s7commwireshark__S7-1511_db3_var1_HMI.pcap",
            plc("192.168.25.139", &[("192.168.25.146", &["s7plus_create_object", "s7plus_get", "s7plus_set"])])
                .ident("6ES7 511-1AK00-0AB0", "V1.0"),
            client("192.168.25.146", Role::Hmi),
        ),
        (
            "s7commwireshark__s7-1200-hmi.pcap",
            plc("192.168.25.131", &[("192.168.25.177", &["s7plus_create_object", "s7plus_get", "s7plus_set"])])
                .ident("6ES7 211-1BE31-0XB0", "V3.0"),
            client("192.168.25.177", Role::Hmi),
        ),
        (
            "s7commwireshark__V13_1200_TP1200sim_MW100_Int_SPS_5s_MW102_Int_SPS_10s_MW102_ab_1000_Timer_sync.pcapng",
            plc(
                "192.168.1.191",
                &[("192.168.1.35", &["s7plus_create_object", "s7plus_delete_object", "s7plus_get", "s7plus_set"])],
            )
            .ident("6ES7 214-1HE30-0XB0", "V2.2"),
            client("192.168.1.35", Role::Hmi),
        ),
    ];
    for (name, p, c) in cases {
        let (fleet, _) = replay(&public(name), DetectConfig::default(), |_| {});
        check(name, &fleet, &[p, c]);
    }
}

/// icsnpp__s7comm_plus carries no identification at all (its S7comm-plus frames
/// are V3 GetMulti/SetMulti without a CreateObject answer, the S7comm connection
/// never reads an SZL): the PLC is found, with both talkers, but no identity.
#[test]
fn icsnpp_s7comm_plus_has_no_identity() {
    let name = "icsnpp__s7comm_plus.pcap";
    let (fleet, _) = replay(&public(name), DetectConfig::default(), |_| {});
    check(
        name,
        &fleet,
        &[
            plc(
                "192.168.0.1",
                &[
                    ("192.168.0.3", &["s7plus_get", "s7plus_set"]),
                    ("192.168.0.33", &["read_var", "setup_communication", "write_var"]),
                ],
            ),
            client("192.168.0.3", Role::Hmi),
            client("192.168.0.33", Role::Hmi),
        ],
    );
}

// ---------------------------------------------------------------------------
// Generated cases.

/// The generated fleet: four PLC models, affected and fixed firmware, an HMI and
/// an engineering station.
#[test]
fn generated_inventory_fleet() {
    let name = "inventory_fleet";
    let (fleet, alerts) = replay(&own(name), DetectConfig::default(), |_| {});
    const HMI_S7: &[&str] = &["read_var", "setup_communication", "szl_read", "write_var"];
    check(
        name,
        &fleet,
        &[
            plc("10.10.1.10", &[("10.10.2.20", HMI_S7)])
                .ident("6ES7 511-1AK02-0AB0", "V2.9.2")
                .szl("S V-K1A234562019", "CPU 1511-1 PN"),
            plc("10.10.1.11", &[("10.10.2.20", HMI_S7)])
                .ident("6ES7 511-1AL03-0AB0", "V3.1.0")
                .szl("S V-P7B987652023", "CPU 1511-1 PN"),
            plc(
                "10.10.1.12",
                &[
                    ("10.10.2.20", HMI_S7),
                    ("10.10.3.30", &["block_download", "pi_service", "setup_communication", "szl_read"]),
                ],
            )
            .ident("6ES7 315-2EH14-0AB0", "V3.2.17")
            .szl("S C-H4K558212011", "CPU 315-2 PN/DP"),
            plc("10.10.1.13", &[("10.10.2.20", &["s7plus_create_object", "s7plus_delete_object", "s7plus_get"])])
                .ident("6ES7 214-1AG40-0XB0", "V4.4"),
            client("10.10.2.20", Role::Hmi),
            client("10.10.3.30", Role::EngineeringStation),
        ],
    );
    let tsaps = |a: &str| fleet.device(ip(a)).unwrap().connection.tsaps.clone();
    assert_eq!(tsaps("10.10.1.10"), ["0201"]);
    assert_eq!(tsaps("10.10.1.12"), ["0202", "0102"]);
    assert_eq!(tsaps("10.10.1.13"), ["SIMATIC-ROOT-HMI"]);
    assert_eq!(fleet.device(ip("10.10.1.12")).unwrap().connection.pdu_size, Some(240));
    assert!(alerts.iter().all(|a| !a.rule.starts_with("baseline.")), "no baseline alert without changes");
    assert_eq!(fleet.baseline, Baseline::Off);
}

/// The firmware change across a restart raises asset_change with old and new values.
#[test]
fn generated_inventory_firmware_change() {
    let name = "inventory_firmware_change";
    let (fleet, alerts) = replay(&own(name), DetectConfig::default(), |_| {});
    let d = fleet.device(ip("10.10.1.10")).unwrap();
    assert_eq!(d.identity.firmware.as_deref(), Some("V2.9.4"));
    assert_eq!(d.changes.len(), 1);
    let c = &d.changes[0];
    assert_eq!((c.field.as_str(), c.old.as_str(), c.new.as_str(), c.frame), ("firmware", "V2.9.2", "V2.9.4", 53));
    let states: Vec<(&str, Option<IpAddr>)> = d.state_changes.iter().map(|s| (s.state.as_str(), s.by)).collect();
    assert_eq!(states, [("stop", Some(ip("10.10.3.30"))), ("start", Some(ip("10.10.3.30")))]);
    let a: Vec<&Alert> = alerts.iter().filter(|a| a.rule == "baseline.asset_change").collect();
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].frame, a[0].src, a[0].dst), (53, ip("10.10.1.10"), ip("10.10.2.20")));
    assert_eq!(a[0].evidence["field"], "firmware");
    assert_eq!(a[0].evidence["old"], "V2.9.2");
    assert_eq!(a[0].evidence["new"], "V2.9.4");
    // ES role from what it did, without any configuration.
    assert_eq!(fleet.device(ip("10.10.3.30")).unwrap().role, Role::EngineeringStation);

    // The fleet survives a restart (serialised as the store does): replaying the same
    // capture again from it, the PLC first reports V2.9.2 again, then V2.9.4.
    let text = serde_json::to_string(&fleet).unwrap();
    let back: Fleet = serde_json::from_str(&text).unwrap();
    assert_eq!(back, fleet);
    let (again, alerts) = replay_from(&own(name), DetectConfig::default(), back, |_| {});
    let changes: Vec<(String, String)> = alerts
        .iter()
        .filter(|a| a.rule == "baseline.asset_change")
        .map(|a| (a.evidence["old"].as_str().unwrap().into(), a.evidence["new"].as_str().unwrap().into()))
        .collect();
    assert_eq!(changes, [("V2.9.4".to_string(), "V2.9.2".to_string()), ("V2.9.2".into(), "V2.9.4".into())]);
    assert_eq!(again.device(ip("10.10.1.10")).unwrap().changes.len(), 3);
}

/// Learn for 20 s, then enforce: a new talker, new functions of a baseline talker
/// (a read at low, a control function at the rule's severity), a new PLC.
#[test]
fn generated_inventory_new_talker() {
    let name = "inventory_new_talker";
    let (fleet, alerts) =
        replay(&own(name), DetectConfig::default(), |d| d.set_learning(std::time::Duration::from_secs(20)));
    let Baseline::Frozen { since } = fleet.baseline else { panic!("baseline not frozen: {:?}", fleet.baseline) };
    assert_eq!(since, Ts(1_767_225_600_000_000_000 + 20_000_000_000));
    let b: Vec<(u64, &str, &str, String)> = alerts
        .iter()
        .filter(|a| a.rule.starts_with("baseline."))
        .map(|a| {
            (a.frame, a.rule, a.severity.name(), a.evidence.get("function").map_or(String::new(), |f| f.to_string()))
        })
        .collect();
    assert_eq!(
        b,
        [
            (65, "baseline.new_talker", "high", String::new()),
            (88, "baseline.new_function", "low", "\"clock_read\"".into()),
            (90, "baseline.new_function", "high", "\"clock_set\"".into()),
            (99, "baseline.new_talker", "medium", String::new()),
        ]
    );
    let plc1 = fleet.device(ip("10.10.1.10")).unwrap();
    assert!(plc1.baseline);
    let hmi = &plc1.talkers[&ip("10.10.2.20")];
    assert!(hmi.baseline && hmi.functions["read_var"].baseline && hmi.functions["szl_read"].baseline);
    assert!(!hmi.functions["clock_set"].baseline && !hmi.functions["clock_read"].baseline);
    assert!(!plc1.talkers[&ip("10.10.2.21")].baseline);
    assert!(!fleet.device(ip("10.10.2.21")).unwrap().baseline);
    assert!(!fleet.device(ip("10.10.1.11")).unwrap().baseline);

    // Enforcing from the stored fleet: the same traffic again raises nothing new.
    let (_, again) = replay_from(&own(name), DetectConfig::default(), fleet, |_| {});
    assert!(
        again.iter().all(|a| !a.rule.starts_with("baseline.")),
        "{:?}",
        again.iter().map(|a| a.rule).collect::<Vec<_>>()
    );
}

/// A fleet frozen from one capture flags everything of an unrelated capture.
#[test]
fn frozen_empty_baseline_flags_new_plcs_once() {
    let name = "wireshark-wiki__s7comm_reading_plc_status.pcap";
    let mut frozen = Fleet::default();
    frozen.freeze(Ts(0));
    let (fleet, alerts) = replay_from(&public(name), DetectConfig::default(), frozen, |_| {});
    let b: Vec<(&str, &str)> =
        alerts.iter().filter(|a| a.rule.starts_with("baseline.")).map(|a| (a.rule, a.severity.name())).collect();
    // One new PLC (graded medium); its talker's functions are not control functions.
    assert_eq!(b, [("baseline.new_talker", "medium")]);
    assert!(fleet.devices.values().all(|d| !d.baseline));
}

#[test]
fn dump() {
    let Ok(list) = std::env::var("INV_DUMP") else { return };
    for f in list.split(',') {
        let p = if f.contains('/') {
            std::path::PathBuf::from(f)
        } else {
            common::shared_dir().join("pcaps/public").join(f)
        };
        let (fleet, alerts) = replay(&p, DetectConfig::default(), |_| {});
        println!("== {f}");
        if std::env::var_os("INV_JSON").is_some() {
            println!("{}", serde_json::to_string_pretty(&fleet).unwrap());
        }
        for d in fleet.devices.values() {
            let i = &d.identity;
            println!(
                "  {} {:?} order={:?} fw={:?} hw={:?} serial={:?} type={:?} name={:?}/{:?}/{:?} src={:?} tsaps={:?} pdu={:?} amq={:?} s7={} plus={} tls={} states={:?} changes={:?}",
                d.address, d.role, i.order_number, i.firmware, i.hardware, i.serial, i.module_type, i.plc_name,
                i.module_name, i.plant_id, i.source, d.connection.tsaps, d.connection.pdu_size, d.connection.amq,
                d.connection.s7comm, d.connection.s7comm_plus, d.connection.tls,
                d.state_changes.iter().map(|s| format!("{}@{:?}", s.state, s.by)).collect::<Vec<_>>(), d.changes
            );
            for (a, t) in &d.talkers {
                println!("     talker {a}: {:?}", t.functions.keys().collect::<Vec<_>>());
            }
        }
        for a in alerts.iter().filter(|a| a.rule.starts_with("baseline")) {
            println!("ALERT {} {} {}", a.frame, a.rule, a.message);
        }
    }
}
