//! Link, network and transport serialisation: Ethernet II with 802.1Q / QinQ tags,
//! Linux cooked capture v1 and v2, IPv4 (RFC 791, with real fragments), IPv6
//! (RFC 8200) and TCP (RFC 9293), each with its Internet checksum (RFC 1071).
//!
//! Every builder *appends* to a caller-owned `Vec<u8>`, so the streaming generator
//! can reuse one buffer for millions of frames without allocating.

use std::net::IpAddr;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// Tag protocol identifier of an 802.1Q customer tag.
pub const TPID_8021Q: u16 = 0x8100;
/// Tag protocol identifier of an 802.1ad service tag (outer tag of QinQ).
pub const TPID_8021AD: u16 = 0x88A8;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;

/// TCP flag FIN.
pub const FIN: u8 = 0x01;
/// TCP flag SYN.
pub const SYN: u8 = 0x02;
/// TCP flag RST.
pub const RST: u8 = 0x04;
/// TCP flag PSH.
pub const PSH: u8 = 0x08;
/// TCP flag ACK.
pub const ACK: u8 = 0x10;

/// One's-complement sum of 16-bit big-endian words (RFC 1071), not yet folded or inverted.
pub fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Fold a [`sum16`] accumulator and invert it: the Internet checksum.
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

/// Internet checksum of a byte string.
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum16(0, data))
}

/// One VLAN tag: tag protocol identifier and the 16-bit TCI (PCP 3 bits, DEI 1 bit, VID 12 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag {
    /// 0x8100 (802.1Q) or 0x88A8 (802.1ad outer tag).
    pub tpid: u16,
    /// Tag control information.
    pub tci: u16,
}

impl VlanTag {
    /// An 802.1Q tag with VLAN id `vid` and priority `pcp`.
    pub const fn dot1q(vid: u16, pcp: u8) -> Self {
        Self { tpid: TPID_8021Q, tci: ((pcp as u16) << 13) | (vid & 0x0FFF) }
    }
    /// An 802.1ad service tag (outer tag of a QinQ pair).
    pub const fn dot1ad(vid: u16, pcp: u8) -> Self {
        Self { tpid: TPID_8021AD, tci: ((pcp as u16) << 13) | (vid & 0x0FFF) }
    }
}

/// Ethernet II header: `dst(6) src(6) [tpid(2) tci(2)]* ethertype(2)`.
/// Tags are written in order, outermost first.
pub fn push_ethernet(out: &mut Vec<u8>, dst: [u8; 6], src: [u8; 6], tags: &[VlanTag], ethertype: u16) {
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    for t in tags {
        out.extend_from_slice(&t.tpid.to_be_bytes());
        out.extend_from_slice(&t.tci.to_be_bytes());
    }
    out.extend_from_slice(&ethertype.to_be_bytes());
}

/// Linux cooked capture v1 header (LINKTYPE_LINUX_SLL, 16 bytes):
/// `packet type(2) ARPHRD type(2)=1 addr len(2)=6 addr(8, MAC + 2 zero) protocol(2)`.
/// Packet type: 0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us.
pub fn push_sll(out: &mut Vec<u8>, pkttype: u16, src_mac: [u8; 6], protocol: u16) {
    out.extend_from_slice(&pkttype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&6u16.to_be_bytes());
    out.extend_from_slice(&src_mac);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&protocol.to_be_bytes());
}

/// Linux cooked capture v2 header (LINKTYPE_LINUX_SLL2, 20 bytes):
/// `protocol(2) reserved(2) interface index(4) ARPHRD type(2)=1 packet type(1) addr len(1)=6 addr(8)`.
pub fn push_sll2(out: &mut Vec<u8>, protocol: u16, ifindex: u32, pkttype: u8, src_mac: [u8; 6]) {
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&ifindex.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.push(pkttype);
    out.push(6);
    out.extend_from_slice(&src_mac);
    out.extend_from_slice(&[0, 0]);
}

/// Fields of one IPv4 header (20 bytes, no options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Identification.
    pub id: u16,
    /// Time to live.
    pub ttl: u8,
    /// Payload protocol (6 = TCP).
    pub protocol: u8,
    /// Don't-fragment flag.
    pub df: bool,
    /// More-fragments flag.
    pub mf: bool,
    /// Fragment offset in bytes (must be a multiple of 8).
    pub frag_offset: u16,
    /// Payload length in bytes (header excluded).
    pub payload_len: u16,
}

/// IPv4 header, 20 bytes, with a correct header checksum:
/// `45 00 | total len | id | flags(3) frag offset/8 (13) | ttl | proto | checksum | src | dst`.
pub fn push_ipv4(out: &mut Vec<u8>, h: &Ipv4Header) {
    let start = out.len();
    out.push(0x45);
    out.push(0);
    out.extend_from_slice(&(20 + h.payload_len).to_be_bytes());
    out.extend_from_slice(&h.id.to_be_bytes());
    let mut ff = (h.frag_offset / 8) & 0x1FFF;
    if h.df {
        ff |= 0x4000;
    }
    if h.mf {
        ff |= 0x2000;
    }
    out.extend_from_slice(&ff.to_be_bytes());
    out.push(h.ttl);
    out.push(h.protocol);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&h.src);
    out.extend_from_slice(&h.dst);
    let c = checksum(&out[start..start + 20]);
    out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
}

/// IPv6 fixed header, 40 bytes: `6 | traffic class 0 | flow label | payload len | next header | hop limit | src | dst`.
pub fn push_ipv6(out: &mut Vec<u8>, src: [u8; 16], dst: [u8; 16], next: u8, hop: u8, payload_len: u16, flow: u32) {
    out.extend_from_slice(&(0x6000_0000u32 | (flow & 0x000F_FFFF)).to_be_bytes());
    out.extend_from_slice(&payload_len.to_be_bytes());
    out.push(next);
    out.push(hop);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
}

/// Fields of one TCP header (20 bytes, no options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpHeader {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (written as is, also when ACK is not set).
    pub ack: u32,
    /// Flag byte (FIN, SYN, RST, PSH, ACK, ...).
    pub flags: u8,
    /// Receive window.
    pub window: u16,
    /// Data offset written into the header, in 32-bit words. 5 for a normal header;
    /// a value below 5 forges the CVE-2022-25622 pattern (the header bytes stay 20).
    pub data_offset: u8,
}

/// Sum of the IPv4 or IPv6 pseudo header for TCP checksums.
pub fn pseudo_sum(src: IpAddr, dst: IpAddr, proto: u8, len: u32) -> u32 {
    let mut acc = 0;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum16(acc, &s.octets());
            acc = sum16(acc, &d.octets());
            acc += u32::from(proto);
            acc += len;
        }
        (s, d) => {
            acc = sum16(acc, &ip16(s));
            acc = sum16(acc, &ip16(d));
            acc += len >> 16;
            acc += len & 0xFFFF;
            acc += u32::from(proto);
        }
    }
    acc
}

/// TCP segment (header of 20 bytes + payload) with a correct checksum over the pseudo header.
pub fn push_tcp(out: &mut Vec<u8>, src: IpAddr, dst: IpAddr, h: &TcpHeader, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&h.sport.to_be_bytes());
    out.extend_from_slice(&h.dport.to_be_bytes());
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(&h.ack.to_be_bytes());
    out.push(h.data_offset << 4);
    out.push(h.flags);
    out.extend_from_slice(&h.window.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
    let len = (out.len() - start) as u32;
    let acc = sum16(pseudo_sum(src, dst, IPPROTO_TCP, len), &out[start..]);
    let c = fold(acc);
    out[start + 16..start + 18].copy_from_slice(&c.to_be_bytes());
}

/// The 16 bytes of an address (IPv4 mapped as `::ffff:a.b.c.d`, never used on the wire).
pub fn ip16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
        IpAddr::V6(v) => v.octets(),
    }
}

/// Locally administered MAC address derived from an IP address: `02:00` + the last 4 address bytes.
/// PLC addresses (10.10.1.0/24 and fd00:10:10:1::/64) get Siemens' OUI `00:1B:1B` instead,
/// as a real S7-1500's interface would.
pub fn mac_for(ip: IpAddr) -> [u8; 6] {
    let b = ip16(ip);
    let plc = matches!(ip, IpAddr::V4(v) if v.octets()[..3] == [10, 10, 1])
        || matches!(ip, IpAddr::V6(v) if v.segments()[..4] == [0xfd00, 0x10, 0x10, 0x1]);
    if plc {
        [0x00, 0x1B, 0x1B, b[13], b[14], b[15]]
    } else {
        [0x02, 0x00, b[12], b[13], b[14], b[15]]
    }
}

/// Split an IPv4 payload into fragments whose payload is at most `max_payload` bytes
/// (rounded down to a multiple of 8). Returns complete IPv4 packets (header + piece), first
/// fragment first, all with the same `id`; MF set on all but the last.
pub fn ipv4_fragments(base: &Ipv4Header, payload: &[u8], max_payload: usize) -> Vec<Vec<u8>> {
    let step = (max_payload / 8).max(1) * 8;
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let end = (off + step).min(payload.len());
        let mut h = *base;
        h.df = false;
        h.mf = end < payload.len();
        h.frag_offset = off as u16;
        h.payload_len = (end - off) as u16;
        let mut p = Vec::with_capacity(20 + end - off);
        push_ipv4(&mut p, &h);
        p.extend_from_slice(&payload[off..end]);
        out.push(p);
        off = end;
    }
    out
}

/// One IPv4 fragment: `base`'s addresses, identification, TTL and protocol, with fragment
/// offset `offset` (bytes, a multiple of 8), MF = `more`, DF clear, carrying `piece`.
pub fn ipv4_fragment(base: &Ipv4Header, offset: usize, more: bool, piece: &[u8]) -> Vec<u8> {
    let h = Ipv4Header { df: false, mf: more, frag_offset: offset as u16, payload_len: piece.len() as u16, ..*base };
    let mut p = Vec::with_capacity(20 + piece.len());
    push_ipv4(&mut p, &h);
    p.extend_from_slice(piece);
    p
}

/// IPv6 next-header value of a hop-by-hop options header.
pub const IPV6_HOP_BY_HOP: u8 = 0;
/// IPv6 next-header value of a routing header.
pub const IPV6_ROUTING: u8 = 43;
/// IPv6 next-header value of a fragment header.
pub const IPV6_FRAGMENT: u8 = 44;
/// IPv6 next-header value of a destination options header.
pub const IPV6_DEST_OPTS: u8 = 60;

/// One IPv6 extension header (RFC 8200 §4) in the generic layout: `next | length | body`,
/// the body padded with zeros (Pad1 options) to a multiple of 8 octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Ext {
    /// Header type (0 hop-by-hop, 43 routing, 60 destination options).
    pub kind: u8,
    /// Bytes after the two-byte head.
    pub body: Vec<u8>,
}

impl Ipv6Ext {
    /// Hop-by-hop options holding one PadN option (6 bytes of padding).
    pub fn hop_by_hop() -> Self {
        Self { kind: IPV6_HOP_BY_HOP, body: vec![1, 4, 0, 0, 0, 0] }
    }
    /// Destination options with `pad` PadN bytes (a body of 6 + 8k bytes).
    pub fn dest_opts(extra_units: usize) -> Self {
        let n = 6 + 8 * extra_units;
        let mut body = vec![1, (n - 2) as u8];
        body.resize(n, 0);
        Self { kind: IPV6_DEST_OPTS, body }
    }
    /// A routing header with Segments Left 0, which a receiver ignores (RFC 8200 §4.4):
    /// routing type 0, segments left 0, 4 reserved bytes.
    pub fn routing_done() -> Self {
        Self { kind: IPV6_ROUTING, body: vec![0, 0, 0, 0, 0, 0] }
    }
}

/// Append a chain of extension headers; the last one names `upper` as its next header.
pub fn push_ipv6_exts(out: &mut Vec<u8>, exts: &[Ipv6Ext], upper: u8) {
    for (i, e) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(upper, |n| n.kind);
        let units = (2 + e.body.len()).div_ceil(8);
        out.push(next);
        out.push((units - 1) as u8);
        out.extend_from_slice(&e.body);
        out.resize(out.len() + units * 8 - 2 - e.body.len(), 0);
    }
}

/// Length of an extension-header chain on the wire.
pub fn ipv6_exts_len(exts: &[Ipv6Ext]) -> usize {
    exts.iter().map(|e| (2 + e.body.len()).div_ceil(8) * 8).sum()
}

/// Fields of one IPv6 fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Frag {
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Hop limit.
    pub hop: u8,
    /// Identification (32 bits).
    pub id: u32,
    /// Next header of the fragmentable part (6 for TCP, 60 when it starts with destination options).
    pub next: u8,
}

/// One IPv6 fragment packet: fixed header, the unfragmentable extension headers `exts`, a
/// fragment header (offset in bytes, a multiple of 8; M = `more`), then `piece`.
pub fn ipv6_fragment(h: &Ipv6Frag, exts: &[Ipv6Ext], offset: usize, more: bool, piece: &[u8]) -> Vec<u8> {
    let plen = ipv6_exts_len(exts) + 8 + piece.len();
    let mut p = Vec::with_capacity(40 + plen);
    let first = exts.first().map_or(IPV6_FRAGMENT, |e| e.kind);
    push_ipv6(&mut p, h.src, h.dst, first, h.hop, plen as u16, 0);
    push_ipv6_exts(&mut p, exts, IPV6_FRAGMENT);
    p.push(h.next);
    p.push(0);
    p.extend_from_slice(&((offset as u16 & 0xFFF8) | u16::from(more)).to_be_bytes());
    p.extend_from_slice(&h.id.to_be_bytes());
    p.extend_from_slice(piece);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ipv4_header_checksum_verifies() {
        let mut v = Vec::new();
        let h = Ipv4Header {
            src: [10, 10, 2, 20],
            dst: [10, 10, 1, 10],
            id: 0x1234,
            ttl: 128,
            protocol: 6,
            df: true,
            mf: false,
            frag_offset: 0,
            payload_len: 40,
        };
        push_ipv4(&mut v, &h);
        assert_eq!(v.len(), 20);
        assert_eq!(checksum(&v), 0, "a header with its checksum sums to 0");
        assert_eq!(&v[6..8], &[0x40, 0x00]);
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example words 0001 f203 f4f5 f6f7 sum to ddf2 before inversion.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&d), !0xddf2);
    }

    fn tcp_verifies(src: IpAddr, dst: IpAddr) {
        let mut v = Vec::new();
        let h = TcpHeader { sport: 49152, dport: 102, seq: 1, ack: 2, flags: PSH | ACK, window: 8192, data_offset: 5 };
        push_tcp(&mut v, src, dst, &h, b"\x03\x00\x00\x07\x02\xf0\x80");
        let acc = sum16(pseudo_sum(src, dst, IPPROTO_TCP, v.len() as u32), &v);
        assert_eq!(fold(acc), 0);
        assert_eq!(v[12], 0x50);
    }

    #[test]
    fn tcp_checksum_verifies_v4_and_v6() {
        tcp_verifies(Ipv4Addr::new(10, 10, 2, 20).into(), Ipv4Addr::new(10, 10, 1, 10).into());
        tcp_verifies(
            "fd00:10:10:2::20".parse::<Ipv6Addr>().unwrap().into(),
            "fd00:10:10:1::10".parse::<Ipv6Addr>().unwrap().into(),
        );
    }

    #[test]
    fn fragments_cover_payload() {
        let h = Ipv4Header {
            src: [10, 10, 9, 99],
            dst: [10, 10, 1, 10],
            id: 7,
            ttl: 64,
            protocol: 6,
            df: false,
            mf: false,
            frag_offset: 0,
            payload_len: 0,
        };
        let payload: Vec<u8> = (0..100u8).collect();
        let f = ipv4_fragments(&h, &payload, 30);
        assert_eq!(f.len(), 5); // 24 + 24 + 24 + 24 + 4
        let mut joined = Vec::new();
        for (i, p) in f.iter().enumerate() {
            assert_eq!(checksum(&p[..20]), 0);
            let ff = u16::from_be_bytes([p[6], p[7]]);
            assert_eq!(ff & 0x1FFF, (i as u16) * 3);
            assert_eq!(ff & 0x2000 != 0, i + 1 < f.len());
            joined.extend_from_slice(&p[20..]);
        }
        assert_eq!(joined, payload);
    }

    #[test]
    fn ipv6_fragment_layout() {
        let h = Ipv6Frag { src: [1; 16], dst: [2; 16], hop: 64, id: 0x0102_0304, next: 6 };
        let p = ipv6_fragment(&h, &[Ipv6Ext::hop_by_hop(), Ipv6Ext::routing_done()], 24, true, b"abcd");
        assert_eq!(p.len(), 40 + 8 + 8 + 8 + 4);
        assert_eq!((p[6], u16::from_be_bytes([p[4], p[5]])), (IPV6_HOP_BY_HOP, 28));
        assert_eq!(&p[40..42], &[IPV6_ROUTING, 0]);
        assert_eq!(&p[48..50], &[IPV6_FRAGMENT, 0]);
        assert_eq!(&p[56..64], &[6, 0, 0, 24 | 1, 1, 2, 3, 4]);
        assert_eq!(&p[64..], b"abcd");
        let f = ipv4_fragment(
            &Ipv4Header {
                src: [1; 4],
                dst: [2; 4],
                id: 9,
                ttl: 64,
                protocol: 6,
                df: true,
                mf: false,
                frag_offset: 0,
                payload_len: 0,
            },
            16,
            false,
            b"xy",
        );
        assert_eq!((&f[6..8], f.len(), checksum(&f[..20])), (&[0x00, 0x02][..], 22, 0));
    }

    #[test]
    fn vlan_tags_and_macs() {
        let mut v = Vec::new();
        push_ethernet(&mut v, [1; 6], [2; 6], &[VlanTag::dot1ad(100, 0), VlanTag::dot1q(20, 3)], ETHERTYPE_IPV4);
        assert_eq!(&v[12..], &[0x88, 0xa8, 0x00, 100, 0x81, 0x00, 0x60, 20, 0x08, 0x00]);
        assert_eq!(mac_for(Ipv4Addr::new(10, 10, 1, 10).into()), [0, 0x1b, 0x1b, 10, 1, 10]);
        assert_eq!(mac_for(Ipv4Addr::new(10, 10, 2, 20).into()), [2, 0, 10, 10, 2, 20]);
    }
}
