//! Unit tests of the asset tracker: frames built with the project's generator,
//! run through the engine and the detector.

use super::*;
use crate::rules::{Alert, DetectConfig, Detector};
use crate::{Engine, EngineConfig, EventSink, Frame};
use s7sentry_pcapgen::cases::hosts::{ES, HMI, HMI2, PLC1, PLC2};
use s7sentry_pcapgen::cases::session::{Session, POLL_ITEMS};
use s7sentry_pcapgen::pcap::LinkType;
use s7sentry_pcapgen::trace::{Dir, Trace};
use s7sentry_pcapgen::{s7, s7plus};

/// Run the frames of `tr` through a fresh engine into `det`; returns the alerts.
fn run(tr: &Trace, det: &mut Detector) -> Vec<Alert> {
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for (i, f) in tr.frames.iter().enumerate() {
        let ts = Ts(f.ts_ns as i64);
        let fr = Frame { frame: i as u64 + 1, ts, linktype: 1, data: &f.data };
        engine.process(&fr, det as &mut dyn EventSink);
        out.extend(det.drain());
    }
    engine.finish(det as &mut dyn EventSink);
    det.finish();
    out.extend(det.drain());
    out
}

fn tracking(cfg: DetectConfig) -> Detector {
    let mut d = Detector::new(cfg);
    d.enable_assets(Fleet::default());
    d
}

fn baseline_rules(alerts: &[Alert]) -> Vec<&'static str> {
    alerts.iter().filter(|a| a.category == Category::Baseline).map(|a| a.rule).collect()
}

/// HMI session: connect, SZL 0x0011 with `fw`, a few polls, close.
fn hmi_reads(tr: &mut Trace, client: IpAddr, plc: IpAddr, port: u16, order: &str, fw: (u8, u8, u8)) {
    let mut s = Session::new(client, port, plc, u64::from(port));
    s.connect(tr, 2);
    s.szl_0011_as(tr, order, fw);
    for i in 0..3 {
        tr.wait_ms(100);
        s.poll(tr, i);
    }
    s.close_dr(tr);
}

#[test]
fn off_by_default_and_empty() {
    let mut tr = Trace::new(LinkType::Ethernet);
    hmi_reads(&mut tr, HMI, PLC1, 49000, "6ES7 511-1AK02-0AB0", (2, 9, 2));
    let mut d = Detector::new(DetectConfig::default());
    let alerts = run(&tr, &mut d);
    assert!(!d.assets_enabled());
    assert!(d.fleet().devices.is_empty());
    assert_eq!((d.fleet_generation(), d.fleet_revision()), (0, 0));
    assert!(baseline_rules(&alerts).is_empty());
    assert!(d.take_fleet().is_none());
}

#[test]
fn a_server_that_never_answers_is_not_a_plc() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49001, PLC1, 1);
    s.handshake(&mut tr);
    s.send(&mut tr, &s7::cr(7, &[2, 0], &s7::tsap(2, 0, 1)));
    let r = s.next_ref();
    s.send(&mut tr, &s7::job(r, &s7::setup_comm_param(1, 1, 480), &[]));
    s.send(&mut tr, &s7::job(r + 1, &s7::plc_stop_param(), &[]));
    let mut d = tracking(DetectConfig::default());
    run(&tr, &mut d);
    assert!(d.fleet().devices.is_empty(), "{:?}", d.fleet().devices.keys().collect::<Vec<_>>());
}

#[test]
fn requests_before_the_first_answer_are_recorded_when_it_comes() {
    // A capture that starts mid-connection: the client's jobs come before any answer.
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49002, PLC1, 2);
    s.c = s.c.clone().established();
    let (q1, a1) = s.read_frames(&POLL_ITEMS);
    let (q2, a2) = s.write_frames(&[s7::AnyItem::db_word(1, 4)], &[&[0, 1]]);
    s.send(&mut tr, &q1);
    s.send(&mut tr, &q2);
    s.answer(&mut tr, &a1);
    s.answer(&mut tr, &a2);
    let mut d = tracking(DetectConfig::default());
    run(&tr, &mut d);
    let f = d.fleet();
    let t = &f.device(PLC1).unwrap().talkers[&HMI];
    assert_eq!(t.functions.keys().collect::<Vec<_>>(), ["read_var", "write_var"]);
    assert_eq!(t.first_seen, Ts(tr.frames[0].ts_ns as i64), "first seen is the first request");
    assert_eq!(f.device(HMI).unwrap().role, Role::Hmi);
}

#[test]
fn roles_from_functions_and_configuration() {
    let mut tr = Trace::new(LinkType::Ethernet);
    // HMI reads; ES (configured) only reads too; the attacker only connects.
    hmi_reads(&mut tr, HMI, PLC1, 49003, "6ES7 511-1AK02-0AB0", (2, 9, 2));
    hmi_reads(&mut tr, ES, PLC1, 49004, "6ES7 511-1AK02-0AB0", (2, 9, 2));
    let mut s = Session::new(HMI2, 49005, PLC1, 5);
    s.open(&mut tr, 2);
    s.close_fin(&mut tr);
    // HMI2 later stops PLC2: an engineering function makes it an engineering station.
    let mut s = Session::new(HMI2, 49006, PLC2, 6);
    s.connect(&mut tr, 1);
    s.job(&mut tr, &s7::plc_stop_param(), &[0x29]);
    let cfg = DetectConfig::from_toml("engineering_hosts = [\"10.10.3.30\"]").unwrap();
    let mut d = tracking(cfg);
    run(&tr, &mut d);
    let f = d.fleet();
    assert_eq!(f.device(HMI).unwrap().role, Role::Hmi);
    assert_eq!(f.device(ES).unwrap().role, Role::EngineeringStation);
    assert_eq!(f.device(HMI2).unwrap().role, Role::EngineeringStation);
    assert_eq!(f.device(PLC1).unwrap().role, Role::Plc);
    assert!(f.device(PLC1).unwrap().talkers[&HMI2].functions.is_empty());
    let plc2 = f.device(PLC2).unwrap();
    assert_eq!(plc2.state_changes.len(), 1);
    assert_eq!((plc2.state_changes[0].state.as_str(), plc2.state_changes[0].by), ("stop", Some(HMI2)));
    assert_eq!(plc2.connection.tsaps, ["0101"]);
}

#[test]
fn firmware_precision_is_not_a_change_but_a_new_version_is() {
    let mut tr = Trace::new(LinkType::Ethernet);
    // S7comm-plus says V2.9, SZL says V2.9.2: the same version.
    let mut s = Session::new(HMI, 49007, PLC1, 7);
    s.open_plus(&mut tr, "SIMATIC-ROOT-HMI");
    s.create_object_ident(&mut tr, "HMI", "1;6ES7 511-1AK02-0AB0 ;V2.9");
    s.close_fin(&mut tr);
    hmi_reads(&mut tr, HMI, PLC1, 49008, "6ES7 511-1AK02-0AB0", (2, 9, 2));
    let mut d = tracking(DetectConfig::default());
    let alerts = run(&tr, &mut d);
    assert!(baseline_rules(&alerts).is_empty(), "{alerts:?}");
    let id = &d.fleet().device(PLC1).unwrap().identity;
    assert_eq!((id.firmware.as_deref(), id.source.as_deref()), (Some("V2.9.2"), Some("szl")));

    // The less precise form again keeps the precise value; a new order number and a
    // new firmware are changes (one alert per field).
    let mut tr = Trace::at(LinkType::Ethernet, 60_000);
    let mut s = Session::new(HMI, 49009, PLC1, 9);
    s.open_plus(&mut tr, "SIMATIC-ROOT-HMI");
    s.create_object_ident(&mut tr, "HMI", "1;6ES7511-1AK02-0AB0;V2.9");
    s.close_fin(&mut tr);
    hmi_reads(&mut tr, HMI, PLC1, 49010, "6ES7 511-1AL03-0AB0", (3, 1, 0));
    let alerts = run(&tr, &mut d);
    let changes: Vec<(String, String, String)> = alerts
        .iter()
        .filter(|a| a.rule == "baseline.asset_change")
        .map(|a| {
            let s = |k: &str| a.evidence[k].as_str().unwrap().to_string();
            (s("field"), s("old"), s("new"))
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("order_number".into(), "6ES7 511-1AK02-0AB0".into(), "6ES7 511-1AL03-0AB0".into()),
            ("firmware".into(), "V2.9.2".into(), "V3.1.0".into()),
        ]
    );
    assert!(alerts.iter().filter(|a| a.rule == "baseline.asset_change").all(|a| a.severity == Severity::High));
    assert_eq!(d.fleet().device(PLC1).unwrap().changes.len(), 2);
}

#[test]
fn szl_answers_count_only_for_what_was_asked() {
    // The client asks for SZL 0x001C, the "answer" is a module identification list:
    // not what was asked, not used.
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49011, PLC1, 11);
    s.connect(&mut tr, 2);
    let (r, q) = (s.next_ref(), s.next_seq());
    let req = s7::szl_req(r, q, 0x001C, 0);
    let resp = s7::szl_resp(r, q, 0x0011, 0, 28, &s7::szl_0011_records("6ES7 511-1AK02-0AB0", (2, 9, 2)));
    s.xchg(&mut tr, &req, &resp);
    let mut d = tracking(DetectConfig::default());
    run(&tr, &mut d);
    assert_eq!(d.fleet().device(PLC1).unwrap().identity, crate::assets::Identity::default());
}

#[test]
fn two_unit_szl_answer_is_read_from_the_reassembled_data() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49012, PLC1, 12);
    s.connect(&mut tr, 2);
    let recs = s7::szl_001c_records("station", "module", "plant", "S C-X1Y2Z3452020", "CPU 315-2 PN/DP");
    s.szl_001c_as(&mut tr, &recs, Some(100));
    let mut d = tracking(DetectConfig::default());
    run(&tr, &mut d);
    let id = &d.fleet().device(PLC1).unwrap().identity;
    assert_eq!(id.serial.as_deref(), Some("S C-X1Y2Z3452020"));
    assert_eq!(id.module_type.as_deref(), Some("CPU 315-2 PN/DP"));
    assert_eq!(id.plant_id.as_deref(), Some("plant"));
}

#[test]
fn generation_moves_with_traffic_revision_with_news() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49013, PLC1, 13);
    s.connect(&mut tr, 2);
    s.poll(&mut tr, 0);
    let split = tr.frames.len();
    for _ in 1..4 {
        tr.wait_ms(1_100);
        s.read(&mut tr, &POLL_ITEMS);
    }
    let mut d = tracking(DetectConfig::default());
    let mut engine = Engine::new(EngineConfig::default());
    let feed = |engine: &mut Engine, d: &mut Detector, frames: &[s7sentry_pcapgen::trace::Frame], base: usize| {
        for (i, f) in frames.iter().enumerate() {
            let fr = Frame { frame: (base + i + 1) as u64, ts: Ts(f.ts_ns as i64), linktype: 1, data: &f.data };
            engine.process(&fr, d as &mut dyn EventSink);
        }
    };
    feed(&mut engine, &mut d, &tr.frames[..split], 0);
    let (g, r) = (d.fleet_generation(), d.fleet_revision());
    assert!(g > 1 && r > 1);
    feed(&mut engine, &mut d, &tr.frames[split..], split);
    assert!(d.fleet_generation() > g, "last-seen updates move the generation");
    assert_eq!(d.fleet_revision(), r, "known functions do not move the revision");
    d.freeze_baseline(d.now());
    assert!(d.fleet().is_frozen() && d.fleet_revision() > r);
    let fleet = d.take_fleet().unwrap();
    assert!(!d.assets_enabled() && fleet.device(PLC1).unwrap().baseline);
}

#[test]
fn learning_starts_at_the_first_packet_and_keeps_a_loaded_mode() {
    let mut tr = Trace::at(LinkType::Ethernet, 5_000);
    hmi_reads(&mut tr, HMI, PLC1, 49014, "6ES7 511-1AK02-0AB0", (2, 9, 2));
    let t0 = Ts(tr.frames[0].ts_ns as i64);
    let mut d = tracking(DetectConfig::default());
    d.set_learning(std::time::Duration::from_secs(3600));
    run(&tr, &mut d);
    assert_eq!(d.fleet().baseline, Baseline::Learning { until: Ts(t0.0 + 3_600_000_000_000) });

    let mut frozen = Fleet::default();
    frozen.freeze(Ts(7));
    let mut d = Detector::new(DetectConfig::default());
    d.set_learning(std::time::Duration::from_secs(1));
    d.enable_assets(frozen);
    let alerts = run(&tr, &mut d);
    assert_eq!(d.fleet().baseline, Baseline::Frozen { since: Ts(7) });
    assert_eq!(baseline_rules(&alerts), ["baseline.new_talker"]);
}

#[test]
fn new_function_grading_and_new_talker_control_functions() {
    // Baseline: HMI reads PLC1. Frozen. Then the HMI writes (medium), reads SZL (low),
    // stops the CPU (rule severity); a new host also stops it (new talker + control).
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49015, PLC1, 15);
    s.connect(&mut tr, 2);
    s.read(&mut tr, &POLL_ITEMS);
    let mut d = tracking(DetectConfig::default());
    run(&tr, &mut d);
    let mut fleet = d.take_fleet().unwrap();
    let mut d = Detector::new(DetectConfig::default());
    fleet.freeze(Ts(1));
    d.enable_assets(fleet);

    let mut tr = Trace::at(LinkType::Ethernet, 10_000);
    let mut s = Session::new(HMI, 49016, PLC1, 16);
    s.connect(&mut tr, 2);
    s.write(&mut tr, &[s7::AnyItem::db_word(1, 4)], &[&[0, 7]]);
    s.szl_0011_as(&mut tr, "6ES7 511-1AK02-0AB0", (2, 9, 2));
    s.job(&mut tr, &s7::plc_stop_param(), &[0x29]);
    let mut n = Session::new(HMI2, 49017, PLC1, 17);
    n.connect(&mut tr, 2);
    n.read(&mut tr, &POLL_ITEMS);
    n.job(&mut tr, &s7::plc_stop_param(), &[0x29]);
    let alerts = run(&tr, &mut d);
    let got: Vec<(&str, &str, Option<&str>)> = alerts
        .iter()
        .filter(|a| a.category == Category::Baseline)
        .map(|a| (a.rule, a.severity.name(), a.evidence.get("function").and_then(|v| v.as_str())))
        .collect();
    assert_eq!(
        got,
        [
            ("baseline.new_function", "medium", Some("write_var")),
            ("baseline.new_function", "low", Some("szl_read")),
            ("baseline.new_function", "high", Some("cpu_stop")),
            ("baseline.new_talker", "high", None),
            ("baseline.new_function", "high", Some("cpu_stop")),
        ]
    );
    // Each once: the same traffic again raises nothing.
    let again = run(&tr, &mut d);
    assert!(baseline_rules(&again).is_empty(), "{:?}", baseline_rules(&again));
}

#[test]
fn s7plus_operating_state_and_mode_pushes_are_state_changes() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ES, 49018, PLC2, 18);
    s.open_plus(&mut tr, "SIMATIC-ROOT-ES");
    s.create_object(&mut tr, "ENG");
    let (seq, sess) = (s.next_plus_seq(), s.plus_session);
    s.xchg(&mut tr, &s7plus::set_operating_state(seq, sess, 1), &s7plus::set_variable_resp(seq));
    // The PLC pushes a mode transition to STOP on an S7comm connection (deduplicated),
    // then, 20 s later, RUN.
    let mut h = Session::new(HMI, 49019, PLC2, 19);
    h.connect(&mut tr, 2);
    let push = |mode: u8| s7::userdata(0, &[0x00, 0x01, 0x12, 0x04, 0x11, 0x00, mode, 0x00], &[0x0A, 0, 0, 0]);
    h.c.send(&mut tr, Dir::S2C, &push(0));
    tr.wait_ms(20_000);
    h.c.send(&mut tr, Dir::S2C, &push(2));
    let mut d = tracking(DetectConfig::default());
    run(&tr, &mut d);
    let p = d.fleet().device(PLC2).unwrap();
    let states: Vec<(&str, Option<IpAddr>)> = p.state_changes.iter().map(|s| (s.state.as_str(), s.by)).collect();
    assert_eq!(states, [("stop", Some(ES)), ("run", None)]);
    assert_eq!(p.connection.tsaps, ["SIMATIC-ROOT-ES", "0201"]);
    let es = &p.talkers[&ES];
    assert!(es.functions.contains_key("s7plus_operating_state") && es.functions.contains_key("engineering_session"));
    assert_eq!(d.fleet().device(ES).unwrap().role, Role::EngineeringStation);
}

#[test]
fn tls_is_recorded() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49020, PLC1, 20);
    s.open_plus(&mut tr, "SIMATIC-ROOT-HMI");
    let seq = s.next_plus_seq();
    s.xchg(&mut tr, &s7plus::init_ssl_req(seq), &s7plus::init_ssl_resp(seq));
    s.send(&mut tr, &s7plus::tls_record(0x16, &[1, 0, 0, 4, 3, 3, 0, 0]));
    s.answer(&mut tr, &s7plus::tls_record(0x16, &[2, 0, 0, 4, 3, 3, 0, 0]));
    let mut d = tracking(DetectConfig::default());
    run(&tr, &mut d);
    let c = &d.fleet().device(PLC1).unwrap().connection;
    assert!(c.tls && c.s7comm_plus);
}

#[test]
fn use_counts_are_exact_when_the_connection_ends() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(HMI, 49021, PLC1, 21);
    s.connect(&mut tr, 2);
    for i in 0..25 {
        tr.wait_ms(if i == 12 { 1_500 } else { 10 });
        s.read(&mut tr, &POLL_ITEMS);
    }
    let last_read = Ts(tr.frames[tr.frames.len() - 2].ts_ns as i64);
    s.close_dr(&mut tr);
    let mut d = tracking(DetectConfig::default());
    run(&tr, &mut d);
    let t = &d.fleet().device(PLC1).unwrap().talkers[&HMI];
    let r = &t.functions["read_var"];
    assert_eq!((r.count, r.last_seen), (25, last_read));
    assert_eq!(t.functions["setup_communication"].count, 1);
    // The connection's end (its closing FIN) is the talker's last sighting.
    assert!(t.last_seen > last_read && t.last_seen <= Ts(tr.frames.last().unwrap().ts_ns as i64));
}
