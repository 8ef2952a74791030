//! Confirmation from the PLC's answers: frames built with the project's
//! generator, run through the engine and the detector.

use crate::rules::{Alert, Category, DetectConfig, Detector, Severity};
use crate::{Engine, EngineConfig, EventSink, Frame, Ts};
use s7sentry_pcapgen::cases::hosts::{ATTACKER, ES, PLC1};
use s7sentry_pcapgen::cases::session::{Session, POLL_ITEMS};
use s7sentry_pcapgen::pcap::LinkType;
use s7sentry_pcapgen::trace::{Dir, Piece, Trace};
use s7sentry_pcapgen::{s7, s7plus};

fn run(tr: &Trace, cfg: DetectConfig) -> Vec<Alert> {
    let mut det = Detector::new(cfg);
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for (i, f) in tr.frames.iter().enumerate() {
        let fr = Frame { frame: i as u64 + 1, ts: Ts(f.ts_ns as i64), linktype: 1, data: &f.data };
        engine.process(&fr, &mut det as &mut dyn EventSink);
        out.extend(det.drain());
    }
    engine.finish(&mut det as &mut dyn EventSink);
    det.finish();
    out.extend(det.drain());
    out
}

fn confirmed(alerts: &[Alert]) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.rule == "control.confirmed_without_request").collect()
}

/// A job lost to the capture (the PLC got it), then the PLC's answer.
fn hidden_job(s: &mut Session, tr: &mut Trace, r: u16, param: &[u8], ack: &[u8]) {
    let job = s7::job(r, param, &[]);
    s.c.send_plan(tr, Dir::C2S, &job, &[Piece::gap(0, job.len())]);
    s.answer(tr, &s7::ack_data(r, ack, &[]));
}

#[test]
fn a_decoy_with_the_stops_reference_explains_nothing() {
    // A visible PI start job with reference R (the sensor waits for its answer), a
    // STOP with the same reference the sensor never sees, and the PLC's STOP answer.
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_001, PLC1, 1);
    s.connect(&mut tr, 1);
    let r = s.next_ref();
    s.send(&mut tr, &s7::job(r, &s7::pi_param(&[], b"P_PROGRAM"), &[]));
    hidden_job(&mut s, &mut tr, r, &s7::plc_stop_param(), &[0x29]);
    s.close_fin(&mut tr);
    let alerts = run(&tr, DetectConfig::default());
    let c = confirmed(&alerts);
    assert_eq!(c.len(), 1, "{alerts:#?}");
    assert_eq!(c[0].evidence["function"], "cpu_stop");
    assert_eq!(c[0].evidence["pdu_ref"], r);
    assert_eq!(c[0].evidence["reason"], "no_request");
    assert_eq!((c[0].src, c[0].dst, c[0].severity), (ATTACKER, PLC1, Severity::High));
    assert!(c[0].message.contains("acknowledged a CPU STOP"), "{}", c[0].message);
    // The STOP's answer does not confirm the start either.
    let start = alerts.iter().find(|a| a.rule == "control.cpu_start").expect("cpu_start");
    assert!(start.message.contains("unconfirmed"), "{}", start.message);
}

#[test]
fn answers_on_a_mid_stream_connection_wait_for_a_pairing() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_002, PLC1, 2);
    s.c = s.c.clone().established();
    // The first frame answers a STOP sent before the capture began: not judged.
    let r = s.next_ref();
    s.c.send(&mut tr, Dir::S2C, &s7::ack_data(r, &[0x29], &[]));
    tr.wait_ms(100);
    s.read(&mut tr, &POLL_ITEMS);
    tr.wait_ms(100);
    let r = s.next_ref();
    hidden_job(&mut s, &mut tr, r, &s7::plc_stop_param(), &[0x29]);
    let alerts = run(&tr, DetectConfig::default());
    let c = confirmed(&alerts);
    assert_eq!(c.len(), 1, "{alerts:#?}");
    assert_eq!(c[0].evidence["pdu_ref"], r);
}

#[test]
fn a_request_the_sensor_could_not_decode_is_named() {
    // A PI job with no known service name in any layout, answered with success.
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_003, PLC1, 3);
    s.connect(&mut tr, 1);
    s.job(&mut tr, &[0x28, 0, 0, 0, 0, 0, 0xff, 0xff, 0x7f, 0x01, 0x02], &[0x28]);
    let alerts = run(&tr, DetectConfig::default());
    let c = confirmed(&alerts);
    assert_eq!(c.len(), 1, "{alerts:#?}");
    assert_eq!(c[0].evidence["reason"], "request_not_understood");
    assert_eq!(c[0].evidence["function"], "pi_service");
    assert!(c[0].evidence["request_frame"].as_u64().is_some());
    assert!(alerts.iter().any(|a| a.rule == "malformed.s7comm"));
}

#[test]
fn userdata_control_answers_and_the_engineering_station() {
    let cfg = DetectConfig::from_toml("engineering_hosts = [\"10.10.3.30\"]").unwrap();
    for (who, category, severity) in
        [(ATTACKER, Category::UnauthorizedControl, Severity::High), (ES, Category::ControlOperation, Severity::Info)]
    {
        let mut tr = Trace::new(LinkType::Ethernet);
        let mut s = Session::new(who, 40_004, PLC1, 4);
        s.connect(&mut tr, 1);
        let (r, q) = (s.next_ref(), s.next_seq());
        let req = s7::memory_reset_req(r, q);
        s.c.send_plan(&mut tr, Dir::C2S, &req, &[Piece::gap(0, req.len())]);
        s.answer(&mut tr, &s7::memory_reset_resp(r, q));
        // An answer with an error confirms nothing.
        let (r, q) = (s.next_ref(), s.next_seq());
        s.c.send_plan(&mut tr, Dir::C2S, &s7::password_req(r, q, "x"), &[Piece::gap(0, 1)]);
        s.answer(&mut tr, &s7::password_resp(r, q, 0xD602));
        let alerts = run(&tr, cfg.clone());
        let c = confirmed(&alerts);
        assert_eq!(c.len(), 1, "{alerts:#?}");
        assert_eq!((c[0].category, c[0].severity), (category, severity));
        assert_eq!(
            (c[0].evidence["ud_group"].as_u64(), c[0].evidence["ud_subfunction"].as_u64()),
            (Some(1), Some(0x0C))
        );
        assert!(c[0].message.contains("a memory reset"));
    }
}

#[test]
fn a_stop_swallowed_by_a_dangling_first_fragment_is_still_confirmed() {
    // A first fragment that never gets its continuation (a GetMultiVariables
    // header, no trailer), then a whole STOP frame. The sensor joins the two into
    // one GetMultiVariables message; a PLC that drops the dangling fragment
    // executes the STOP and answers it: that answer pairs with nothing.
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_005, PLC1, 5);
    s.open_plus(&mut tr, "SIMATIC-ROOT-HMI");
    s.create_object(&mut tr, "X");
    let seq = s.next_plus_seq();
    let head = s7plus::req_header(s7plus::func::GET_MULTI_VARIABLES, seq, s.plus_session, 0x34);
    s.send(&mut tr, &s7::dt_pdu(&s7plus::pdu(s7plus::V2, &head, false)));
    let seq = s.next_plus_seq();
    let sess = s.plus_session;
    s.xchg(&mut tr, &s7plus::set_operating_state(seq, sess, 1), &s7plus::set_variable_resp(seq));
    let alerts = run(&tr, DetectConfig::default());
    assert!(!alerts.iter().any(|a| a.rule == "control.s7plus_operating_state"), "{alerts:#?}");
    let c = confirmed(&alerts);
    assert_eq!(c.len(), 1, "{alerts:#?}");
    assert_eq!(
        (c[0].evidence["function"].as_str(), c[0].evidence["seq"].as_u64()),
        (Some("SetVariable"), Some(u64::from(seq)))
    );
}

#[test]
fn an_operating_state_write_hidden_under_an_overlapping_copy_is_confirmed() {
    // The write's bytes arrive split; before the part naming the attribute, a
    // copy with other bytes (a TTL decoy: the PLC never gets it) names another
    // attribute. First copy wins in the stream, so the sensor reads a harmless
    // SetVariable; the PLC executed the STOP and answers it with success.
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_006, PLC1, 6);
    s.open_plus(&mut tr, "SIMATIC-ROOT-HMI");
    s.create_object(&mut tr, "X");
    let seq = s.next_plus_seq();
    let sess = s.plus_session;
    let real = s7plus::set_operating_state(seq, sess, 1);
    let decoy = s7plus::frame(s7plus::V2, &s7plus::set_variable_data(seq, sess, 52, 9_999, 1));
    assert_eq!(real.len(), decoy.len());
    let k = real.iter().zip(&decoy).position(|(a, b)| a != b).expect("the copies differ");
    s.c.send_plan(
        &mut tr,
        Dir::C2S,
        &real,
        &[Piece::seg(0, k), Piece::alt(k, decoy[k..].to_vec()), Piece::seg(k, real.len())],
    );
    s.answer(&mut tr, &s7plus::set_variable_resp(seq));
    let alerts = run(&tr, DetectConfig::default());
    assert!(alerts.iter().any(|a| a.rule == "malformed.tcp_overlap"), "{alerts:#?}");
    assert!(!alerts.iter().any(|a| a.rule == "control.s7plus_operating_state"), "{alerts:#?}");
    let c = confirmed(&alerts);
    assert_eq!(c.len(), 1, "{alerts:#?}");
    assert_eq!(c[0].evidence["reason"], "request_overlapped");
    assert_eq!(c[0].evidence["function"], "SetVariable");
    assert!(c[0].message.contains("overlapped by a copy with other bytes"), "{}", c[0].message);

    // The same write with the copies the other way round: the sensor reads the
    // STOP itself, and the answer needs no second alert.
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_007, PLC1, 7);
    s.open_plus(&mut tr, "SIMATIC-ROOT-HMI");
    s.create_object(&mut tr, "X");
    let seq = s.next_plus_seq();
    let sess = s.plus_session;
    let real = s7plus::set_operating_state(seq, sess, 1);
    let decoy = s7plus::frame(s7plus::V2, &s7plus::set_variable_data(seq, sess, 52, 9_999, 1));
    s.c.send_plan(
        &mut tr,
        Dir::C2S,
        &real,
        &[Piece::seg(0, k), Piece::seg(k, real.len()), Piece::alt(k, decoy[k..].to_vec())],
    );
    s.answer(&mut tr, &s7plus::set_variable_resp(seq));
    let alerts = run(&tr, DetectConfig::default());
    assert!(alerts.iter().any(|a| a.rule == "control.s7plus_operating_state"), "{alerts:#?}");
    assert!(confirmed(&alerts).is_empty(), "{alerts:#?}");
}

#[test]
fn mid_stream_a_conflict_in_the_request_lets_the_answer_be_judged() {
    // Picked up mid-stream (no CR/CC, no answer paired yet): a STOP job whose
    // second half is first seen as a decoy copy with other bytes. The sensor
    // keeps the decoy; the PLC's STOP answer is the only witness.
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_008, PLC1, 8);
    s.c = s.c.clone().established();
    let r = s.next_ref();
    let job = s7::job(r, &s7::plc_stop_param(), &[]);
    let k = job.len() / 2;
    let decoy: Vec<u8> = job[k..].iter().map(|b| b ^ 0x5A).collect();
    s.c.send_plan(&mut tr, Dir::C2S, &job, &[Piece::seg(0, k), Piece::alt(k, decoy), Piece::seg(k, job.len())]);
    s.answer(&mut tr, &s7::ack_data(r, &[0x29], &[]));
    let alerts = run(&tr, DetectConfig::default());
    assert!(!alerts.iter().any(|a| a.rule == "control.cpu_stop"), "{alerts:#?}");
    let c = confirmed(&alerts);
    assert_eq!(c.len(), 1, "{alerts:#?}");
    assert_eq!(c[0].evidence["function"], "cpu_stop");
    assert!(c[0].evidence.get("client_overlap_conflict_frame").is_some(), "{:?}", c[0].evidence);
}

#[test]
fn mid_stream_a_request_whose_last_byte_comes_alone_is_not_a_keep_alive() {
    // Picked up mid-stream: the STOP job's last byte in a segment of its own,
    // one below the ACK the PLC's answer carries (where a keep-alive would sit).
    // Held data ends where that byte starts: it is data, and the STOP is read.
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_009, PLC1, 9);
    s.c = s.c.clone().established();
    let r = s.next_ref();
    let job = s7::job(r, &s7::plc_stop_param(), &[]);
    s.c.send_cut(&mut tr, Dir::C2S, &job, &[job.len() - 1]);
    s.answer(&mut tr, &s7::ack_data(r, &[0x29], &[]));
    let alerts = run(&tr, DetectConfig::default());
    assert!(alerts.iter().any(|a| a.rule == "control.cpu_stop"), "{alerts:#?}");
}
