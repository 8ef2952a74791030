//! Seeded random mutations of one S7 conversation that a passive sensor must see
//! through (issue 10, item 4): TCP segmentation at any byte, reordering,
//! duplication, overlapping retransmissions with identical bytes, decoys the PLC
//! drops (bad TCP checksum, a TTL that cannot reach it, out of window), SYN and
//! RST injections it ignores (RFC 5961), keep-alives, IPv4 and IPv6
//! fragmentation (with identical overlaps, with conflicting overlaps in the
//! order a first-copy or a last-copy target resolves to the original, with IPv6
//! extension headers), and a capture that starts mid-stream.
//!
//! **Invariant.** Every mutation keeps what the PLC receives equal to the
//! original conversation: the attacker's aim is that the PLC executes the
//! request. Decoys are built so the PLC drops them: a bad checksum, a TTL of 1
//! (the sensor sits at least one router before the PLC: Ptacek & Newsham's
//! insertion), a sequence number 1 GiB away from the window; a SYN with an
//! out-of-window sequence number is answered with a challenge ACK and changes
//! nothing (RFC 5961 §4), an out-of-window RST is dropped (§3). For conflicting
//! IP fragments the PLC's policy is unknown, so the class names the policy
//! under which the original wins. [`Mutated::units`] keeps every segment with
//! its [`Kind`], and [`check_plc_view`] rebuilds what the PLC receives from
//! them (a unit test runs it over many seeds).
//!
//! ```
//! use s7sentry_pcapgen::mutate::{mutate, Class, Conversation, Scenario};
//! let conv = Conversation::build(Scenario::CpuStop, false, 7);
//! let m = mutate(&conv, &[Class::Segment, Class::Ipv4Frag], 7, false);
//! assert!(m.trace.frames.len() > 10);
//! s7sentry_pcapgen::mutate::check_plc_view(&conv, &m).unwrap();
//! ```

use crate::cases::hosts::{ATTACKER, ATTACKER_V6, HMI, HMI_V6, PLC1, PLC1_V6, S7_PORT};
use crate::cases::session::POLL_ITEMS;
use crate::net::{self, Ipv4Header, Ipv6Ext, Ipv6Frag, TcpHeader, ACK, FIN, PSH, RST, SYN};
use crate::pcap::LinkType;
use crate::rng::SplitMix64;
use crate::s7;
use crate::s7plus;
use crate::trace::{ipv4_header, ttl_for, Dir, Trace};
use std::net::IpAddr;

/// The conversation a case starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// The attacker: COTP CR/CC, Setup Communication, S7comm PLC Stop (0x29) and the PLC's Ack_Data.
    CpuStop,
    /// The attacker: S7comm-plus CR/CC to SIMATIC-ROOT-ES, CreateObject, SetVariable of the
    /// operating state (object 52, attribute 2167) := 1 (STOP), and the PLC's response.
    PlusStop,
    /// The benign twin: an HMI's CR/CC, Setup Communication and three Read Var jobs with answers.
    ReadVar,
}

/// One message of the conversation (one or more TPKTs sent at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who sends it.
    pub dir: Dir,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The request the sensor must report (STOP or operating-state write).
    pub key: bool,
}

/// A client talking to a PLC on port 102.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Which scenario.
    pub scenario: Scenario,
    /// Client address.
    pub client: IpAddr,
    /// Client port.
    pub cport: u16,
    /// PLC address.
    pub server: IpAddr,
    /// Messages in order.
    pub messages: Vec<Message>,
}

impl Conversation {
    /// The conversation of `scenario` over IPv4 or IPv6, references and values drawn from `seed`.
    pub fn build(scenario: Scenario, v6: bool, seed: u64) -> Conversation {
        let mut rng = SplitMix64::new(seed ^ 0x5EED);
        let (client, server) = match (scenario, v6) {
            (Scenario::ReadVar, false) => (HMI, PLC1),
            (Scenario::ReadVar, true) => (HMI_V6, PLC1_V6),
            (_, false) => (ATTACKER, PLC1),
            (_, true) => (ATTACKER_V6, PLC1_V6),
        };
        let cport = rng.range(1025, 65_000) as u16;
        let (cref, pref) = (rng.range(1, 0x7FFF) as u16, rng.range(1, 0x7FFF) as u16);
        let mut pdu_ref = rng.range(0x100, 0x7000) as u16;
        let mut messages = Vec::new();
        let mut push = |dir, bytes: Vec<u8>, key| messages.push(Message { dir, bytes, key });
        match scenario {
            Scenario::CpuStop | Scenario::ReadVar => {
                let conn_type = if scenario == Scenario::CpuStop { 1 } else { 2 };
                let calling = [conn_type, 0x00];
                let called = s7::tsap(conn_type, 0, 1);
                push(Dir::C2S, s7::cr(cref, &calling, &called), false);
                push(Dir::S2C, s7::cc(cref, pref, &calling, &called), false);
                let setup = s7::setup_comm_param(1, 1, 480);
                push(Dir::C2S, s7::job(pdu_ref, &setup, &[]), false);
                push(Dir::S2C, s7::ack_data(pdu_ref, &setup, &[]), false);
                pdu_ref += 1;
                if scenario == Scenario::CpuStop {
                    push(Dir::C2S, s7::job(pdu_ref, &s7::plc_stop_param(), &[]), true);
                    push(Dir::S2C, s7::ack_data(pdu_ref, &[0x29], &[]), false);
                } else {
                    for _ in 0..3 {
                        let vals: Vec<Vec<u8>> = POLL_ITEMS.iter().map(|i| rng.bytes(i.value_len())).collect();
                        let refs: Vec<&[u8]> = vals.iter().map(|v| v.as_slice()).collect();
                        push(Dir::C2S, s7::read_var_job(pdu_ref, &POLL_ITEMS), false);
                        push(Dir::S2C, s7::read_var_ack(pdu_ref, &refs), false);
                        pdu_ref += 1;
                    }
                }
            }
            Scenario::PlusStop => {
                let calling = [0x06, 0x00];
                let p = [
                    (s7::param::TPDU_SIZE, &[0x0Au8][..]),
                    (s7::param::CALLING_TSAP, &calling[..]),
                    (s7::param::CALLED_TSAP, &b"SIMATIC-ROOT-ES"[..]),
                ];
                push(Dir::C2S, s7::tpkt(&s7::cotp_connect(0xE0, 0, cref, 0, &p)), false);
                push(Dir::S2C, s7::tpkt(&s7::cotp_connect(0xD0, cref, pref, 0, &p)), false);
                let session = 0x0000_0380 | rng.below(0x40) as u32;
                push(Dir::C2S, s7plus::create_object_req(1, "LAPTOP-7QK3ZP"), false);
                push(Dir::S2C, s7plus::create_object_resp(1, session, 3), false);
                push(Dir::C2S, s7plus::set_operating_state(2, session, 1), true);
                push(Dir::S2C, s7plus::set_variable_resp(2), false);
            }
        }
        Conversation { scenario, client, cport, server, messages }
    }
}

/// A mutation class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// TCP segmentation at random bytes (1-byte segments included).
    Segment,
    /// The segments of a message sent in a random order.
    Reorder,
    /// A segment repeated exactly.
    Duplicate,
    /// A retransmission overlapping earlier segments with identical bytes.
    OverlapSame,
    /// TCP keep-alive probes (one old byte just below the next sequence number) and their ACKs.
    Keepalive,
    /// The capture starts mid-stream (up to the first segment of the request).
    Midstream,
    /// A decoy segment toward the PLC with other bytes and a bad TCP checksum, before or after the real one.
    DecoyChecksum,
    /// A decoy segment with other bytes and TTL (hop limit) 1, which dies before the PLC.
    DecoyTtl,
    /// A decoy segment 1 GiB outside the receive window.
    DecoyWindow,
    /// A SYN with an out-of-window sequence number on the established connection, and the
    /// PLC's challenge ACK (RFC 5961 §4).
    SynInject,
    /// An RST with an out-of-window sequence number (RFC 5961 §3: dropped).
    RstInject,
    /// IPv4 fragments (random sizes and order); the conversation runs over IPv4.
    Ipv4Frag,
    /// IPv4 fragments plus a fragment repeating a range with identical bytes.
    Ipv4FragOverlapSame,
    /// IPv4 fragments plus a fragment with other bytes after the original (a first-copy target keeps the original).
    Ipv4FragDecoyLast,
    /// IPv4 fragments plus a fragment with other bytes before the original (a last-copy target keeps the original).
    Ipv4FragDecoyFirst,
    /// IPv6 fragments; the conversation runs over IPv6.
    Ipv6Frag,
    /// IPv6 extension headers (hop-by-hop, routing with segments left 0, destination
    /// options) on every packet, before and after the fragment header; over IPv6.
    Ipv6ExtHeaders,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 17] = [
        Class::Segment,
        Class::Reorder,
        Class::Duplicate,
        Class::OverlapSame,
        Class::Keepalive,
        Class::Midstream,
        Class::DecoyChecksum,
        Class::DecoyTtl,
        Class::DecoyWindow,
        Class::SynInject,
        Class::RstInject,
        Class::Ipv4Frag,
        Class::Ipv4FragOverlapSame,
        Class::Ipv4FragDecoyLast,
        Class::Ipv4FragDecoyFirst,
        Class::Ipv6Frag,
        Class::Ipv6ExtHeaders,
    ];

    /// Stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Class::Segment => "segment",
            Class::Reorder => "reorder",
            Class::Duplicate => "duplicate",
            Class::OverlapSame => "overlap_same",
            Class::Keepalive => "keepalive",
            Class::Midstream => "midstream",
            Class::DecoyChecksum => "decoy_checksum",
            Class::DecoyTtl => "decoy_ttl",
            Class::DecoyWindow => "decoy_window",
            Class::SynInject => "syn_inject",
            Class::RstInject => "rst_inject",
            Class::Ipv4Frag => "ipv4_frag",
            Class::Ipv4FragOverlapSame => "ipv4_frag_overlap_same",
            Class::Ipv4FragDecoyLast => "ipv4_frag_decoy_last",
            Class::Ipv4FragDecoyFirst => "ipv4_frag_decoy_first",
            Class::Ipv6Frag => "ipv6_frag",
            Class::Ipv6ExtHeaders => "ipv6_ext_headers",
        }
    }

    /// Sends something the PLC drops or ignores (never used in benign twins).
    pub const fn is_decoy(self) -> bool {
        matches!(
            self,
            Class::DecoyChecksum
                | Class::DecoyTtl
                | Class::DecoyWindow
                | Class::SynInject
                | Class::RstInject
                | Class::Ipv4FragDecoyLast
                | Class::Ipv4FragDecoyFirst
        )
    }

    /// Needs IPv4 (`Some(false)`), IPv6 (`Some(true)`), or either (`None`).
    pub const fn family(self) -> Option<bool> {
        match self {
            Class::Ipv4Frag | Class::Ipv4FragOverlapSame | Class::Ipv4FragDecoyLast | Class::Ipv4FragDecoyFirst => {
                Some(false)
            }
            Class::Ipv6Frag | Class::Ipv6ExtHeaders => Some(true),
            _ => None,
        }
    }

    /// The class called `name`.
    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What a segment is, for the PLC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Handshake, data or close of the conversation.
    Real,
    /// Bytes the PLC already has or will get, identical (duplicate, overlapping retransmission).
    Copy,
    /// A keep-alive probe or the ACK answering it.
    Keepalive,
    /// Other bytes with a bad TCP checksum (dropped).
    DecoyChecksum,
    /// Other bytes with TTL 1 (never reaches the PLC).
    DecoyTtl,
    /// Other bytes far outside the window (dropped).
    DecoyWindow,
    /// An out-of-window SYN (answered with a challenge ACK, no state change).
    Syn,
    /// The PLC's challenge ACK.
    ChallengeAck,
    /// An out-of-window RST (dropped).
    Rst,
}

/// One TCP segment of a mutated capture, before IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Sender.
    pub dir: Dir,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags.
    pub flags: u8,
    /// Payload.
    pub payload: Vec<u8>,
    /// What it is.
    pub kind: Kind,
    /// Index of the message it carries bytes of.
    pub msg: Option<usize>,
    /// Frames (1-based, in the trace) that carry it; empty when cut by [`Class::Midstream`].
    pub frames: Vec<usize>,
}

/// A mutated capture.
#[derive(Debug, Clone)]
pub struct Mutated {
    /// The capture (Ethernet).
    pub trace: Trace,
    /// The TCP segments in sending order, with their frames.
    pub units: Vec<Unit>,
    /// Whether the conversation runs over IPv6.
    pub v6: bool,
    /// Client initial sequence number.
    pub c_isn: u32,
    /// Server initial sequence number.
    pub s_isn: u32,
}

/// The classes of a random mix drawn from `allowed`: each with probability 1/3,
/// all of one address family (drawn when both occur), at least one class.
pub fn random_mix(rng: &mut SplitMix64, allowed: &[Class]) -> Vec<Class> {
    let v6 = rng.below(2) == 1;
    let fits: Vec<Class> = allowed.iter().copied().filter(|c| c.family().is_none_or(|f| f == v6)).collect();
    let mut mix: Vec<Class> = fits.iter().copied().filter(|_| rng.below(3) == 0).collect();
    if mix.is_empty() && !fits.is_empty() {
        mix.push(fits[rng.below(fits.len() as u64) as usize]);
    }
    mix
}

fn shuffle<T>(rng: &mut SplitMix64, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// Bytes that differ from `orig` everywhere (so a decoy always conflicts).
fn other_bytes(rng: &mut SplitMix64, orig: &[u8]) -> Vec<u8> {
    orig.iter().map(|b| b ^ (1 + rng.below(255) as u8)).collect()
}

const fn idx(d: Dir) -> usize {
    match d {
        Dir::C2S => 0,
        Dir::S2C => 1,
    }
}

/// Mutate `conv` with `classes`, from `seed`. In a `benign` twin no fragment is
/// tiny (the first carries the whole TCP header and the IPv6 header chain), as
/// a router's or a sender's path-MTU fragmentation never is; decoy classes are
/// the caller's to leave out.
pub fn mutate(conv: &Conversation, classes: &[Class], seed: u64, benign: bool) -> Mutated {
    let mut rng = SplitMix64::new(seed);
    let has = |c: Class| classes.contains(&c);
    let v6 = conv.client.is_ipv6();
    let (c_isn, s_isn) = (rng.next_u32(), rng.next_u32());
    let mut next = [c_isn.wrapping_add(1), s_isn.wrapping_add(1)];
    let unit = |dir, seq, ack, flags, payload: Vec<u8>, kind, msg| Unit {
        dir,
        seq,
        ack,
        flags,
        payload,
        kind,
        msg,
        frames: Vec::new(),
    };
    let mut units = vec![
        unit(Dir::C2S, c_isn, 0, SYN, Vec::new(), Kind::Real, None),
        unit(Dir::S2C, s_isn, next[0], SYN | ACK, Vec::new(), Kind::Real, None),
        unit(Dir::C2S, next[0], next[1], ACK, Vec::new(), Kind::Real, None),
    ];
    // Gap (µs) before each unit: the PLC's processing time before its answers.
    let mut gaps = vec![0u64; 3];
    for (i, m) in conv.messages.iter().enumerate() {
        let d = idx(m.dir);
        if has(Class::Keepalive) && rng.below(3) == 0 {
            let k = rng.below(2) as usize;
            let isn = [c_isn, s_isn][k];
            if next[k] != isn.wrapping_add(1) {
                let dir = if k == 0 { Dir::C2S } else { Dir::S2C };
                units.push(unit(dir, next[k].wrapping_sub(1), next[1 - k], ACK, vec![0], Kind::Keepalive, None));
                units.push(unit(dir.rev(), next[1 - k], next[k], ACK, Vec::new(), Kind::Keepalive, None));
                gaps.extend([rng.range(1_000, 50_000), 200]);
            }
        }
        if has(Class::SynInject) && rng.below(3) == 0 {
            units.push(unit(Dir::C2S, next[0].wrapping_add(0x8000_0000), 0, SYN, Vec::new(), Kind::Syn, None));
            units.push(unit(Dir::S2C, next[1], next[0], ACK, Vec::new(), Kind::ChallengeAck, None));
            gaps.extend([100, 150]);
        }
        if has(Class::RstInject) && rng.below(3) == 0 {
            let seq = next[0].wrapping_add(0x4000_0000 + rng.below(0x1000_0000) as u32);
            units.push(unit(Dir::C2S, seq, next[1], RST | ACK, Vec::new(), Kind::Rst, None));
            gaps.push(100);
        }
        let len = m.bytes.len();
        let mut cuts: Vec<usize> = Vec::new();
        if has(Class::Segment) && len > 1 {
            for _ in 0..rng.range(1, 4) {
                cuts.push(rng.range(1, len as u64 - 1) as usize);
            }
            cuts.sort_unstable();
            cuts.dedup();
        }
        let (base, ack) = (next[d], next[1 - d]);
        let mut mu: Vec<Unit> = Vec::new();
        let mut s = 0;
        for &c in cuts.iter().chain(std::iter::once(&len)) {
            let flags = if c == len { PSH | ACK } else { ACK };
            mu.push(unit(m.dir, base.wrapping_add(s as u32), ack, flags, m.bytes[s..c].to_vec(), Kind::Real, Some(i)));
            s = c;
        }
        if has(Class::Reorder) && mu.len() > 1 {
            shuffle(&mut rng, &mut mu);
        }
        if has(Class::OverlapSame) && rng.below(2) == 0 && len > 1 {
            let a = rng.below(len as u64 - 1) as usize;
            let b = rng.range(a as u64 + 1, len as u64) as usize;
            let at = rng.below(mu.len() as u64 + 1) as usize;
            mu.insert(
                at,
                unit(m.dir, base.wrapping_add(a as u32), ack, ACK, m.bytes[a..b].to_vec(), Kind::Copy, Some(i)),
            );
        }
        if has(Class::Duplicate) && rng.below(2) == 0 {
            let at = rng.below(mu.len() as u64) as usize;
            let mut dup = mu[at].clone();
            dup.kind = Kind::Copy;
            mu.insert(at + 1, dup);
        }
        for (class, kind) in [
            (Class::DecoyChecksum, Kind::DecoyChecksum),
            (Class::DecoyTtl, Kind::DecoyTtl),
            (Class::DecoyWindow, Kind::DecoyWindow),
        ] {
            // Decoys go toward the PLC (it is the PLC that drops them).
            if has(class) && m.dir == Dir::C2S && (m.key || rng.below(3) == 0) {
                let reals: Vec<usize> = (0..mu.len()).filter(|&j| mu[j].kind == Kind::Real).collect();
                let r = reals[rng.below(reals.len() as u64) as usize];
                let mut decoy = mu[r].clone();
                decoy.payload = other_bytes(&mut rng, &decoy.payload);
                decoy.kind = kind;
                if kind == Kind::DecoyWindow {
                    decoy.seq = decoy.seq.wrapping_add(0x4000_0000);
                }
                let at = if rng.below(2) == 0 { r } else { r + 1 };
                mu.insert(at, decoy);
            }
        }
        let delay = if m.dir == Dir::S2C { rng.range(1_200, 4_500) } else { rng.range(1_000, 30_000) };
        gaps.push(delay);
        gaps.extend(std::iter::repeat_n(40, mu.len() - 1));
        units.extend(mu);
        next[d] = next[d].wrapping_add(len as u32);
    }
    units.push(unit(Dir::C2S, next[0], next[1], FIN | ACK, Vec::new(), Kind::Real, None));
    units.push(unit(Dir::S2C, next[1], next[0].wrapping_add(1), FIN | ACK, Vec::new(), Kind::Real, None));
    units.push(unit(Dir::C2S, next[0].wrapping_add(1), next[1].wrapping_add(1), ACK, Vec::new(), Kind::Real, None));
    gaps.extend([200_000, 300, 40]);

    // First unit of the key request (the benign twin: of its last request): the
    // capture may start no later than it.
    let key_msg = conv.messages.iter().position(|m| m.key).unwrap_or(conv.messages.len().saturating_sub(2));
    let key_first = units.iter().position(|u| u.msg == Some(key_msg)).unwrap_or(1);
    let start = if has(Class::Midstream) { rng.range(1, key_first.max(1) as u64) as usize } else { 0 };

    let mut w = Wire { tr: Trace::new(LinkType::Ethernet), rng, conv, classes, benign, v6 };
    for (n, u) in units.iter_mut().enumerate() {
        w.tr.wait_us(gaps.get(n).copied().unwrap_or(40));
        if n >= start {
            u.frames = w.emit(u);
        }
    }
    let mut trace = w.tr;
    // Frames before the cut were never written; the clock still moved.
    trace.step_ns = 40_000;
    Mutated { trace, units, v6, c_isn, s_isn }
}

/// Writes units as frames.
struct Wire<'a> {
    tr: Trace,
    rng: SplitMix64,
    conv: &'a Conversation,
    classes: &'a [Class],
    benign: bool,
    v6: bool,
}

impl Wire<'_> {
    fn has(&self, c: Class) -> bool {
        self.classes.contains(&c)
    }

    /// The TCP segment of `u`, checksum over the pseudo header (broken for a checksum decoy).
    fn segment(&self, u: &Unit) -> Vec<u8> {
        let c = self.conv;
        let (src, sport, dst, dport) = match u.dir {
            Dir::C2S => (c.client, c.cport, c.server, S7_PORT),
            Dir::S2C => (c.server, S7_PORT, c.client, c.cport),
        };
        let window = if u.dir == Dir::C2S { 64_240 } else { 8_192 };
        let h = TcpHeader { sport, dport, seq: u.seq, ack: u.ack, flags: u.flags, window, data_offset: 5 };
        let mut seg = Vec::with_capacity(20 + u.payload.len());
        net::push_tcp(&mut seg, src, dst, &h, &u.payload);
        if u.kind == Kind::DecoyChecksum {
            seg[16] ^= 0x5A;
        }
        seg
    }

    /// Write one unit; returns the frame numbers.
    fn emit(&mut self, u: &Unit) -> Vec<usize> {
        let (src, dst) = match u.dir {
            Dir::C2S => (self.conv.client, self.conv.server),
            Dir::S2C => (self.conv.server, self.conv.client),
        };
        let hop = if u.kind == Kind::DecoyTtl { 1 } else { ttl_for(src) };
        let seg = self.segment(u);
        let frag_classes = [
            Class::Ipv4Frag,
            Class::Ipv4FragOverlapSame,
            Class::Ipv4FragDecoyLast,
            Class::Ipv4FragDecoyFirst,
            Class::Ipv6Frag,
        ];
        let fragment = !u.payload.is_empty()
            && frag_classes.iter().any(|&c| self.has(c))
            && (u.msg.is_some_and(|i| self.conv.messages[i].key) || self.rng.below(2) == 0);
        let first = self.tr.next_no();
        let exts = self.exts();
        if !fragment {
            let p = if self.v6 {
                let mut p = Vec::new();
                let plen = net::ipv6_exts_len(&exts) + seg.len();
                let nh = exts.first().map_or(net::IPPROTO_TCP, |e| e.kind);
                net::push_ipv6(&mut p, net::ip16(src), net::ip16(dst), nh, hop, plen as u16, 0);
                net::push_ipv6_exts(&mut p, &exts, net::IPPROTO_TCP);
                p.extend_from_slice(&seg);
                p
            } else {
                let mut p = Vec::new();
                let h = self.v4_header(src, dst, hop, true, seg.len());
                net::push_ipv4(&mut p, &h);
                p.extend_from_slice(&seg);
                p
            };
            self.tr.push_ip(&[], src, dst, &p);
            return vec![first];
        }
        // The fragmentable part: for IPv6 maybe destination options before TCP.
        let mut part = Vec::new();
        let inner = self.has(Class::Ipv6ExtHeaders) && self.rng.below(2) == 0;
        if self.v6 && inner {
            net::push_ipv6_exts(&mut part, &[Ipv6Ext::dest_opts(self.rng.below(2) as usize)], net::IPPROTO_TCP);
        }
        let head = part.len() + 20;
        part.extend_from_slice(&seg);
        let frags = self.plan(&part, head, u.dir == Dir::C2S);
        let n = frags.len();
        if self.v6 {
            let next = if inner { net::IPV6_DEST_OPTS } else { net::IPPROTO_TCP };
            let h = Ipv6Frag { src: net::ip16(src), dst: net::ip16(dst), hop, id: self.rng.next_u32(), next };
            for (off, more, bytes) in frags {
                self.tr.push_ip(&[], src, dst, &net::ipv6_fragment(&h, &exts, off, more, &bytes));
            }
        } else {
            let h = self.v4_header(src, dst, hop, false, 0);
            for (off, more, bytes) in frags {
                self.tr.push_ip(&[], src, dst, &net::ipv4_fragment(&h, off, more, &bytes));
            }
        }
        (first..first + n).collect()
    }

    fn v4_header(&mut self, src: IpAddr, dst: IpAddr, ttl: u8, df: bool, len: usize) -> Ipv4Header {
        Ipv4Header { ttl, ..ipv4_header(&mut self.tr, src, dst, net::IPPROTO_TCP, df, len) }
    }

    /// Unfragmentable IPv6 extension headers for one packet (none unless the class is on).
    fn exts(&mut self) -> Vec<Ipv6Ext> {
        let mut v = Vec::new();
        if !self.v6 || !self.has(Class::Ipv6ExtHeaders) {
            return v;
        }
        if self.rng.below(2) == 0 {
            v.push(Ipv6Ext::hop_by_hop());
        }
        if self.rng.below(2) == 0 {
            v.push(Ipv6Ext::routing_done());
        }
        if self.rng.below(2) == 0 || v.is_empty() {
            v.push(Ipv6Ext::dest_opts(self.rng.below(2) as usize));
        }
        v
    }

    /// Fragments `(offset, more, bytes)` of `part` in sending order: random sizes
    /// (multiples of 8; in a benign twin the first holds the `head` bytes of
    /// headers), random order, and the overlap classes' extra fragments (a
    /// packet left in one piece gets none; decoys only `toward_plc`).
    fn plan(&mut self, part: &[u8], head: usize, toward_plc: bool) -> Vec<(usize, bool, Vec<u8>)> {
        let len = part.len();
        let mut cuts = Vec::new();
        let mut off = 0;
        while off < len {
            let min = if off == 0 && self.benign { head.div_ceil(8) as u64 } else { 1 };
            let max = (len / 16).clamp(1, 8) as u64;
            let size = 8 * self.rng.range(min, max.max(min)) as usize;
            let end = (off + size).min(len);
            cuts.push((off, end));
            off = end;
        }
        let mut frags: Vec<(usize, bool, Vec<u8>)> =
            cuts.iter().map(|&(a, b)| (a, b < len, part[a..b].to_vec())).collect();
        if self.rng.below(2) == 0 {
            shuffle(&mut self.rng, &mut frags);
        }
        if frags.len() < 2 {
            return frags;
        }
        if self.has(Class::Ipv4FragOverlapSame) && self.rng.below(2) == 0 {
            let a = 8 * self.rng.below(len.div_ceil(8) as u64) as usize;
            // A benign sender's repeated first fragment is as long as its first.
            let min = if a == 0 && self.benign { head.div_ceil(8) as u64 } else { 1 };
            let b = (a + 8 * self.rng.range(min, min.max(4)) as usize).min(len);
            let at = self.rng.below(frags.len() as u64 + 1) as usize;
            frags.insert(at, (a, b < len, part[a..b].to_vec()));
        }
        let last = self.has(Class::Ipv4FragDecoyLast);
        let first = self.has(Class::Ipv4FragDecoyFirst);
        if (last || first) && toward_plc {
            // Copy fragment `i` (never the last one sent) with other bytes, after it
            // (a first-copy target keeps the original) or before it (a last-copy
            // target does), but before the last fragment: it must arrive while the
            // datagram is incomplete, and must never be what completes it.
            let i = self.rng.below(frags.len() as u64 - 1) as usize;
            let (a, more, bytes) = frags[i].clone();
            let decoy = (a, more, other_bytes(&mut self.rng, &bytes));
            let at = if last { self.rng.range(i as u64 + 1, frags.len() as u64 - 1) as usize } else { i };
            if !completes(&frags[..at], &decoy, len) {
                frags.insert(at, decoy);
            }
        }
        frags
    }
}

/// Whether fragment `f`, arriving after `before`, completes a datagram of `len` bytes.
fn completes(before: &[(usize, bool, Vec<u8>)], f: &(usize, bool, Vec<u8>), len: usize) -> bool {
    let mut have = vec![false; len];
    for (a, _, b) in before.iter().chain(std::iter::once(f)) {
        have[*a..a + b.len()].iter_mut().for_each(|x| *x = true);
    }
    have.iter().all(|&x| x)
}

/// What the PLC receives from a mutated capture, rebuilt from its units (not
/// from the capture): per direction, the bytes of every segment it accepts in
/// sequence order; decoys, SYN, challenge ACK and RST must change nothing, and
/// every copy and keep-alive must repeat bytes already or later delivered.
/// `Err` names the first difference from the conversation.
pub fn check_plc_view(conv: &Conversation, m: &Mutated) -> Result<(), String> {
    for dir in [Dir::C2S, Dir::S2C] {
        let isn = if dir == Dir::C2S { m.c_isn } else { m.s_isn };
        let want: Vec<u8> = conv.messages.iter().filter(|x| x.dir == dir).flat_map(|x| x.bytes.clone()).collect();
        let mut got: Vec<Option<u8>> = vec![None; want.len()];
        for u in m.units.iter().filter(|u| u.dir == dir && !u.payload.is_empty()) {
            let rel = u.seq.wrapping_sub(isn.wrapping_add(1)) as usize;
            match u.kind {
                Kind::Real | Kind::Copy => {
                    for (k, b) in u.payload.iter().enumerate() {
                        let Some(slot) = got.get_mut(rel + k) else {
                            return Err(format!("{dir:?}: {:?} segment beyond the data at {}", u.kind, rel + k));
                        };
                        if want[rel + k] != *b {
                            return Err(format!("{dir:?}: {:?} segment changes byte {}", u.kind, rel + k));
                        }
                        *slot = Some(*b);
                    }
                }
                // A probe repeats one byte below the next sequence number: old data
                // the PLC has acknowledged and discards.
                Kind::Keepalive if rel >= want.len() => {
                    return Err(format!("{dir:?}: keep-alive beyond the data at {rel}"));
                }
                Kind::Keepalive => {}
                Kind::DecoyChecksum
                | Kind::DecoyTtl
                | Kind::DecoyWindow
                | Kind::Syn
                | Kind::ChallengeAck
                | Kind::Rst => {}
            }
        }
        if let Some(i) = got.iter().position(Option::is_none) {
            return Err(format!("{dir:?}: byte {i} never delivered"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mix_keeps_the_plc_view() {
        let mut rng = SplitMix64::new(1);
        for seed in 0..600u64 {
            let scenario = [Scenario::CpuStop, Scenario::PlusStop, Scenario::ReadVar][(seed % 3) as usize];
            let classes = random_mix(&mut rng, &Class::ALL);
            let v6 = classes.iter().any(|c| c.family() == Some(true));
            let conv = Conversation::build(scenario, v6, seed);
            let m = mutate(&conv, &classes, seed, scenario == Scenario::ReadVar);
            check_plc_view(&conv, &m).unwrap_or_else(|e| panic!("seed {seed} {classes:?}: {e}"));
            assert!(
                m.units.iter().any(|u| u.msg.is_some_and(|i| conv.messages[i].key) && !u.frames.is_empty())
                    || scenario == Scenario::ReadVar
            );
        }
    }

    #[test]
    fn names_round_trip_and_families() {
        for c in Class::ALL {
            assert_eq!(Class::from_name(c.name()), Some(c));
        }
        let mut rng = SplitMix64::new(3);
        for _ in 0..200 {
            let mix = random_mix(&mut rng, &Class::ALL);
            assert!(!mix.is_empty());
            let fams: Vec<bool> = mix.iter().filter_map(|c| c.family()).collect();
            assert!(fams.windows(2).all(|w| w[0] == w[1]), "{mix:?}");
        }
    }

    #[test]
    fn fragments_rebuild_the_segment() {
        // IPv4 fragments, with a decoy after the original: the first copy of every byte is the original.
        let conv = Conversation::build(Scenario::CpuStop, false, 5);
        let m = mutate(&conv, &[Class::Ipv4Frag, Class::Ipv4FragDecoyLast], 5, false);
        let key = m.units.iter().find(|u| u.msg.is_some_and(|i| conv.messages[i].key)).unwrap();
        assert!(key.frames.len() > 2, "the key segment is fragmented");
        let mut first: Vec<Option<u8>> = vec![None; 20 + key.payload.len()];
        for &f in &key.frames {
            let d = &m.trace.frames[f - 1].data[14..];
            let off = usize::from(u16::from_be_bytes([d[6], d[7]]) & 0x1FFF) * 8;
            for (k, b) in d[20..].iter().enumerate() {
                first[off + k].get_or_insert(*b);
            }
        }
        let seg: Vec<u8> = first.into_iter().map(|b| b.unwrap()).collect();
        assert_eq!(&seg[20..], &key.payload[..]);
    }
}
