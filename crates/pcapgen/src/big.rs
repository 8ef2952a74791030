//! Streamed benchmark captures: millions of frames written straight to a
//! [`PacketSink`], built from precomputed TPKT/COTP/S7 templates whose PDU
//! reference and values are patched per frame. Memory use does not grow with
//! the frame count.
//!
//! * [`Kind::Benign`]: 50 HMIs (10.10.2.1–50) each polling 2 of 20 PLCs
//!   (10.10.1.1–20): 100 connections, one poll per connection every 200 ms
//!   (Read Var; Write Var every fifth cycle; Read SZL 0x0011 every 50th), about 10 % of
//!   PDUs split over two TCP segments.
//! * [`Kind::Mixed`]: the same, with an attack episode from 10.10.9.99 woven in
//!   roughly every 5 000 frames (CPU stop, SZL reconnaissance, password guessing,
//!   SYN burst, write burst, TCP data offset 4, COTP DR with extra bytes,
//!   S7comm-plus stop), rotating through the list.
//! * [`Kind::SynFlood`]: spoofed SYNs from random sources in 198.18.0.0/15 to
//!   port 102 of 4 PLCs (10.10.1.1–4), 100 000 per second.
//! * [`Kind::OooFlood`]: the hostile held-segment capture ([`OooFlood`]): flows
//!   from 10.20.x.y to port 102 of 10.10.1.10, each a handshake and then
//!   out-of-order data segments that never get their first byte, round-robin
//!   across the flows so that every flow holds at once (the engine's held-segment
//!   memory measurements).

use crate::cases::session::POLL_ITEMS;
use crate::net::{self, Ipv4Header, TcpHeader, ACK, PSH, SYN};
use crate::pcap::{LinkType, PacketSink};
use crate::rng::SplitMix64;
use crate::s7::{self, AnyItem};
use crate::s7plus;
use crate::trace::{Dir, Piece, TcpConn, Trace, START_NS};
use std::io;
use std::net::{IpAddr, Ipv4Addr};

/// Which benchmark capture to stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Benign plant traffic.
    Benign,
    /// Benign traffic with attack episodes woven in.
    Mixed,
    /// Spoofed SYN flood.
    SynFlood,
    /// Out-of-order segments that are never completed, with [`OooFlood::default`].
    OooFlood,
}

impl Kind {
    /// Parse `benign`, `mixed`, `synflood` or `ooo-flood`.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "benign" => Some(Kind::Benign),
            "mixed" => Some(Kind::Mixed),
            "synflood" => Some(Kind::SynFlood),
            "ooo-flood" => Some(Kind::OooFlood),
            _ => None,
        }
    }

    /// Default frame count of this kind (2 000 000, 10 000 000 for the SYN
    /// flood, all frames of [`OooFlood::default`] for the out-of-order flood).
    pub fn default_frames(self) -> u64 {
        match self {
            Kind::SynFlood => 10_000_000,
            Kind::OooFlood => OooFlood::default().frames(),
            _ => 2_000_000,
        }
    }
}

/// Stream `frames` frames of `kind` (Ethernet link type) into `sink`. Returns the count written.
pub fn generate<S: PacketSink>(sink: &mut S, kind: Kind, frames: u64) -> io::Result<u64> {
    match kind {
        Kind::SynFlood => syn_flood(sink, frames),
        Kind::Benign => Plant::new(false).run(sink, frames),
        Kind::Mixed => Plant::new(true).run(sink, frames),
        Kind::OooFlood => ooo_flood(sink, OooFlood::default(), frames),
    }
}

/// Shape of the out-of-order flood ([`Kind::OooFlood`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OooFlood {
    /// Connections (client 10.(20 + i / 65 536).(i / 256 % 256).(i % 256), port 20 000 + i % 40 000).
    pub flows: u32,
    /// Data segments per connection, all held (the first byte never arrives).
    pub segments: u32,
    /// Bytes per segment.
    pub size: u16,
}

impl Default for OooFlood {
    /// 2 000 flows x 40 segments x 1 000 bytes (32 segments held per flow at the default caps).
    fn default() -> OooFlood {
        OooFlood { flows: 2_000, segments: 40, size: 1_000 }
    }
}

impl OooFlood {
    /// Frames of the whole capture: 3 handshake frames and `segments` per flow.
    pub fn frames(&self) -> u64 {
        u64::from(self.flows) * (3 + u64::from(self.segments))
    }
}

/// Stream the out-of-order flood `p` (at most `frames` frames): every
/// handshake first, then segment k of every flow, then k + 1, ...; 20 µs apart.
pub fn ooo_flood<S: PacketSink>(sink: &mut S, p: OooFlood, frames: u64) -> io::Result<u64> {
    let mut out = Out { sink, buf: Vec::with_capacity(1600), seg: Vec::with_capacity(1600), written: 0, limit: frames };
    let plc = Ipv4Addr::new(10, 10, 1, 10);
    let client = |i: u32| Ipv4Addr::new(10, (20 + (i >> 16)) as u8, (i >> 8) as u8, i as u8);
    let sport = |i: u32| 20_000 + (i % 40_000) as u16;
    let payload: Vec<u8> = (0..usize::from(p.size)).map(|b| b as u8).collect();
    let mut ts = START_NS;
    let h = |sport: u16, dport: u16, seq: u32, ack: u32, flags: u8| TcpHeader {
        sport,
        dport,
        seq,
        ack,
        flags,
        window: 64_240,
        data_offset: 5,
    };
    for i in 0..p.flows {
        let (c, sp) = (client(i), sport(i));
        for (src, dst, hd) in [
            (c, plc, h(sp, 102, 1000, 0, SYN)),
            (plc, c, h(102, sp, 5000, 1001, SYN | ACK)),
            (c, plc, h(sp, 102, 1001, 5001, ACK)),
        ] {
            ts += 20_000;
            out.tcp4(ts, src, dst, 0, 64, &hd, &[])?;
        }
        if out.full() {
            return Ok(out.written);
        }
    }
    for k in 0..p.segments {
        for i in 0..p.flows {
            // Byte 1001 never arrives: every segment is held.
            let seq = 1002u32.wrapping_add(k.wrapping_mul(u32::from(p.size)));
            ts += 20_000;
            out.tcp4(ts, client(i), plc, 0, 64, &h(sport(i), 102, seq, 5001, ACK), &payload)?;
            if out.full() {
                return Ok(out.written);
            }
        }
    }
    Ok(out.written)
}

/// Reusable frame buffer with a frame counter and a limit.
struct Out<'a, S: PacketSink> {
    sink: &'a mut S,
    buf: Vec<u8>,
    seg: Vec<u8>,
    written: u64,
    limit: u64,
}

impl<S: PacketSink> Out<'_, S> {
    fn full(&self) -> bool {
        self.written >= self.limit
    }

    /// Build Ethernet + IPv4 + TCP around `payload` and write it.
    #[allow(clippy::too_many_arguments)]
    fn tcp4(
        &mut self,
        ts: u64,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        id: u16,
        ttl: u8,
        h: &TcpHeader,
        payload: &[u8],
    ) -> io::Result<()> {
        if self.full() {
            return Ok(());
        }
        self.seg.clear();
        net::push_tcp(&mut self.seg, IpAddr::V4(src), IpAddr::V4(dst), h, payload);
        self.buf.clear();
        net::push_ethernet(&mut self.buf, net::mac_for(dst.into()), net::mac_for(src.into()), &[], net::ETHERTYPE_IPV4);
        let ih = Ipv4Header {
            src: src.octets(),
            dst: dst.octets(),
            id,
            ttl,
            protocol: net::IPPROTO_TCP,
            df: true,
            mf: false,
            frag_offset: 0,
            payload_len: self.seg.len() as u16,
        };
        net::push_ipv4(&mut self.buf, &ih);
        self.buf.extend_from_slice(&self.seg);
        self.sink.write_packet(ts, &self.buf)?;
        self.written += 1;
        Ok(())
    }

    /// Write a frame built elsewhere (attack episodes).
    fn raw(&mut self, ts: u64, data: &[u8]) -> io::Result<()> {
        if self.full() {
            return Ok(());
        }
        self.sink.write_packet(ts, data)?;
        self.written += 1;
        Ok(())
    }
}

fn syn_flood<S: PacketSink>(sink: &mut S, frames: u64) -> io::Result<u64> {
    let mut out = Out { sink, buf: Vec::with_capacity(128), seg: Vec::with_capacity(64), written: 0, limit: frames };
    let mut rng = SplitMix64::new(0x5EED_F100D);
    let plcs: Vec<Ipv4Addr> = (1..=4).map(|i| Ipv4Addr::new(10, 10, 1, i)).collect();
    let mut ts = START_NS;
    while !out.full() {
        let r = rng.next_u64();
        let src = Ipv4Addr::from(0xC612_0000u32 | (r as u32 & 0x0001_FFFF));
        let dst = plcs[((r >> 20) & 3) as usize];
        let h = TcpHeader {
            sport: 1024 + ((r >> 24) as u16 % 64_511),
            dport: 102,
            seq: (r >> 32) as u32,
            ack: 0,
            flags: SYN,
            window: 512,
            data_offset: 5,
        };
        out.tcp4(ts, src, dst, (r >> 40) as u16, 64, &h, &[])?;
        ts += 10_000;
    }
    Ok(out.written)
}

/// One HMI–PLC connection of the plant.
struct Conn {
    client: Ipv4Addr,
    server: Ipv4Addr,
    cport: u16,
    c_seq: u32,
    s_seq: u32,
    c_id: u16,
    s_id: u16,
    pdu_ref: u16,
    cotp_c: u16,
    cotp_s: u16,
}

/// Templates patched per frame.
struct Templates {
    read_job: Vec<u8>,
    read_ack: Vec<u8>,
    write_job: Vec<u8>,
    write_ack: Vec<u8>,
    szl_req: Vec<u8>,
    szl_resp: Vec<u8>,
}

/// Offset of the PDU reference inside a TPKT + COTP DT + S7 frame.
const REF_OFF: usize = 7 + 4;

fn patch_ref(frame: &mut [u8], r: u16) {
    frame[REF_OFF..REF_OFF + 2].copy_from_slice(&r.to_be_bytes());
}

struct Plant {
    mixed: bool,
    conns: Vec<Conn>,
    t: Templates,
    rng: SplitMix64,
    frame: Vec<u8>,
}

const SLOT_NS: u64 = 2_000_000;

impl Plant {
    fn new(mixed: bool) -> Self {
        let mut rng = SplitMix64::new(if mixed { 0xB16_313D } else { 0xB16_BE19 });
        let mut conns = Vec::new();
        for h in 0..50u8 {
            for j in 0..2u8 {
                let plc = (h * 2 + j * 7) % 20 + 1;
                conns.push(Conn {
                    client: Ipv4Addr::new(10, 10, 2, h + 1),
                    server: Ipv4Addr::new(10, 10, 1, plc),
                    cport: 49_200 + u16::from(j),
                    c_seq: rng.next_u32(),
                    s_seq: rng.next_u32(),
                    c_id: rng.next_u32() as u16,
                    s_id: rng.next_u32() as u16,
                    pdu_ref: 0x0100,
                    cotp_c: rng.range(1, 0x7FFF) as u16,
                    cotp_s: rng.range(1, 0x7FFF) as u16,
                });
            }
        }
        let v32 = [0u8; 32];
        let v4 = [0u8; 4];
        let t = Templates {
            read_job: s7::read_var_job(0, &POLL_ITEMS),
            read_ack: s7::read_var_ack(0, &[&v32, &v4]),
            write_job: s7::write_var_job(0, &[AnyItem::db_word(1, 4)], &[&[0, 0]]),
            write_ack: s7::write_var_ack(0, 1),
            szl_req: s7::szl_req(0, 1, 0x0011, 0),
            szl_resp: s7::szl_resp(
                0,
                1,
                0x0011,
                0,
                28,
                &s7::szl_0011_records(crate::cases::hosts::ORDER_NO, crate::cases::hosts::FIRMWARE),
            ),
        };
        Self { mixed, conns, t, rng, frame: Vec::with_capacity(512) }
    }

    /// Send `payload` on connection `k` in direction `d` at `ts`; 10 % of sends are split in two segments.
    fn send<S: PacketSink>(&mut self, out: &mut Out<'_, S>, ts: u64, k: usize, d: Dir) -> io::Result<u64> {
        let len = self.frame.len();
        let split = len > 2 && self.rng.below(10) == 0;
        let cut = if split { 1 + self.rng.below(len as u64 - 1) as usize } else { len };
        let c = &mut self.conns[k];
        let (src, dst, sp, dp, seq, ack, win, ttl) = match d {
            Dir::C2S => (c.client, c.server, c.cport, 102, c.c_seq, c.s_seq, 64240, 128),
            Dir::S2C => (c.server, c.client, 102, c.cport, c.s_seq, c.c_seq, 8192, 30),
        };
        let mut ts = ts;
        let mut start = 0;
        for end in [cut, len] {
            if end <= start {
                continue;
            }
            let flags = if end == len { PSH | ACK } else { ACK };
            let h = TcpHeader {
                sport: sp,
                dport: dp,
                seq: seq.wrapping_add(start as u32),
                ack,
                flags,
                window: win,
                data_offset: 5,
            };
            let id = match d {
                Dir::C2S => {
                    c.c_id = c.c_id.wrapping_add(1);
                    c.c_id
                }
                Dir::S2C => {
                    c.s_id = c.s_id.wrapping_add(1);
                    c.s_id
                }
            };
            out.tcp4(ts, src, dst, id, ttl, &h, &self.frame[start..end])?;
            ts += 15_000;
            start = end;
        }
        match d {
            Dir::C2S => c.c_seq = c.c_seq.wrapping_add(len as u32),
            Dir::S2C => c.s_seq = c.s_seq.wrapping_add(len as u32),
        }
        Ok(ts)
    }

    fn ctrl<S: PacketSink>(
        &mut self,
        out: &mut Out<'_, S>,
        ts: u64,
        k: usize,
        d: Dir,
        flags: u8,
        seq_off: u32,
    ) -> io::Result<()> {
        let c = &mut self.conns[k];
        let h = match d {
            Dir::C2S => TcpHeader {
                sport: c.cport,
                dport: 102,
                seq: c.c_seq.wrapping_add(seq_off),
                ack: c.s_seq,
                flags,
                window: 64240,
                data_offset: 5,
            },
            Dir::S2C => TcpHeader {
                sport: 102,
                dport: c.cport,
                seq: c.s_seq.wrapping_add(seq_off),
                ack: c.c_seq,
                flags,
                window: 8192,
                data_offset: 5,
            },
        };
        let (src, dst, ttl) = match d {
            Dir::C2S => (c.client, c.server, 128),
            Dir::S2C => (c.server, c.client, 30),
        };
        c.c_id = c.c_id.wrapping_add(1);
        let id = c.c_id;
        out.tcp4(ts, src, dst, id, ttl, &h, &[])
    }

    /// Handshake, CR/CC and Setup Communication on connection `k` starting at `ts`.
    fn open<S: PacketSink>(&mut self, out: &mut Out<'_, S>, ts: u64, k: usize) -> io::Result<()> {
        // SYN (seq = ISN), SYN-ACK, ACK; the stored sequence numbers are the ISNs.
        let c = &mut self.conns[k];
        let (cisn, sisn) = (c.c_seq, c.s_seq);
        let h = TcpHeader { sport: c.cport, dport: 102, seq: cisn, ack: 0, flags: SYN, window: 64240, data_offset: 5 };
        let (cl, sv) = (c.client, c.server);
        out.tcp4(ts, cl, sv, 1, 128, &h, &[])?;
        let h = TcpHeader {
            sport: 102,
            dport: c.cport,
            seq: sisn,
            ack: cisn.wrapping_add(1),
            flags: SYN | ACK,
            window: 8192,
            data_offset: 5,
        };
        out.tcp4(ts + 150_000, sv, cl, 1, 30, &h, &[])?;
        c.c_seq = cisn.wrapping_add(1);
        c.s_seq = sisn.wrapping_add(1);
        self.ctrl(out, ts + 180_000, k, Dir::C2S, ACK, 0)?;
        let c = &self.conns[k];
        let (calling, called) = ([2u8, 0], s7::tsap(2, 0, 1));
        let cr = s7::cr(c.cotp_c, &calling, &called);
        let cc = s7::cc(c.cotp_c, c.cotp_s, &calling, &called);
        self.frame = cr;
        let t = self.send(out, ts + 250_000, k, Dir::C2S)?;
        self.frame = cc;
        let t = self.send(out, t + 200_000, k, Dir::S2C)?;
        let r = self.next_ref(k);
        self.frame = s7::job(r, &s7::setup_comm_param(1, 1, 480), &[]);
        let t = self.send(out, t + 100_000, k, Dir::C2S)?;
        self.frame = s7::ack_data(r, &s7::setup_comm_param(1, 1, 480), &[]);
        self.send(out, t + 200_000, k, Dir::S2C)?;
        Ok(())
    }

    fn next_ref(&mut self, k: usize) -> u16 {
        let c = &mut self.conns[k];
        let r = c.pdu_ref;
        c.pdu_ref = c.pdu_ref.wrapping_add(1);
        r
    }

    /// One request/answer pair from templates; returns the time after the answer.
    fn exchange<S: PacketSink>(&mut self, out: &mut Out<'_, S>, ts: u64, k: usize, which: u8) -> io::Result<u64> {
        let r = self.next_ref(k);
        let (q, a) = match which {
            0 => (&self.t.read_job, &self.t.read_ack),
            1 => (&self.t.write_job, &self.t.write_ack),
            _ => (&self.t.szl_req, &self.t.szl_resp),
        };
        let (q, a) = (q.clone(), a.clone());
        self.frame.clear();
        self.frame.extend_from_slice(&q);
        patch_ref(&mut self.frame, r);
        if which == 1 {
            let n = self.frame.len();
            self.frame[n - 2..].copy_from_slice(&r.to_be_bytes());
        }
        let t = self.send(out, ts, k, Dir::C2S)?;
        self.frame.clear();
        self.frame.extend_from_slice(&a);
        patch_ref(&mut self.frame, r);
        if which == 0 {
            // Patch a few process values so answers differ.
            let v = self.rng.next_u64().to_be_bytes();
            // The last 8 bytes of DB1.DBB0's 32 data bytes (then come MB0's item header and 4 bytes).
            let n = self.frame.len();
            self.frame[n - 16..n - 8].copy_from_slice(&v);
        }
        let d = 100_000 + self.rng.below(250_000);
        self.send(out, t + d, k, Dir::S2C)
    }

    fn run<S: PacketSink>(mut self, sink: &mut S, frames: u64) -> io::Result<u64> {
        let mut out =
            Out { sink, buf: Vec::with_capacity(2048), seg: Vec::with_capacity(2048), written: 0, limit: frames };
        let n = self.conns.len();
        let mut shift = 0u64;
        let mut next_episode = 5_000u64;
        let mut episode = 0u32;
        let mut cycle = 0u64;
        while !out.full() {
            for k in 0..n {
                let ts = START_NS + shift + (cycle * n as u64 + k as u64) * SLOT_NS;
                if cycle == 0 {
                    self.open(&mut out, ts, k)?;
                    continue;
                }
                let t = self.exchange(&mut out, ts, k, 0)?;
                let t = if cycle % 5 == 4 { self.exchange(&mut out, t + 20_000, k, 1)? } else { t };
                if (cycle + k as u64) % 50 == 7 {
                    self.exchange(&mut out, t + 20_000, k, 2)?;
                }
                if out.full() {
                    break;
                }
                if self.mixed && out.written >= next_episode {
                    let start = ts + SLOT_NS;
                    let used = self.episode(&mut out, start, episode)?;
                    shift += used + SLOT_NS;
                    episode += 1;
                    next_episode = out.written + 5_000;
                }
            }
            cycle += 1;
        }
        Ok(out.written)
    }

    /// Write attack episode number `e` starting at `start`; returns its duration in ns.
    fn episode<S: PacketSink>(&mut self, out: &mut Out<'_, S>, start: u64, e: u32) -> io::Result<u64> {
        let tr = attack_episode(e, self.rng.next_u64());
        let first = tr.frames.first().map_or(START_NS, |f| f.ts_ns);
        let mut last = 0;
        for f in &tr.frames {
            let ts = start + (f.ts_ns - first);
            out.raw(ts, &f.data)?;
            last = ts - start;
        }
        Ok(last)
    }
}

/// Attack episode `e` (rotating through 8 kinds) as a small in-memory trace from 10.10.9.99
/// to PLC 10.10.1.(1 + e % 20).
pub fn attack_episode(e: u32, seed: u64) -> Trace {
    use crate::cases::session::Session;
    let attacker: IpAddr = Ipv4Addr::new(10, 10, 9, 99).into();
    let plc: IpAddr = Ipv4Addr::new(10, 10, 1, 1 + (e % 20) as u8).into();
    let port = 40_000 + (e % 20_000) as u16;
    let mut tr = Trace::new(LinkType::Ethernet);
    let mut s = Session::new(attacker, port, plc, seed);
    match e % 8 {
        0 => {
            s.connect(&mut tr, 1);
            s.job(&mut tr, &s7::plc_stop_param(), &[0x29]);
            s.close_fin(&mut tr);
        }
        1 => {
            s.connect(&mut tr, 1);
            s.szl_0011(&mut tr);
            s.szl_001c(&mut tr);
            s.close_fin(&mut tr);
        }
        2 => {
            s.connect(&mut tr, 1);
            for pw in ["admin", "1234", "siemens", "s7-1500"] {
                let (r, q) = (s.next_ref(), s.next_seq());
                s.xchg(&mut tr, &s7::password_req(r, q, pw), &s7::password_resp(r, q, 0xD602));
            }
            s.close_fin(&mut tr);
        }
        3 => {
            let mut rng = SplitMix64::new(seed);
            for _ in 0..50 {
                let mut c = TcpConn::new(
                    crate::cases::hosts::spoofed(rng.next_u32()),
                    rng.range(1024, 65535) as u16,
                    plc,
                    102,
                    rng.next_u32(),
                    0,
                );
                c.syn(&mut tr);
                tr.wait_us(300);
            }
        }
        4 => {
            s.connect(&mut tr, 1);
            for i in 0..50u16 {
                s.write(&mut tr, &[AnyItem::db_word(1, 4)], &[&i.to_be_bytes()]);
            }
            s.close_fin(&mut tr);
        }
        5 => {
            s.handshake(&mut tr);
            let p = s7::cr(0x0051, &[1, 0], &[1, 1]);
            s.c.raw_segment(&mut tr, Dir::C2S, s.c.c_next, s.c.s_next, PSH | ACK, &p[..8], 4);
            s.c.rst(&mut tr, Dir::C2S);
        }
        6 => {
            s.connect(&mut tr, 1);
            let junk = s.values(16);
            let dr = s7::dr(s.cotp_plc, s.cotp_client, 0x80, &[0xE0, 0x02, 0, 0], &junk);
            s.send(&mut tr, &dr);
            s.c.rst(&mut tr, Dir::S2C);
        }
        _ => {
            s.open_plus(&mut tr, "SIMATIC-ROOT-ES");
            s.create_object(&mut tr, "LAPTOP-7QK3ZP");
            let (seq, sess) = (s.next_plus_seq(), s.plus_session);
            let q = s7plus::set_operating_state(seq, sess, 1);
            s.c.send_plan(&mut tr, Dir::C2S, &q, &[Piece::seg(0, 10), Piece::seg(10, q.len())]);
            s.answer(&mut tr, &s7plus::set_variable_resp(seq));
            s.close_fin(&mut tr);
        }
    }
    tr
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(u64, u64);
    impl PacketSink for Count {
        fn write_packet(&mut self, ts: u64, _d: &[u8]) -> io::Result<()> {
            assert!(ts >= self.1, "timestamps never go back");
            self.1 = ts;
            self.0 += 1;
            Ok(())
        }
    }

    #[test]
    fn exact_frame_counts_and_monotonic_time() {
        for k in [Kind::Benign, Kind::Mixed, Kind::SynFlood, Kind::OooFlood] {
            let mut c = Count(0, 0);
            let n = generate(&mut c, k, 30_000).unwrap();
            assert_eq!(n, 30_000);
            assert_eq!(c.0, 30_000);
        }
    }
}
