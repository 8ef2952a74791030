//! Detector caps: each bound, when hit, is counted in [`Detector::caps`].

use super::catalog::MAL_COTP;
use super::ctx::MAX_PLCS;
use super::emit::MAX_AGG;
use super::emit::MAX_SUSPECTS;
use super::state::MAX_SOURCES_PER_PLC;
use super::txn::MAX_TXNS_PER_FLOW;
use super::MAX_LATENCY_SAMPLES;
use super::{Cap, CapCounters, DetectConfig, Detector, Raise, MAX_PENDING_OPS};
use crate::event::{Direction, Meta};
use crate::{Engine, EngineConfig, EventSink, Frame, Ts};
use s7sentry_pcapgen::cases::hosts::{ATTACKER, PLC1};
use s7sentry_pcapgen::cases::session::{Session, POLL_ITEMS};
use s7sentry_pcapgen::pcap::LinkType;
use s7sentry_pcapgen::s7;
use s7sentry_pcapgen::trace::Trace;
use std::net::{IpAddr, Ipv4Addr};

fn run(tr: &Trace) -> Detector {
    let mut det = Detector::new(DetectConfig::default());
    let mut engine = Engine::new(EngineConfig::default());
    for (i, f) in tr.frames.iter().enumerate() {
        let fr = Frame { frame: i as u64 + 1, ts: Ts(f.ts_ns as i64), linktype: 1, data: &f.data };
        engine.process(&fr, &mut det as &mut dyn EventSink);
        det.drain().for_each(drop);
    }
    det
}

fn ip(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a40_0000 + i))
}

fn meta(src: IpAddr, dst: IpAddr, frame: u64) -> Meta {
    Meta {
        frame,
        ts: Ts(frame as i64 * 1_000),
        src,
        sport: 40_000,
        dst,
        dport: 102,
        flow: 0,
        flow_start: Ts(0),
        dir: Direction::ToServer,
    }
}

/// Only the named counter moved.
fn only(c: CapCounters, name: &str, n: u64) {
    for (k, v) in c.named() {
        assert_eq!(v, if k == name { n } else { 0 }, "{k} in {c:?}");
    }
}

#[test]
fn no_cap_is_hit_on_a_short_benign_session() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_001, PLC1, 1);
    s.connect(&mut tr, 1);
    for _ in 0..10 {
        s.read(&mut tr, &POLL_ITEMS);
    }
    s.close_fin(&mut tr);
    assert_eq!(run(&tr).caps(), CapCounters::default());
}

#[test]
fn open_transactions_beyond_the_cap_are_counted() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_001, PLC1, 1);
    s.connect(&mut tr, 1);
    for _ in 0..MAX_TXNS_PER_FLOW + 5 {
        let (req, _) = s.read_frames(&POLL_ITEMS);
        s.send(&mut tr, &req);
    }
    let d = run(&tr);
    only(d.caps(), "transactions_per_flow", 5);
}

#[test]
fn control_operations_beyond_the_cap_are_counted() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_001, PLC1, 1);
    s.connect(&mut tr, 1);
    for _ in 0..MAX_PENDING_OPS + 3 {
        let r = s.next_ref();
        s.send(&mut tr, &s7::job(r, &s7::plc_stop_param(), &[]));
    }
    let d = run(&tr);
    assert_eq!(d.caps()[Cap::PendingOperations], 3, "{:?}", d.caps());
}

#[test]
fn plcs_beyond_the_cap_are_counted() {
    let mut d = Detector::new(DetectConfig::default());
    for i in 0..MAX_PLCS as u32 {
        d.plc(ip(i));
    }
    only(d.caps(), "plcs", 0);
    d.plc(ip(MAX_PLCS as u32));
    only(d.caps(), "plcs", (MAX_PLCS / 16) as u64);
}

#[test]
fn sources_beyond_the_cap_are_counted() {
    let mut d = Detector::new(DetectConfig::default());
    for i in 0..MAX_SOURCES_PER_PLC as u32 + 2 {
        let (p, caps) = d.plc_caps(PLC1);
        p.source(ip(i), &mut caps[Cap::SourcesPerPlc]);
    }
    only(d.caps(), "sources_per_plc", 2);
}

#[test]
fn aggregation_windows_and_suspects_beyond_their_caps_are_counted() {
    let mut d = Detector::new(DetectConfig::default());
    for i in 0..MAX_AGG as u32 {
        let m = meta(ip(i), PLC1, u64::from(i) + 1);
        d.emit(Raise::new(MAL_COTP, &m, String::from("x"), serde_json::Map::new()));
    }
    let c = d.caps();
    assert_eq!(c[Cap::AggregationWindows], 0);
    // One suspect per source, the oldest forgotten beyond the cap.
    assert_eq!(c[Cap::Suspects], (MAX_AGG - MAX_SUSPECTS) as u64);
    let m = meta(ip(MAX_AGG as u32), PLC1, MAX_AGG as u64 + 1);
    d.emit(Raise::new(MAL_COTP, &m, String::from("x"), serde_json::Map::new()));
    assert_eq!(d.caps()[Cap::AggregationWindows], (MAX_AGG / 16) as u64);
}

#[test]
fn observations_beyond_the_cap_are_counted() {
    let mut d = Detector::new(DetectConfig::default());
    for _ in 0..MAX_LATENCY_SAMPLES + 2 {
        d.observe_latency(PLC1, 0.01);
        d.observe_state(PLC1, "stop");
    }
    let c = d.caps();
    assert_eq!((c[Cap::LatencySamples], c[Cap::StateChanges]), (2, 2), "{c:?}");
    assert_eq!(d.latency_samples_dropped(), 2);
}

#[test]
fn clients_of_an_outage_beyond_the_cap_are_counted() {
    // 18 clients send SYNs to a PLC that never answers.
    let mut tr = Trace::new(LinkType::Ethernet);
    for i in 0..18u16 {
        let mut s = Session::new(ip(u32::from(i)), 41_000 + i, PLC1, u64::from(i));
        s.c.syn(&mut tr);
    }
    let d = run(&tr);
    only(d.caps(), "clients_trying", 2);
}

/// Control operations waiting for answers hold the alert floor at their
/// requests (they will be reported with the request's frame): the earliest
/// one still waiting, past the one the cap reported (it opened an aggregation
/// window with nothing folded yet); none once all are reported and flushed.
#[test]
fn waiting_operations_hold_the_alert_floor_at_the_earliest_request() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(ATTACKER, 40_001, PLC1, 1);
    s.connect(&mut tr, 1);
    let mut stops = Vec::new();
    for _ in 0..MAX_PENDING_OPS + 1 {
        let r = s.next_ref();
        s.send(&mut tr, &s7::job(r, &s7::plc_stop_param(), &[]));
        let n = tr.frames.len();
        stops.push((Ts(tr.frames[n - 1].ts_ns as i64), n as u64));
    }
    let mut d = run(&tr);
    assert_eq!(d.caps()[Cap::PendingOperations], 1);
    assert_eq!(d.alert_floor(), stops[1]);
    d.finish();
    assert_eq!(d.alert_floor(), super::NO_ALERT_FLOOR);
}
