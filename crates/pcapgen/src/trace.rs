//! In-memory traces for the small cases, and a TCP connection builder that keeps
//! sequence and acknowledgement numbers right (RFC 9293 §3.4) while letting a case
//! split, reorder, repeat, alter or drop segments.
//!
//! A [`Trace`] owns a clock (nanoseconds since the Unix epoch, starting at
//! [`START_NS`] = 2026-01-01T00:00:00Z) and a list of link-layer frames. A
//! [`TcpConn`] knows its two endpoints and next sequence numbers and appends
//! frames to a trace; every frame advances the clock by [`Trace::step_ns`].

use crate::net::{self, Ipv4Header, TcpHeader, VlanTag, ACK, FIN, PSH, RST, SYN};
use crate::pcap::{AnyWriter, Format, LinkType, PacketSink};
use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

/// 2026-01-01T00:00:00Z in nanoseconds since the Unix epoch: the first timestamp of every case.
pub const START_NS: u64 = 1_767_225_600 * 1_000_000_000;

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Link-layer bytes.
    pub data: Vec<u8>,
}

/// Time to live a host of this address uses: PLCs (10.10.1.0/24) 30 as S7 CPUs do,
/// the attacker (10.10.9.0/24) 64 like Linux, everything else 128 like Windows.
pub fn ttl_for(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(v) if v.octets()[..3] == [10, 10, 1] => 30,
        IpAddr::V4(v) if v.octets()[..3] == [10, 10, 9] => 64,
        IpAddr::V6(_) => 64,
        _ => 128,
    }
}

/// A capture being built in memory.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Link-layer type of every frame.
    pub link: LinkType,
    /// Frames in capture order.
    pub frames: Vec<Frame>,
    /// Current clock, nanoseconds since the Unix epoch.
    pub now_ns: u64,
    /// Clock advance after each frame (default 40 µs).
    pub step_ns: u64,
    /// Addresses of the capturing host (for the SLL packet-type field).
    pub local: Vec<IpAddr>,
    /// Descriptions of frame ranges, for the case README.
    pub notes: Vec<Note>,
    ip_ids: BTreeMap<IpAddr, u16>,
}

/// A description of the frames `first..=last` (1-based, as tshark numbers them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// First frame described.
    pub first: usize,
    /// Last frame described.
    pub last: usize,
    /// What happens in those frames.
    pub text: String,
}

impl Trace {
    /// Empty trace of this link type, clock at [`START_NS`].
    pub fn new(link: LinkType) -> Self {
        Self {
            link,
            frames: Vec::new(),
            now_ns: START_NS,
            step_ns: 40_000,
            local: Vec::new(),
            notes: Vec::new(),
            ip_ids: BTreeMap::new(),
        }
    }

    /// Empty trace whose clock starts `offset_ms` after [`START_NS`].
    pub fn at(link: LinkType, offset_ms: u64) -> Self {
        let mut t = Self::new(link);
        t.wait_ms(offset_ms);
        t
    }

    /// Describe the frames from `first` (a [`next_no`](Self::next_no) taken before writing them)
    /// to the last frame written. Nothing is recorded when no frame was written.
    pub fn note(&mut self, first: usize, text: impl Into<String>) {
        let last = self.last_no();
        if last >= first {
            self.notes.push(Note { first, last, text: text.into() });
        }
    }

    /// Interleave several traces by timestamp (stable: equal times keep part order, then
    /// frame order). Notes are carried over; a note's range becomes the lowest and highest
    /// merged number of the frames it covered. Link type and local addresses come from the first part.
    pub fn merge(parts: Vec<Trace>) -> Trace {
        let mut keys: Vec<(u64, usize, usize)> = Vec::new();
        for (p, t) in parts.iter().enumerate() {
            for (i, f) in t.frames.iter().enumerate() {
                keys.push((f.ts_ns, p, i));
            }
        }
        keys.sort();
        let mut map: Vec<Vec<usize>> = parts.iter().map(|t| vec![0; t.frames.len()]).collect();
        for (n, &(_, p, i)) in keys.iter().enumerate() {
            map[p][i] = n + 1;
        }
        let mut out = Trace::new(parts[0].link);
        out.local = parts[0].local.clone();
        for &(_, p, i) in &keys {
            out.frames.push(parts[p].frames[i].clone());
        }
        for (p, t) in parts.iter().enumerate() {
            for n in &t.notes {
                let nums = &map[p][n.first - 1..n.last];
                let first = *nums.iter().min().unwrap_or(&0);
                let last = *nums.iter().max().unwrap_or(&0);
                out.notes.push(Note { first, last, text: n.text.clone() });
            }
        }
        out.notes.sort_by_key(|n| (n.first, n.last));
        out.now_ns = out.frames.last().map_or(START_NS, |f| f.ts_ns);
        out
    }

    /// 1-based number of the frame that the next push will write (as tshark counts).
    pub fn next_no(&self) -> usize {
        self.frames.len() + 1
    }

    /// Number of the last frame written.
    pub fn last_no(&self) -> usize {
        self.frames.len()
    }

    /// Advance the clock by `ms` milliseconds.
    pub fn wait_ms(&mut self, ms: u64) {
        self.now_ns += ms * 1_000_000;
    }

    /// Advance the clock by `us` microseconds.
    pub fn wait_us(&mut self, us: u64) {
        self.now_ns += us * 1_000;
    }

    /// Next IPv4 identification value of a host (per-host counter, deterministic start).
    pub fn next_ip_id(&mut self, src: IpAddr) -> u16 {
        let b = net::ip16(src);
        let e = self.ip_ids.entry(src).or_insert_with(|| u16::from_be_bytes([b[14], b[15]]).wrapping_mul(251));
        *e = e.wrapping_add(1);
        *e
    }

    /// Append a raw link-layer frame at the current time.
    pub fn push_raw(&mut self, data: Vec<u8>) {
        self.frames.push(Frame { ts_ns: self.now_ns, data });
        self.now_ns += self.step_ns;
    }

    /// Wrap an IP packet (IPv4 or IPv6, chosen by `src`) in this trace's link layer and append it.
    /// `tags` are VLAN tags (Ethernet only; ignored by the other link types).
    pub fn push_ip(&mut self, tags: &[VlanTag], src: IpAddr, dst: IpAddr, ip_packet: &[u8]) {
        let mut out = Vec::with_capacity(ip_packet.len() + 24);
        wrap_link(&mut out, self.link, tags, src, dst, &self.local);
        out.extend_from_slice(ip_packet);
        self.push_raw(out);
    }

    /// Serialise the trace in format `f`.
    pub fn to_bytes(&self, f: Format) -> io::Result<Vec<u8>> {
        let mut w = AnyWriter::new(Vec::new(), self.link, f)?;
        for fr in &self.frames {
            w.write_packet(fr.ts_ns, &fr.data)?;
        }
        w.into_inner()
    }
}

/// Write the link-layer header for a packet `src -> dst` into `out`.
/// For the cooked (SLL) types the packet type is 4 (sent by us) when `src` is in `local`,
/// 0 (to us) when `dst` is, and 3 (to another host) otherwise.
pub fn wrap_link(out: &mut Vec<u8>, link: LinkType, tags: &[VlanTag], src: IpAddr, dst: IpAddr, local: &[IpAddr]) {
    let et = if src.is_ipv4() { net::ETHERTYPE_IPV4 } else { net::ETHERTYPE_IPV6 };
    let pkttype = if local.contains(&src) {
        4
    } else if local.contains(&dst) {
        0
    } else {
        3
    };
    match link {
        LinkType::Ethernet => net::push_ethernet(out, net::mac_for(dst), net::mac_for(src), tags, et),
        LinkType::LinuxSll => net::push_sll(out, pkttype, net::mac_for(src), et),
        LinkType::LinuxSll2 => net::push_sll2(out, et, 2, pkttype as u8, net::mac_for(src)),
        LinkType::RawIp => {}
        // AF_INET 2; AF_INET6 as Windows numbers it (23).
        LinkType::Null => out.extend_from_slice(&(if src.is_ipv4() { 2u32 } else { 23 }).to_le_bytes()),
    }
}

/// IPv4 header fields of a packet from `src` to `dst` (both IPv4): the host's next
/// identification and TTL, no fragment offset, DF as given, `payload_len` bytes (0 for the
/// base of fragments). Panics on IPv6 addresses.
pub fn ipv4_header(tr: &mut Trace, src: IpAddr, dst: IpAddr, proto: u8, df: bool, payload_len: usize) -> Ipv4Header {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
        panic!("an IPv4 header needs IPv4 endpoints");
    };
    Ipv4Header {
        src: s.octets(),
        dst: d.octets(),
        id: tr.next_ip_id(src),
        ttl: ttl_for(src),
        protocol: proto,
        df,
        mf: false,
        frag_offset: 0,
        payload_len: payload_len as u16,
    }
}

/// Build an IP packet (header + `payload`) from `src` to `dst`; IPv4 gets DF and the host's next id.
pub fn ip_packet(tr: &mut Trace, src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(payload.len() + 40);
    match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => {
            let h = ipv4_header(tr, src, dst, proto, true, payload.len());
            net::push_ipv4(&mut p, &h);
        }
        (s, d) => net::push_ipv6(&mut p, net::ip16(s), net::ip16(d), proto, ttl_for(s), payload.len() as u16, 0),
    }
    p.extend_from_slice(payload);
    p
}

/// Direction of a segment on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client (initiator) to server (PLC, port 102).
    C2S,
    /// Server to client.
    S2C,
}

impl Dir {
    /// The other direction.
    pub const fn rev(self) -> Dir {
        match self {
            Dir::C2S => Dir::S2C,
            Dir::S2C => Dir::C2S,
        }
    }
}

/// One piece of a planned send (see [`TcpConn::send_plan`]): the byte range
/// `start..end` of the message, sent as is, sent with other bytes, or left out of the capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// First byte of the range, relative to the message.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Bytes to put on the wire instead of the message's own (same length or not).
    pub replace: Option<Vec<u8>>,
    /// Leave this segment out of the capture (the sender did send it).
    pub omit: bool,
}

impl Piece {
    /// Segment carrying bytes `start..end` of the message.
    pub fn seg(start: usize, end: usize) -> Self {
        Self { start, end, replace: None, omit: false }
    }
    /// Segment at offset `start` carrying `bytes` instead of the message's own bytes.
    pub fn alt(start: usize, bytes: Vec<u8>) -> Self {
        Self { start, end: start + bytes.len(), replace: Some(bytes), omit: false }
    }
    /// Segment `start..end` that the sender sent but the capture missed.
    pub fn gap(start: usize, end: usize) -> Self {
        Self { start, end, replace: None, omit: true }
    }
}

/// A TCP connection between a client and a server, with sequence bookkeeping.
///
/// Every data-bearing method advances the sender's next sequence number by the
/// message length; every segment acknowledges all bytes the other side has sent
/// so far (as if they all arrived, also those a case leaves out of the capture).
#[derive(Debug, Clone)]
pub struct TcpConn {
    /// Client address.
    pub client: IpAddr,
    /// Client port.
    pub cport: u16,
    /// Server address.
    pub server: IpAddr,
    /// Server port (102).
    pub sport: u16,
    /// VLAN tags on every frame of this connection (outermost first).
    pub tags: Vec<VlanTag>,
    /// Client initial sequence number.
    pub c_isn: u32,
    /// Server initial sequence number.
    pub s_isn: u32,
    /// Next client sequence number.
    pub c_next: u32,
    /// Next server sequence number.
    pub s_next: u32,
    /// Client receive window.
    pub c_win: u16,
    /// Server receive window.
    pub s_win: u16,
    /// Largest payload per segment when a send is not split by the caller.
    pub mss: usize,
}

impl TcpConn {
    /// New connection; nothing is sent yet. Sequence numbers start at the ISNs
    /// (call [`handshake`](Self::handshake), or [`established`](Self::established) for a capture without one).
    pub fn new(client: IpAddr, cport: u16, server: IpAddr, sport: u16, c_isn: u32, s_isn: u32) -> Self {
        Self {
            client,
            cport,
            server,
            sport,
            tags: Vec::new(),
            c_isn,
            s_isn,
            c_next: c_isn,
            s_next: s_isn,
            c_win: 64240,
            s_win: 8192,
            mss: 1460,
        }
    }

    /// Set the VLAN tags of this connection.
    pub fn with_tags(mut self, tags: Vec<VlanTag>) -> Self {
        self.tags = tags;
        self
    }

    /// Mark the connection as already established (ISNs consumed), without sending anything.
    pub fn established(mut self) -> Self {
        self.c_next = self.c_isn.wrapping_add(1);
        self.s_next = self.s_isn.wrapping_add(1);
        self
    }

    /// Next sequence number of direction `d`.
    pub fn next(&self, d: Dir) -> u32 {
        match d {
            Dir::C2S => self.c_next,
            Dir::S2C => self.s_next,
        }
    }

    /// (source, destination) addresses of direction `d`.
    pub fn endpoints(&self, d: Dir) -> (IpAddr, IpAddr) {
        match d {
            Dir::C2S => (self.client, self.server),
            Dir::S2C => (self.server, self.client),
        }
    }

    /// The TCP segment (header and payload, checksum over the pseudo header) that `d` sends at
    /// `seq` with `flags`, acknowledging everything the peer sent; for callers that carry it in
    /// IP packets of their own (fragments, extension headers). Nothing is advanced.
    pub fn segment_bytes(&self, d: Dir, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let (src, sp, dst, dp, win) = match d {
            Dir::C2S => (self.client, self.cport, self.server, self.sport, self.c_win),
            Dir::S2C => (self.server, self.sport, self.client, self.cport, self.s_win),
        };
        let ack = if flags & ACK != 0 { self.next(d.rev()) } else { 0 };
        let h = TcpHeader { sport: sp, dport: dp, seq, ack, flags, window: win, data_offset: 5 };
        let mut seg = Vec::with_capacity(20 + payload.len());
        net::push_tcp(&mut seg, src, dst, &h, payload);
        seg
    }

    /// Advance `d`'s next sequence number by `n` bytes sent by other means ([`segment_bytes`](Self::segment_bytes)).
    pub fn skip(&mut self, d: Dir, n: usize) {
        self.advance(d, n);
    }

    fn advance(&mut self, d: Dir, n: usize) {
        match d {
            Dir::C2S => self.c_next = self.c_next.wrapping_add(n as u32),
            Dir::S2C => self.s_next = self.s_next.wrapping_add(n as u32),
        }
    }

    /// Emit one TCP segment with explicit fields (nothing is advanced).
    /// `data_offset` is normally 5; smaller values forge a too-short header.
    #[allow(clippy::too_many_arguments)]
    pub fn raw_segment(&self, tr: &mut Trace, d: Dir, seq: u32, ack: u32, flags: u8, payload: &[u8], data_offset: u8) {
        let (src, sp, dst, dp, win) = match d {
            Dir::C2S => (self.client, self.cport, self.server, self.sport, self.c_win),
            Dir::S2C => (self.server, self.sport, self.client, self.cport, self.s_win),
        };
        let h = TcpHeader { sport: sp, dport: dp, seq, ack, flags, window: win, data_offset };
        let mut seg = Vec::with_capacity(20 + payload.len());
        net::push_tcp(&mut seg, src, dst, &h, payload);
        let ip = ip_packet(tr, src, dst, net::IPPROTO_TCP, &seg);
        tr.push_ip(&self.tags.clone(), src, dst, &ip);
    }

    /// Emit a segment from `d` at sequence `seq`, acknowledging everything the peer sent.
    pub fn segment_at(&self, tr: &mut Trace, d: Dir, seq: u32, flags: u8, payload: &[u8]) {
        let ack = if flags & ACK != 0 { self.next(d.rev()) } else { 0 };
        self.raw_segment(tr, d, seq, ack, flags, payload, 5);
    }

    /// Client SYN (seq = client ISN). Calling it again retransmits the same SYN.
    pub fn syn(&mut self, tr: &mut Trace) {
        self.raw_segment(tr, Dir::C2S, self.c_isn, 0, SYN, &[], 5);
        self.c_next = self.c_isn.wrapping_add(1);
    }

    /// Server SYN-ACK (seq = server ISN, ack = client ISN + 1).
    pub fn syn_ack(&mut self, tr: &mut Trace) {
        self.raw_segment(tr, Dir::S2C, self.s_isn, self.c_isn.wrapping_add(1), SYN | ACK, &[], 5);
        self.s_next = self.s_isn.wrapping_add(1);
    }

    /// Client's final ACK of the handshake.
    pub fn ack_handshake(&mut self, tr: &mut Trace) {
        self.segment_at(tr, Dir::C2S, self.c_next, ACK, &[]);
    }

    /// Three-way handshake with `rtt_us` between SYN and SYN-ACK.
    pub fn handshake(&mut self, tr: &mut Trace, rtt_us: u64) {
        self.syn(tr);
        tr.wait_us(rtt_us);
        self.syn_ack(tr);
        self.ack_handshake(tr);
    }

    /// Send `data` from `d` in segments of at most [`mss`](Self::mss) bytes (PSH on the last).
    pub fn send(&mut self, tr: &mut Trace, d: Dir, data: &[u8]) {
        let mut cuts = Vec::new();
        let mut p = self.mss;
        while p < data.len() {
            cuts.push(p);
            p += self.mss;
        }
        self.send_cut(tr, d, data, &cuts);
    }

    /// Send `data` from `d`, cut into segments at the given byte positions (ascending).
    pub fn send_cut(&mut self, tr: &mut Trace, d: Dir, data: &[u8], cuts: &[usize]) {
        let mut pieces = Vec::new();
        let mut s = 0;
        for &c in cuts.iter().chain(std::iter::once(&data.len())) {
            if c > s {
                pieces.push(Piece::seg(s, c));
            }
            s = c;
        }
        self.send_plan(tr, d, data, &pieces);
    }

    /// Send `data` from `d` as the listed pieces, in the listed order (which may repeat,
    /// overlap, reorder, alter or omit ranges); then advance the sequence number by `data.len()`.
    pub fn send_plan(&mut self, tr: &mut Trace, d: Dir, data: &[u8], pieces: &[Piece]) {
        let base = self.next(d);
        for p in pieces {
            if p.omit {
                // Sent but not captured: the capture clock still moves.
                tr.now_ns += tr.step_ns;
                continue;
            }
            let bytes: &[u8] = match &p.replace {
                Some(b) => b,
                None => &data[p.start..p.end],
            };
            let last = p.end >= data.len();
            let flags = if last { PSH | ACK } else { ACK };
            self.segment_at(tr, d, base.wrapping_add(p.start as u32), flags, bytes);
        }
        self.advance(d, data.len());
    }

    /// Pure ACK from `d`.
    pub fn ack(&self, tr: &mut Trace, d: Dir) {
        self.segment_at(tr, d, self.next(d), ACK, &[]);
    }

    /// FIN (with ACK) from `d`.
    pub fn fin(&mut self, tr: &mut Trace, d: Dir) {
        self.segment_at(tr, d, self.next(d), FIN | ACK, &[]);
        self.advance(d, 1);
    }

    /// Orderly close started by `d`: FIN, FIN from the peer, last ACK.
    pub fn close(&mut self, tr: &mut Trace, d: Dir, rtt_us: u64) {
        self.fin(tr, d);
        tr.wait_us(rtt_us);
        self.fin(tr, d.rev());
        self.ack(tr, d);
    }

    /// RST (with ACK) from `d` at its next sequence number.
    pub fn rst(&self, tr: &mut Trace, d: Dir) {
        self.segment_at(tr, d, self.next(d), RST | ACK, &[]);
    }

    /// Send `data` from `d` as one TCP segment carried in IPv4 fragments of at most
    /// `frag_payload` bytes each (IPv4 only; no DF).
    pub fn send_ip_fragmented(&mut self, tr: &mut Trace, d: Dir, data: &[u8], frag_payload: usize) {
        let (src, dst) = self.endpoints(d);
        let seg = self.segment_bytes(d, self.next(d), PSH | ACK, data);
        let base = ipv4_header(tr, src, dst, net::IPPROTO_TCP, false, 0);
        let tags = self.tags.clone();
        for f in net::ipv4_fragments(&base, &seg, frag_payload) {
            tr.push_ip(&tags, src, dst, &f);
        }
        self.advance(d, data.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn conn() -> TcpConn {
        TcpConn::new(Ipv4Addr::new(10, 10, 2, 20).into(), 49200, Ipv4Addr::new(10, 10, 1, 10).into(), 102, 1000, 5000)
    }

    fn seq_ack(f: &Frame) -> (u32, u32, u8) {
        let t = &f.data[34..];
        (u32::from_be_bytes(t[4..8].try_into().unwrap()), u32::from_be_bytes(t[8..12].try_into().unwrap()), t[13])
    }

    #[test]
    fn handshake_and_data_bookkeeping() {
        let mut tr = Trace::new(LinkType::Ethernet);
        let mut c = conn();
        c.handshake(&mut tr, 300);
        c.send_cut(&mut tr, Dir::C2S, &[0u8; 10], &[1, 4]);
        c.send(&mut tr, Dir::S2C, &[0u8; 7]);
        c.close(&mut tr, Dir::C2S, 100);
        let v: Vec<_> = tr.frames.iter().map(seq_ack).collect();
        assert_eq!(v[0], (1000, 0, SYN));
        assert_eq!(v[1], (5000, 1001, SYN | ACK));
        assert_eq!(v[2], (1001, 5001, ACK));
        assert_eq!(v[3], (1001, 5001, ACK));
        assert_eq!(v[4], (1002, 5001, ACK));
        assert_eq!(v[5], (1005, 5001, PSH | ACK));
        assert_eq!(v[6], (5001, 1011, PSH | ACK));
        assert_eq!(v[7], (1011, 5008, FIN | ACK));
        assert_eq!(v[8], (5008, 1012, FIN | ACK));
        assert_eq!(v[9], (1012, 5009, ACK));
        assert!(tr.frames.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns));
    }

    #[test]
    fn plan_omits_and_alters() {
        let mut tr = Trace::new(LinkType::Ethernet);
        let mut c = conn().established();
        let data = [1u8, 2, 3, 4, 5, 6];
        c.send_plan(&mut tr, Dir::C2S, &data, &[Piece::seg(3, 6), Piece::gap(0, 3), Piece::alt(2, vec![9, 9])]);
        assert_eq!(tr.frames.len(), 2);
        assert_eq!(seq_ack(&tr.frames[0]).0, 1004);
        assert_eq!(seq_ack(&tr.frames[1]).0, 1003);
        assert_eq!(&tr.frames[1].data[54..], &[9, 9]);
        assert_eq!(c.c_next, 1007);
    }
}
