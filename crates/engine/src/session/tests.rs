//! Unit tests of the session layer with real frames (capture and frame named on each).

use super::*;
use crate::time::Ts;
use std::net::{IpAddr, Ipv4Addr};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

/// What the session layer handed on, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Cotp,
    S7 { rosctr: u8 },
    Plus { continuation: bool, function: Option<u16>, message: Option<Msg> },
    Tls { first: bool },
    Finding(Layer, FindingKind),
}

/// A message handed on with an S7comm-plus frame.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    fragments: u32,
    truncated: bool,
    opcode: Option<u8>,
    function: Option<u16>,
    seq: Option<u16>,
    body_len: usize,
    operating_state: Option<i64>,
}

#[derive(Default)]
struct Collect(Vec<Seen>);

impl EventSink for Collect {
    fn on_event(&mut self, e: &Event<'_>) {
        self.0.push(match *e {
            Event::Cotp { .. } => Seen::Cotp,
            Event::S7 { pdu, .. } => Seen::S7 { rosctr: pdu.header.rosctr.0 },
            Event::S7Plus { frame, continuation, message, .. } => Seen::Plus {
                continuation,
                function: frame.function.map(|f| f.0),
                message: message.map(|m| Msg {
                    fragments: m.fragments,
                    truncated: m.truncated,
                    opcode: m.frame.opcode.map(|o| o.0),
                    function: m.frame.function.map(|f| f.0),
                    seq: m.frame.seq,
                    body_len: m.frame.body.len(),
                    operating_state: m.frame.operating_state_request(),
                }),
            },
            Event::Tls { first, .. } => Seen::Tls { first },
            Event::Finding { finding, .. } => Seen::Finding(finding.layer, finding.kind),
            _ => return,
        });
    }
}

const C2S: Direction = Direction::ToServer;
const S2C: Direction = Direction::ToClient;

/// Feed whole TPKTs of one connection; returns what came out and the flow facts.
fn run(cfg: &EngineConfig, tpkts: &[(Direction, Vec<u8>)]) -> (Vec<Seen>, FlowFlags, Stats) {
    let (client, plc) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    let mut stats = Stats::default();
    let mut flags = FlowFlags::default();
    let mut dirs = [CotpDir::default(), CotpDir::default()];
    let mut sink = Collect::default();
    for (i, (dir, t)) in tpkts.iter().enumerate() {
        let m = Meta {
            frame: i as u64 + 1,
            ts: Ts(0),
            src: client,
            sport: 50_000,
            dst: plc,
            dport: 102,
            flow: 1,
            flow_start: Ts(0),
            dir: C2S,
        };
        let m = if *dir == C2S { m } else { m.reversed() };
        let d = &mut dirs[usize::from(*dir == S2C)];
        on_tpkt(cfg, &mut stats, &mut flags, d, m, t, &mut sink);
    }
    (sink.0, flags, stats)
}

/// A TPKT + COTP DT (EOT) around `payload`.
fn dt(payload: &[u8]) -> Vec<u8> {
    let mut t = vec![3, 0];
    t.extend_from_slice(&((payload.len() + 7) as u16).to_be_bytes());
    t.extend_from_slice(&[2, 0xf0, 0x80]);
    t.extend_from_slice(payload);
    t
}

/// An S7comm-plus frame around `data`, with or without the trailer.
fn plus(version: u8, data: &[u8], trailer: bool) -> Vec<u8> {
    let mut p = vec![0x72, version];
    p.extend_from_slice(&(data.len() as u16).to_be_bytes());
    p.extend_from_slice(data);
    if trailer {
        p.extend_from_slice(&[0x72, version, 0, 0]);
    }
    dt(&p)
}

/// iti__modbusBig.pcap frames 496 and 504 (PLC 10.235.149.240 to 10.235.149.95:49456):
/// an Explore response (V2, sequence 2727) in two S7comm-plus frames, the first
/// 1 008 data bytes without trailer, the second 136 continuation bytes with it.
const EXPLORE_1: &str = "030003ff02f080720203f432000004bb00000aa7340000000001a10000000da3421000a381690015184e6f6e50657273697374656e74436f6e6e656374696f6e73a39315000500a39316000400a3932f00048417a39e73000801a39e71000800a3a03c000807a3a03e00030000a39e74000800a39e72000806a1100000649e7c84801000a38169001511436f6e6e456e645f323638343335353536a39315000500a39316000400a39f1d00140000a39f1e000800a39f1f000800a39f20000800a39f21000100a39f2300030000a39f24000400a39f25000484f705a39f260004f69038a39f27000401a39f28000804a39f29000804a3a03d000809a3a03f00030000a3a363401400a1100000669f068480109f0100a3816900150744657369726564a39e7f00030000a39f00000801a3a03000140000a39f0b001700001065a066000803a0680014000000a3a05f001200000000a39f0700140000a39f0800140000a39f09001700001065a066000803a0680014000000a39f0a00140000a2a1100000679f068480109f0101a3816900150641637475616ca39e7f00030001a39f00000801a3a03000140000a39f0b001700001065a066000800a0680014000000a3a05f001200000000a39f070014000f53494d415449432d524f4f542d4553a39f0800140000a39f09001700001065a066000803a06800140004c0a800f100a39f0a001400020600a2a1100000659e7784801000a3816900151c4170706c4173736f63696174696f6e456e645f323638343335353537a39315000500a39316000400a39f1d00140000a39f1e000800a39f1f000800a39f20000800a39f21000100a39f2300030000a39f24000400a39f25000484f705a39f260004f69038a39f27000401a39f28000804a39f29000804a3a03d000808a3a03f00030000a1100000689f188480109f1000a3816900150744657369726564a39f0f000801a39f1900030000a39f1a00030000a39f1b000400a2a1100000699f188480109f1001a3816900150641637475616ca39f0f000801a39f1900030000a39f1a00030000a39f1b000400a2a2a2a11000006b9e7c84801000a3816900151254434f4e5f436f6e6e456e645f3030303031a39315000500a39316000400a39f1d00140000a39f1e000800a39f1f000800a39f20000800a39f21000101a39f2300030001a39f24000400a39f25000490c0c53ca39f260004d4c028a39f27000403a39f28000804a39f29000803a3a03d000809a3a03f00030000a3a363401400a11000006c9f028480109f0100a3816900150744657369726564a39e7f00030001a39f00000801a3a03000140000a39f0b001700001065a066000803a0680014000000a3a05f001200000040a39f0300030000a39f04001700001065a066000803a0680014";
const EXPLORE_2: &str = "0300009702f080720200880004c0a8000200a39f05000301f6a2a11000006d9f028480109f0101a3816900150641637475616ca39e7f00030001a39f00000801a3a03000140000a39f0b001700001065a066000803a0680014000000a3a05f001200000040a39f030003c04aa39f04001700001065a066000803a06800140004c0a8000200a39f05000301f6a2a2a20000000072020000";

#[test]
fn real_fragmented_explore_response_is_one_message() {
    let (seen, _, stats) = run(&EngineConfig::default(), &[(S2C, hex(EXPLORE_1)), (S2C, hex(EXPLORE_2))]);
    let explore = Some(0x04BB);
    assert_eq!(seen[0], Seen::Plus { continuation: false, function: explore, message: None });
    let Seen::Plus { continuation: true, function: None, message: Some(m) } = &seen[1] else { panic!("{seen:?}") };
    assert_eq!((m.fragments, m.truncated, m.opcode, m.function, m.seq), (2, false, Some(0x32), explore, Some(2727)));
    // Both bodies joined: the first frame's data and the second's (trailer excluded).
    let (a, b) = (hex(EXPLORE_1), hex(EXPLORE_2));
    assert_eq!(m.body_len, (a.len() - 7 - 4) + (b.len() - 7 - 8));
    assert_eq!(seen.len(), 2, "no finding: {seen:?}");
    assert_eq!((stats.s7plus_frames, stats.s7plus_fragments, stats.s7plus_cap_hits), (2, 1, 0));
}

/// agentcarter1__s71200_OnlineStopStart.pcapng frames 10 and 14 (PLC to TIA Portal):
/// a system event (72 FE, never a trailer), then a whole V3 notification.
const SYSTEM_EVENT: &str = "0300001b02f08072fe0010000000000000180d0000000000000000";
const NOTIFICATION: &str = "0300004402f080720300352085c8ea4686565fd30b0b380eaee6217263fe42d34c077a860579058ce6bb5eaa337040000804000000000000812803000000000072030000";

#[test]
fn system_event_does_not_start_a_continuation() {
    let (seen, _, _) = run(&EngineConfig::default(), &[(S2C, hex(SYSTEM_EVENT)), (S2C, hex(NOTIFICATION))]);
    let Seen::Plus { continuation: false, message: Some(m), .. } = &seen[1] else { panic!("{seen:?}") };
    assert_eq!((m.fragments, m.opcode), (1, Some(0x33)));
}

/// The ISF S7-1200 stop frame's data (research/advisories-and-wire-format.md §2.4).
const STOP_DATA: &str = "31 0000 04f2 0000 0001 00000394 34 00000034 01 9077 00 08 01
    000004e8 8969 0012 00000000 896a 0013 00 896b 0004 00 00 00 00000000";

#[test]
fn split_write_is_classified_as_one_message() {
    let d = hex(STOP_DATA);
    // Header and object id, then the attribute's first VLQ byte, then the rest.
    let tpkts = [(C2S, plus(2, &d[..18], false)), (C2S, plus(2, &d[18..19], false)), (C2S, plus(2, &d[19..], true))];
    let (seen, _, stats) = run(&EngineConfig::default(), &tpkts);
    assert_eq!(seen.len(), 3);
    assert!(matches!(&seen[0], Seen::Plus { continuation: false, function: Some(0x04F2), message: None }));
    assert!(matches!(&seen[1], Seen::Plus { continuation: true, function: None, message: None }));
    let Seen::Plus { message: Some(m), .. } = &seen[2] else { panic!("{seen:?}") };
    assert_eq!((m.fragments, m.operating_state, m.seq), (3, Some(1), Some(1)));
    assert_eq!(stats.s7plus_fragments, 2);
    // A frame on its own with the same first part does not decode the write.
    let (seen, _, _) = run(&EngineConfig::default(), &[(C2S, plus(2, &d[..18], true))]);
    let Seen::Plus { message: Some(m), .. } = &seen[0] else { panic!() };
    assert_eq!(m.operating_state, None);
}

#[test]
fn reassembly_cap_keeps_the_head() {
    let d = hex(STOP_DATA);
    let mut filler = d[..18].to_vec();
    filler.extend_from_slice(&[0x01, 0x90, 0x77, 0x00, 0x08, 0x01]);
    let padding = vec![0u8; 300];
    let cfg = EngineConfig { max_s7plus_reassembly: 100, ..EngineConfig::default() };
    // The addresses fit under the cap: the write is known, the message marked cut, no finding.
    let tpkts = [(C2S, plus(2, &filler, false)), (C2S, plus(2, &padding, false)), (C2S, plus(2, &padding, true))];
    let (seen, _, stats) = run(&cfg, &tpkts);
    let Seen::Plus { message: Some(m), .. } = &seen[2] else { panic!("{seen:?}") };
    assert_eq!((m.truncated, m.operating_state, m.body_len), (true, Some(1), 100));
    assert_eq!(stats.s7plus_cap_hits, 1, "one hit per message");
    assert!(!seen.iter().any(|s| matches!(s, Seen::Finding(..))));
    // Cut before the addresses: the write cannot be decoded, which is a finding.
    let cfg = EngineConfig { max_s7plus_reassembly: 16, ..EngineConfig::default() };
    let tpkts = [(C2S, plus(2, &d[..10], false)), (C2S, plus(2, &d[10..], true))];
    let (seen, _, _) = run(&cfg, &tpkts);
    assert_eq!(seen.last(), Some(&Seen::Finding(Layer::S7commPlus, FindingKind::FragmentOverflow)));
}

/// gen_s7commplus_v1.pcap frames 8 and 9: InitSSL request and the emulator's
/// acceptance (return value 0); gen_s7commplus_v2_tls.pcap frame 10: the start of
/// the ClientHello that followed it (16 03 01, handshake type 1).
const INIT_SSL_REQ: &str = "7201001231000005b30000000000000000300000000072010000";
const INIT_SSL_RESP: &str = "7201000f32000005b30000000000000000000072010000";
const CLIENT_HELLO: &str = "16030100d8010000d40303c8755a29e44f6afb33c6261ebc702450d4c1ed4ca2b41a31523d62330ec376b4";

#[test]
fn tls_only_after_accepted_init_ssl_and_a_handshake_record() {
    let cfg = EngineConfig::default();
    let req = dt(&hex(INIT_SSL_REQ));
    let ok = dt(&hex(INIT_SSL_RESP));
    let hello = dt(&hex(CLIENT_HELLO));
    let app = dt(&[0x17, 0x03, 0x03, 0x00, 0x04, 1, 2, 3, 4]);
    // Accepted, ClientHello: TLS from there on, both directions.
    let (seen, flags, _) =
        run(&cfg, &[(C2S, req.clone()), (S2C, ok.clone()), (C2S, hello.clone()), (S2C, app.clone())]);
    assert!(flags.init_ssl_accepted && flags.tls);
    assert_eq!(&seen[2..], &[Seen::Tls { first: true }, Seen::Tls { first: false }]);
    // Refused (return value 0x8104): a record-looking DT is not TLS, the next S7comm-plus frame decodes.
    let mut refused = hex(INIT_SSL_RESP);
    refused[14..15].copy_from_slice(&[0x82]);
    refused.insert(15, 0x82);
    refused.insert(16, 0x04);
    refused[3] += 2;
    let (seen, flags, _) =
        run(&cfg, &[(C2S, req.clone()), (S2C, dt(&refused)), (C2S, app.clone()), (C2S, hello.clone())]);
    assert!(flags.init_ssl && !flags.init_ssl_accepted && !flags.tls);
    assert_eq!(seen[2], Seen::Finding(Layer::S7comm, FindingKind::UnknownProtocol));
    assert!(!seen.iter().any(|s| matches!(s, Seen::Tls { .. })));
    // Accepted, but what follows is not a handshake record: not TLS.
    let (seen, flags, _) = run(&cfg, &[(C2S, req.clone()), (S2C, ok.clone()), (C2S, app)]);
    assert!(flags.init_ssl_accepted && !flags.tls);
    assert_eq!(seen[2], Seen::Finding(Layer::S7comm, FindingKind::UnknownProtocol));
    // An acceptance for another sequence number, or from the client, accepts nothing.
    let mut other = hex(INIT_SSL_RESP);
    other[12] = 9;
    let (_, flags, _) = run(&cfg, &[(C2S, req.clone()), (S2C, dt(&other)), (C2S, hello.clone())]);
    assert!(!flags.init_ssl_accepted && !flags.tls);
    let (_, flags, _) = run(&cfg, &[(C2S, req), (C2S, ok), (C2S, hello)]);
    assert!(!flags.init_ssl_accepted && !flags.tls);
}

/// wireshark-wiki__s7comm_downloading_block_db1.pcap frame 6: Connect Confirm with TPDU size 1024 (C0 01 0A).
const CC_1024: &str = "0300001611d00007000300c0010ac1020100c2020102";

#[test]
fn tpdu_longer_than_negotiated_is_a_finding() {
    let cfg = EngineConfig::default();
    // A Read Var job (its items do not matter here), then the same padded past 1 024 bytes.
    let mut s7 = hex("32 01 0000 0100 000e 0000 | 04 01 12 0a 10 02 0004 0001 84 000000");
    let ok = dt(&s7);
    s7.resize(s7.len() + 1100, 0);
    let long = dt(&s7);
    let (seen, flags, _) = run(&cfg, &[(S2C, hex(CC_1024)), (C2S, ok.clone()), (C2S, long.clone())]);
    assert_eq!(flags.tpdu_size, Some(1024));
    let too_long = Seen::Finding(Layer::Cotp, FindingKind::TpduTooLong);
    assert_eq!(seen.iter().filter(|s| **s == too_long).count(), 1, "{seen:?}");
    // Without a negotiated size (no CC seen) nothing is assumed.
    let (seen, _, _) = run(&cfg, &[(C2S, ok), (C2S, long)]);
    assert!(!seen.contains(&Seen::Finding(Layer::Cotp, FindingKind::TpduTooLong)));
}

/// wireshark-wiki__s7comm_reading_setting_plc_time.pcap frames 43 and 44: set clock
/// request (type/group 0x47) and its response (0x87).
const SET_CLOCK: &str = "0300002702f080320700000c000008000e0001120411470200ff09000a00191408201159330400";
const SET_CLOCK_RESP: &str = "0300002102f080320700000c00000c00040001120812870201000000000a000000";

#[test]
fn client_userdata_not_typed_request_is_a_finding() {
    let cfg = EngineConfig::default();
    let (seen, _, _) = run(&cfg, &[(C2S, hex(SET_CLOCK)), (S2C, hex(SET_CLOCK_RESP))]);
    assert_eq!(seen, vec![Seen::S7 { rosctr: 7 }, Seen::S7 { rosctr: 7 }]);
    for nibble in [0x07u8, 0x87, 0xC7] {
        let mut req = hex(SET_CLOCK);
        req[22] = nibble;
        let (seen, _, _) = run(&cfg, &[(C2S, req)]);
        assert_eq!(seen, vec![Seen::S7 { rosctr: 7 }, Seen::Finding(Layer::S7comm, FindingKind::UnexpectedType)]);
    }
}
