//! IP fragments through the whole engine: IPv6 reassembly behind extension
//! headers, ports only from first fragments (issue 10 case 14), atomic
//! fragments decoded alone (RFC 6946), and reassembly reports naming the flow.

use s7sentry_engine::defrag::Issue;
use s7sentry_engine::{Engine, EngineConfig, Event, Frame, Ts};
use s7sentry_pcapgen::cases::hosts::{ATTACKER_V6, PLC1, PLC1_V6};
use s7sentry_pcapgen::cases::session::Session;
use s7sentry_pcapgen::net::{self, Ipv6Ext, Ipv6Frag};
use s7sentry_pcapgen::pcap::LinkType;
use s7sentry_pcapgen::s7;
use s7sentry_pcapgen::trace::{Dir, Trace};
use std::net::IpAddr;

/// What the tests look at, owned.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Fragment { frame: u64, offset: u32, sport: u16, dport: u16 },
    S7 { frame: u64, src: IpAddr, sport: u16, dport: u16, function: Option<u8>, flow: u64 },
    Report { frame: u64, kind: &'static str, sport: u16, dport: u16, flow: u64, issue: Issue },
}

fn run(tr: &Trace) -> Vec<Seen> {
    let mut engine = Engine::new(EngineConfig::default());
    let mut seen = Vec::new();
    let mut sink = |e: &Event<'_>| match e {
        Event::IpFragment { meta, offset, .. } => {
            seen.push(Seen::Fragment { frame: meta.frame, offset: *offset, sport: meta.sport, dport: meta.dport })
        }
        Event::S7 { meta, pdu, .. } => seen.push(Seen::S7 {
            frame: meta.frame,
            src: meta.src,
            sport: meta.sport,
            dport: meta.dport,
            function: pdu.function().map(|f| f.0),
            flow: meta.flow,
        }),
        Event::IpDefrag { meta, report } => seen.push(Seen::Report {
            frame: meta.frame,
            kind: report.kind().name(),
            sport: meta.sport,
            dport: meta.dport,
            flow: meta.flow,
            issue: report.issue,
        }),
        _ => {}
    };
    for (n, f) in tr.frames.iter().enumerate() {
        let fr = Frame { frame: n as u64 + 1, ts: Ts(f.ts_ns as i64), linktype: 1, data: &f.data };
        engine.process(&fr, &mut sink);
    }
    engine.finish(&mut sink);
    assert_eq!(engine.fragment_bytes(), 0);
    seen
}

/// An attacker's IPv6 connection up to the STOP; returns the STOP's TCP segment.
fn stop_over_ipv6(tr: &mut Trace) -> (Session, Vec<u8>) {
    let mut s = Session::new(ATTACKER_V6, 40_900, PLC1_V6, 0x77);
    s.open(tr, 1);
    let job = s7::job(0x0500, &s7::plc_stop_param(), &[]);
    let seq = s.c.next(Dir::C2S);
    let seg = s.c.segment_bytes(Dir::C2S, seq, net::PSH | net::ACK, &job);
    s.c.skip(Dir::C2S, job.len());
    (s, seg)
}

fn push6(tr: &mut Trace, h: &Ipv6Frag, exts: &[Ipv6Ext], off: usize, more: bool, piece: &[u8]) {
    let (src, dst) = (IpAddr::from(h.src), IpAddr::from(h.dst));
    tr.push_ip(&[], src, dst, &net::ipv6_fragment(h, exts, off, more, piece));
}

#[test]
fn ipv6_fragments_reassemble_and_only_the_first_carries_ports() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let (s, seg) = stop_over_ipv6(&mut tr);
    let h = Ipv6Frag { src: net::ip16(s.c.client), dst: net::ip16(s.c.server), hop: 64, id: 0xAB, next: 6 };
    let exts = [Ipv6Ext::hop_by_hop(), Ipv6Ext::routing_done()];
    let first = tr.frames.len() as u64 + 1;
    push6(&mut tr, &h, &exts, 24, false, &seg[24..]);
    push6(&mut tr, &h, &exts, 0, true, &seg[..24]);
    let seen = run(&tr);
    let frags: Vec<_> = seen.iter().filter(|x| matches!(x, Seen::Fragment { .. })).collect();
    assert_eq!(
        frags,
        [
            &Seen::Fragment { frame: first, offset: 24, sport: 0, dport: 0 },
            &Seen::Fragment { frame: first + 1, offset: 0, sport: 40_900, dport: 102 },
        ]
    );
    let stop = seen.iter().find(|x| matches!(x, Seen::S7 { function: Some(0x29), .. })).expect("STOP decoded");
    let Seen::S7 { frame, src, sport, dport, flow, .. } = stop else { unreachable!() };
    assert_eq!((*frame, *src, *sport, *dport), (first + 1, ATTACKER_V6, 40_900, 102));
    assert!(*flow > 0, "the STOP belongs to the connection's flow");
}

#[test]
fn an_atomic_fragment_is_decoded_alone_and_never_merged() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let (s, seg) = stop_over_ipv6(&mut tr);
    let h = Ipv6Frag { src: net::ip16(s.c.client), dst: net::ip16(s.c.server), hop: 64, id: 0xCD, next: 6 };
    // A first fragment with the same id, pending, then the whole segment as an atomic fragment.
    push6(&mut tr, &h, &[], 0, true, &[0u8; 16]);
    push6(&mut tr, &h, &[], 0, false, &seg);
    let seen = run(&tr);
    assert!(seen.iter().any(|x| matches!(x, Seen::S7 { function: Some(0x29), .. })), "{seen:?}");
    // The pending fragment is still alone at the end: incomplete, not merged.
    assert!(seen.iter().any(|x| matches!(
        x,
        Seen::Report {
            kind: "fragment_incomplete",
            issue: Issue::Incomplete { held: 16, end_of_capture: true, .. },
            ..
        }
    )));
}

#[test]
fn reports_name_the_flow_and_ports_of_the_datagram() {
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(s7sentry_pcapgen::cases::hosts::ATTACKER, 40_901, PLC1, 0x78);
    s.open(&mut tr, 1);
    let job = s7::job(0x0501, &s7::plc_stop_param(), &[]);
    let seq = s.c.next(Dir::C2S);
    let seg = s.c.segment_bytes(Dir::C2S, seq, net::PSH | net::ACK, &job);
    let base = s7sentry_pcapgen::trace::ipv4_header(&mut tr, s.c.client, s.c.server, 6, false, 0);
    let mut other = seg.clone();
    other[30] ^= 0xFF;
    for (off, more, piece) in [(0, true, &seg[..24]), (24, false, &seg[24..]), (24, false, &other[24..])] {
        tr.push_ip(&[], s.c.client, s.c.server, &net::ipv4_fragment(&base, off, more, piece));
    }
    let seen = run(&tr);
    let flow = seen
        .iter()
        .find_map(|x| match x {
            Seen::S7 { function: Some(0x29), flow, .. } => Some(*flow),
            _ => None,
        })
        .expect("STOP decoded");
    // The third fragment arrives after completion with other bytes: a new datagram, never completed.
    let Some(Seen::Report { sport, dport, flow: f, .. }) =
        seen.iter().find(|x| matches!(x, Seen::Report { kind: "fragment_incomplete", .. }))
    else {
        panic!("{seen:?}")
    };
    assert_eq!((*sport, *dport, *f), (0, 0, 0), "no first fragment: no ports, no flow");
    // An overlap before completion names the flow and the ports of its first fragment.
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(s7sentry_pcapgen::cases::hosts::ATTACKER, 40_901, PLC1, 0x78);
    s.open(&mut tr, 1);
    let base = s7sentry_pcapgen::trace::ipv4_header(&mut tr, s.c.client, s.c.server, 6, false, 0);
    for (off, more, piece) in [(0, true, &seg[..24]), (24, true, &seg[24..40]), (24, false, &other[24..])] {
        tr.push_ip(&[], s.c.client, s.c.server, &net::ipv4_fragment(&base, off, more, piece));
    }
    let seen = run(&tr);
    let Some(Seen::Report { sport, dport, flow: f, issue: Issue::Conflict { start: 30, end: 31, .. }, .. }) =
        seen.iter().find(|x| matches!(x, Seen::Report { kind: "overlap_conflict", .. }))
    else {
        panic!("{seen:?}")
    };
    assert_eq!((*sport, *dport), (40_901, 102));
    assert_eq!(*f, flow, "the report carries the TCP flow's id");
}
