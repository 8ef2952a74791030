//! Link, IP and TCP slicing.
//!
//! Link types: Ethernet (1, with 802.1Q / 802.1ad tags, up to three), Linux
//! cooked capture v1 (113, 16-byte header) and v2 (276, 20-byte header), raw IP
//! (101, 12, 14, 228, 229) and BSD loopback (0, 108). Link and IPv4 headers are
//! sliced by etherparse's lax slicer, which accepts IPv4 total length 0
//! (segmentation offload on the capturing host), or by hand for the common
//! cases. IPv6 (RFC 8200) is read here, by hand, on every path: the extension
//! headers before the upper-layer header (hop-by-hop, routing, destination
//! options, authentication, mobility, HIP, shim6) are walked, and a fragment
//! header ends the walk with the fragment's offset, flag and 32-bit
//! identification, so that only a first fragment is ever read as TCP. The TCP
//! header is read here, by hand, so that a data offset below 5 is reported
//! instead of rejected.

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP packet (or fragment) found in a frame.
#[derive(Debug, Clone, Copy)]
pub struct IpPacket<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number of the payload: for IPv6 the upper-layer header
    /// after the extension headers, or for a fragment the Next Header field
    /// of its fragment header.
    pub proto: u8,
    /// IP payload (TCP segment or fragment data; for IPv6 after the extension
    /// headers, or after the fragment header for a fragment).
    pub payload: &'a [u8],
    /// `Some((offset_bytes, more_fragments))` for a fragment (IPv6: also an
    /// atomic fragment, `Some((0, false))`, RFC 6946).
    pub fragment: Option<(u32, bool)>,
    /// Identification: 16 bits for IPv4, the fragment header's 32 bits for
    /// IPv6 (0 without a fragment header).
    pub id: u32,
    /// The payload's length is not the one the header declares (captured
    /// shorter, or a length of 0 from segmentation offload): its transport
    /// checksum cannot be checked.
    pub truncated: bool,
}

/// Outcome of slicing a frame.
#[derive(Debug, Clone, Copy)]
pub enum Sliced<'a> {
    /// An IP packet.
    Ip(IpPacket<'a>),
    /// Not IP (ARP, LLDP, PROFINET DCP, ...).
    NonIp,
    /// Link type not supported.
    UnsupportedLink,
    /// Headers could not be sliced; byte offset of the problem in the frame.
    Bad(usize),
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;

/// Slice `data` captured with link type `linktype`.
pub fn slice(linktype: i32, data: &[u8]) -> Sliced<'_> {
    match fast_slice(linktype, data) {
        Some(s) => s,
        None => slice_lax(linktype, data),
    }
}

/// The common case without etherparse: IPv4 (not carrying an IPsec
/// authentication header) and IPv6 directly on Ethernet or behind one or two
/// VLAN tags, on Linux cooked captures, raw IP or BSD loopback. Gives exactly
/// what [`slice_lax`] gives for those frames (a property test checks it);
/// `None` for everything else, which [`slice_lax`] handles.
#[inline]
fn fast_slice(linktype: i32, data: &[u8]) -> Option<Sliced<'_>> {
    let (et, ip) = match linktype {
        1 => {
            let mut et = be16(data, 12)?;
            let mut off = 14;
            let mut tags = 0;
            while matches!(et, 0x8100 | 0x88A8 | 0x9100) {
                if tags == 2 {
                    return None;
                }
                et = be16(data, off + 2)?;
                off += 4;
                tags += 1;
            }
            (Some(et), data.get(off..)?)
        }
        113 => (Some(be16(data, 14)?), data.get(16..)?),
        276 if data.len() >= 20 => (Some(be16(data, 0)?), &data[20..]),
        // No EtherType: the IP version decides.
        101 | 12 | 14 | 228 | 229 => (None, data),
        0 | 108 => (None, data.get(4..)?),
        _ => return None,
    };
    match (et, ip.first()? >> 4) {
        (Some(ETH_IPV4), _) | (None, 4) => fast_ipv4(ip),
        // A bad header takes the slow path, which names the offset of the problem.
        (Some(ETH_IPV6), _) | (None, 6) => match ipv6(ip) {
            Sliced::Bad(_) => None,
            s => Some(s),
        },
        _ => None,
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    match b.get(at..at + 2) {
        Some(&[x, y]) => Some(u16::from_be_bytes([x, y])),
        _ => None,
    }
}

/// An IPv4 header etherparse's lax slicer accepts, sliced the same way: the
/// payload ends at the total length unless that is below the header length or
/// beyond the captured bytes (then it runs to the end of the capture).
#[inline]
fn fast_ipv4(b: &[u8]) -> Option<Sliced<'_>> {
    let first = *b.first()?;
    let hl = usize::from(first & 0x0F) * 4;
    if first >> 4 != 4 || hl < 20 || b.len() < hl || b[9] == 51 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([b[2], b[3]]));
    let truncated = total < hl || b.len() < total;
    let payload = if truncated { &b[hl..] } else { &b[hl..total] };
    let frag = u16::from_be_bytes([b[6], b[7]]);
    let (offset, more) = (u32::from(frag & 0x1FFF) * 8, frag & 0x2000 != 0);
    Some(Sliced::Ip(IpPacket {
        src: IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15])),
        dst: IpAddr::V4(Ipv4Addr::new(b[16], b[17], b[18], b[19])),
        proto: b[9],
        payload,
        fragment: (more || offset != 0).then_some((offset, more)),
        id: u32::from(u16::from_be_bytes([b[4], b[5]])),
        truncated,
    }))
}

/// IPv6 extension headers this module walks (RFC 8200 §4, RFC 7045's list):
/// hop-by-hop, routing, destination options, mobility, HIP, shim6 and the
/// two experimental values, all in the generic `next | length (8-octet units
/// beyond the first) | ...` layout; AH (51) counts its length in 4-octet units.
const IPV6_EXT: [u8; 8] = [0, 43, 60, 135, 139, 140, 253, 254];
/// IPv6 authentication header.
const IPV6_AH: u8 = 51;
/// IPv6 fragment header.
pub const IPV6_FRAGMENT: u8 = 44;
/// Most extension headers walked before giving up (a chain of hundreds is an
/// attack on the parser's time, not traffic).
const MAX_EXT_HEADERS: usize = 16;

/// Walk IPv6 extension headers starting with header type `next` at the start
/// of `b`, up to the first header that is not an extension header (the
/// upper-layer header, or a fragment header, 44). Returns that header's type
/// and its offset in `b`, or `Err(offset)` of the extension header that runs
/// past the end of `b` (or the 17th header).
///
/// Used on the bytes after the fixed header, on the first fragment's bytes
/// after its fragment header, and on a reassembled datagram.
pub fn ipv6_upper(next: u8, b: &[u8]) -> Result<(u8, usize), usize> {
    let (mut next, mut at) = (next, 0usize);
    for _ in 0..MAX_EXT_HEADERS {
        let len = if IPV6_EXT.contains(&next) {
            (usize::from(*b.get(at + 1).ok_or(at)?) + 1) * 8
        } else if next == IPV6_AH {
            (usize::from(*b.get(at + 1).ok_or(at)?) + 2) * 4
        } else {
            return Ok((next, at));
        };
        if at + len > b.len() {
            return Err(at);
        }
        next = b[at];
        at += len;
    }
    Err(at)
}

/// An IPv6 packet: fixed header (RFC 8200 §3), extension headers, and either
/// the upper-layer payload or a fragment. The payload ends at the payload
/// length unless that is 0 (jumbogram or segmentation offload) or beyond the
/// captured bytes (then it runs to the end of the capture, as for IPv4).
#[inline]
fn ipv6(b: &[u8]) -> Sliced<'_> {
    if b.len() < 40 || b[0] >> 4 != 6 {
        return Sliced::Bad(0);
    }
    let plen = usize::from(u16::from_be_bytes([b[4], b[5]]));
    let truncated = plen == 0 || 40 + plen > b.len();
    let body = if truncated { &b[40..] } else { &b[40..40 + plen] };
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[at..at + 16]);
        IpAddr::V6(Ipv6Addr::from(a))
    };
    let (src, dst) = (addr(8), addr(24));
    match ipv6_upper(b[6], body) {
        Ok((IPV6_FRAGMENT, at)) => {
            let Some(h) = body.get(at..at + 8) else {
                return Sliced::Bad(0);
            };
            let fo = u16::from_be_bytes([h[2], h[3]]);
            Sliced::Ip(IpPacket {
                src,
                dst,
                proto: h[0],
                payload: &body[at + 8..],
                fragment: Some((u32::from(fo & 0xFFF8), fo & 1 != 0)),
                id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                truncated,
            })
        }
        Ok((proto, at)) => {
            Sliced::Ip(IpPacket { src, dst, proto, payload: &body[at..], fragment: None, id: 0, truncated })
        }
        Err(_) => Sliced::Bad(0),
    }
}

/// Where the transport header of a first fragment (or a reassembled datagram)
/// starts: `(protocol, offset)`; for IPv6 after the extension headers of the
/// fragmentable part. `None` when they run past `b`.
pub fn transport_at(v6: bool, proto: u8, b: &[u8]) -> Option<(u8, usize)> {
    if v6 {
        ipv6_upper(proto, b).ok()
    } else {
        Some((proto, 0))
    }
}

/// Whether a TCP (or UDP) segment's checksum is right: the one's-complement
/// sum (RFC 1071) over the pseudo header (RFC 9293 §3.1 for IPv4, RFC 8200
/// §8.1 for IPv6) and the segment, checksum field included, is all ones.
pub fn transport_checksum_ok(src: IpAddr, dst: IpAddr, proto: u8, seg: &[u8]) -> bool {
    // The one's-complement sum does not depend on byte order and may be taken
    // over 64-bit words with end-around carry, folded to 16 bits at the end
    // (RFC 1071 §2(A), (B), (C)): native-endian 8-byte loads, a quarter of the
    // 16-bit adds, no byte swaps. The result is compared with all ones, which
    // reads the same in either byte order. Every piece starts at an even
    // offset of the summed stream, so each byte keeps its place (high or low)
    // in its 16-bit word; an odd last byte is padded with zero.
    fn add(acc: u64, v: u64) -> u64 {
        let (s, carry) = acc.overflowing_add(v);
        s + u64::from(carry)
    }
    fn words(mut acc: u64, b: &[u8]) -> u64 {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            acc = add(acc, u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        }
        // The tail: 4, 2 and 1 bytes in native order (a word's position in
        // the accumulator does not matter: 2^16 = 1 modulo 0xFFFF).
        let mut rest = chunks.remainder();
        if let [a, b, c, d, tail @ ..] = rest {
            acc = add(acc, u64::from(u32::from_ne_bytes([*a, *b, *c, *d])));
            rest = tail;
        }
        if let [a, b, tail @ ..] = rest {
            acc = add(acc, u64::from(u16::from_ne_bytes([*a, *b])));
            rest = tail;
        }
        if let [a] = rest {
            acc = add(acc, u64::from(u16::from_ne_bytes([*a, 0])));
        }
        acc
    }
    let len = seg.len() as u32;
    let acc = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let (s, d) = (s.octets(), d.octets());
            let l = (len as u16).to_be_bytes();
            words(0, &[s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3], 0, proto, l[0], l[1]])
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
                IpAddr::V6(x) => x.octets(),
            };
            let l = len.to_be_bytes();
            let acc = words(words(0, &v6(s)), &v6(d));
            words(acc, &[l[0], l[1], l[2], l[3], 0, 0, 0, proto])
        }
    };
    let acc = words(acc, seg);
    // Fold 64 -> 32 -> 16 bits with end-around carry.
    let acc = (acc & 0xFFFF_FFFF) + (acc >> 32);
    let acc = (acc & 0xFFFF_FFFF) + (acc >> 32);
    let acc = (acc & 0xFFFF) + (acc >> 16);
    let acc = (acc & 0xFFFF) + (acc >> 16);
    acc == 0xFFFF
}

/// Slice with etherparse's lax slicer (every link type and header this module supports).
fn slice_lax(linktype: i32, data: &[u8]) -> Sliced<'_> {
    let pkt = match linktype {
        1 => match LaxSlicedPacket::from_ethernet(data) {
            Ok(p) => p,
            Err(_) => return Sliced::Bad(0),
        },
        113 | 276 => {
            let (hdr, proto_at) = if linktype == 113 { (16, 14) } else { (20, 0) };
            if data.len() < hdr {
                return Sliced::Bad(0);
            }
            let et = u16::from_be_bytes([data[proto_at], data[proto_at + 1]]);
            if et != ETH_IPV4 && et != ETH_IPV6 && et != 0x8100 && et != 0x88A8 {
                return Sliced::NonIp;
            }
            LaxSlicedPacket::from_ether_type(EtherType(et), &data[hdr..])
        }
        101 | 12 | 14 | 228 | 229 => match LaxSlicedPacket::from_ip(data) {
            Ok(p) => p,
            Err(_) => return Sliced::Bad(0),
        },
        0 | 108 => {
            if data.len() < 4 {
                return Sliced::Bad(0);
            }
            match LaxSlicedPacket::from_ip(&data[4..]) {
                Ok(p) => p,
                Err(_) => return Sliced::Bad(4),
            }
        }
        _ => return Sliced::UnsupportedLink,
    };
    match pkt.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let pl = v4.payload();
            let frag =
                h.is_fragmenting_payload().then(|| (u32::from(h.fragments_offset().value()) * 8, h.more_fragments()));
            Sliced::Ip(IpPacket {
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                proto: pl.ip_number.0,
                payload: pl.payload,
                fragment: frag,
                id: u32::from(h.identification()),
                truncated: pl.incomplete || pl.len_source == etherparse::LenSource::Slice,
            })
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            // etherparse found the IPv6 header; the extension headers are read
            // by [`ipv6`], as on the fast path.
            let at = (v6.header().slice().as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
            match data.get(at..) {
                Some(ip) => ipv6(ip),
                None => Sliced::Bad(0),
            }
        }
        Some(LaxNetSlice::Arp(_)) => Sliced::NonIp,
        None => match pkt.stop_err {
            Some(_) => Sliced::Bad(0),
            None => Sliced::NonIp,
        },
    }
}

/// A TCP segment read from an IP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Data offset in 32-bit words (valid: 5..=15).
    pub data_offset: u8,
    /// Flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...).
    pub flags: u8,
    /// Payload after the header and options.
    pub payload: &'a [u8],
}

/// Why a TCP header could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpError {
    /// Fewer than 20 bytes.
    Truncated,
    /// Data offset below 5 (CVE-2022-25622): ports and flags are still known.
    ShortHeader {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// The data offset field.
        data_offset: u8,
    },
    /// Data offset points past the end of the segment.
    OptionsBeyondEnd,
}

/// The data offset field of a raw TCP header (its length in 32-bit words,
/// byte 12's high nibble; valid 5..=15, below 5 the CVE-2022-25622 short
/// header); `None` when `tcp` is shorter than 13 bytes.
pub fn tcp_data_offset(tcp: &[u8]) -> Option<u8> {
    tcp.get(12).map(|b| b >> 4)
}

/// Read a TCP header from an IP payload.
pub fn parse_tcp(b: &[u8]) -> Result<TcpSegment<'_>, TcpError> {
    if b.len() < 20 {
        return Err(TcpError::Truncated);
    }
    let sport = u16::from_be_bytes([b[0], b[1]]);
    let dport = u16::from_be_bytes([b[2], b[3]]);
    let data_offset = tcp_data_offset(b).unwrap_or(0);
    if data_offset < 5 {
        return Err(TcpError::ShortHeader { sport, dport, data_offset });
    }
    let hl = usize::from(data_offset) * 4;
    if hl > b.len() {
        return Err(TcpError::OptionsBeyondEnd);
    }
    Ok(TcpSegment {
        sport,
        dport,
        seq: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ack: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        data_offset,
        flags: b[13],
        payload: &b[hl..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_ipv4_tcp(vlans: &[u16], tcp_hdr_words: u8) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for v in vlans {
            f.extend_from_slice(&[0x81, 0x00, (v >> 8) as u8, *v as u8]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let tcp_len = 20usize;
        let total = 20 + tcp_len + 3;
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&102u16.to_be_bytes());
        t[4..8].copy_from_slice(&7u32.to_be_bytes());
        t[12] = tcp_hdr_words << 4;
        t[13] = 0x18;
        f.extend_from_slice(&t);
        f.extend_from_slice(b"abc");
        f
    }

    #[test]
    fn ethernet_vlan_qinq() {
        for vl in [&[][..], &[10], &[10, 20]] {
            let f = eth_ipv4_tcp(vl, 5);
            let Sliced::Ip(ip) = slice(1, &f) else { panic!("{vl:?}") };
            assert_eq!(ip.proto, 6);
            let t = parse_tcp(ip.payload).unwrap();
            assert_eq!((t.sport, t.dport, t.seq, t.flags, t.payload), (40000, 102, 7, 0x18, &b"abc"[..]));
        }
    }

    #[test]
    fn short_tcp_header() {
        let f = eth_ipv4_tcp(&[], 4);
        let Sliced::Ip(ip) = slice(1, &f) else { panic!() };
        assert_eq!(parse_tcp(ip.payload), Err(TcpError::ShortHeader { sport: 40000, dport: 102, data_offset: 4 }));
    }

    #[test]
    fn sll2_and_raw() {
        let f = eth_ipv4_tcp(&[], 5);
        let ip = &f[14..];
        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        sll2.extend_from_slice(ip);
        assert!(matches!(slice(276, &sll2), Sliced::Ip(_)));
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(ip);
        assert!(matches!(slice(113, &sll), Sliced::Ip(_)));
        assert!(matches!(slice(101, ip), Sliced::Ip(_)));
        assert!(matches!(slice(147, ip), Sliced::UnsupportedLink));
    }

    /// Frames near the fast path's edges: Ethernet with 0..3 VLAN tags (three
    /// kinds), cooked v1/v2, raw and loopback headers, then an IPv4 header whose
    /// bytes the strategy mutates (version, IHL, total length, fragment bits,
    /// protocol 51), truncated anywhere.
    fn ipv4_frame(lt: i32, tags: &[u16], hdr: &[u8], ip: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        match lt {
            1 => {
                f.extend_from_slice(&[0u8; 12]);
                for t in tags {
                    f.extend_from_slice(&t.to_be_bytes());
                    f.extend_from_slice(&[0, 7]);
                }
                f.extend_from_slice(&[0x08, 0x00]);
            }
            113 => {
                f.extend_from_slice(&[0u8; 14]);
                f.extend_from_slice(&[0x08, 0x00]);
            }
            276 => {
                f.extend_from_slice(&[0x08, 0x00]);
                f.extend_from_slice(&[0u8; 18]);
            }
            0 | 108 => f.extend_from_slice(&[2, 0, 0, 0]),
            _ => {}
        }
        f.extend_from_slice(hdr);
        f.extend_from_slice(ip);
        f
    }

    fn same(a: &Sliced<'_>, b: &Sliced<'_>) -> bool {
        match (a, b) {
            (Sliced::Ip(x), Sliced::Ip(y)) => {
                (x.src, x.dst, x.proto, x.fragment, x.id) == (y.src, y.dst, y.proto, y.fragment, y.id)
                    && x.payload.as_ptr() == y.payload.as_ptr()
                    && x.payload.len() == y.payload.len()
            }
            (Sliced::NonIp, Sliced::NonIp) | (Sliced::UnsupportedLink, Sliced::UnsupportedLink) => true,
            (Sliced::Bad(x), Sliced::Bad(y)) => x == y,
            _ => false,
        }
    }

    /// An IPv6 packet: fixed header, then `exts` (type, body bytes beyond the
    /// first two, padded to 8-octet units; 44 = fragment header given as its
    /// 6 bytes after `next | reserved`), then `payload`.
    fn ipv6_packet(exts: &[(u8, Vec<u8>)], upper: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for (i, (_, b)) in exts.iter().enumerate() {
            let next = exts.get(i + 1).map_or(upper, |e| e.0);
            body.push(next);
            if exts[i].0 == IPV6_FRAGMENT {
                body.push(0);
                body.extend_from_slice(&b[..6]);
            } else {
                let units = (2 + b.len()).div_ceil(8);
                body.push((units - 1) as u8);
                body.extend_from_slice(b);
                body.resize(body.len() + units * 8 - 2 - b.len(), 0);
            }
        }
        body.extend_from_slice(payload);
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(body.len() as u16).to_be_bytes());
        p.push(exts.first().map_or(upper, |e| e.0));
        p.push(64);
        p.extend_from_slice(&"fd00:10:10:9::99".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"fd00:10:10:1::10".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&body);
        p
    }

    fn frag_hdr(offset: u16, more: bool, id: u32) -> (u8, Vec<u8>) {
        let mut b = (offset | u16::from(more)).to_be_bytes().to_vec();
        b.extend_from_slice(&id.to_be_bytes());
        (IPV6_FRAGMENT, b)
    }

    fn eth(ip: &[u8], tags: usize) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for _ in 0..tags {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        }
        f.extend_from_slice(&[0x86, 0xdd]);
        f.extend_from_slice(ip);
        f
    }

    #[test]
    fn ipv6_extension_headers_and_fragments() {
        let tcp = eth_ipv4_tcp(&[], 5)[34..].to_vec();
        // Hop-by-hop, destination options, routing, then a first fragment carrying TCP.
        let exts =
            [(0, vec![1, 0, 0, 0]), (60, vec![1, 2, 0, 0, 0, 0]), (43, vec![0; 14]), frag_hdr(0, true, 0xDEAD_BEEF)];
        let p = ipv6_packet(&exts, 6, &tcp);
        let Sliced::Ip(ip) = slice(101, &p) else { panic!() };
        assert_eq!((ip.proto, ip.fragment, ip.id), (6, Some((0, true)), 0xDEAD_BEEF));
        assert_eq!(ip.payload, &tcp[..]);
        assert_eq!(transport_at(true, ip.proto, ip.payload), Some((6, 0)));
        // A later fragment: offset in bytes, its bytes are not a TCP header.
        let p = ipv6_packet(&[(0, vec![0; 6]), frag_hdr(1448, false, 7)], 6, b"tail of the segment");
        let Sliced::Ip(ip) = slice(101, &p) else { panic!() };
        assert_eq!((ip.fragment, ip.id, ip.payload), (Some((1448, false)), 7, &b"tail of the segment"[..]));
        // Destination options inside the fragmentable part (after the fragment header).
        let mut part = vec![6, 0, 1, 4, 0, 0, 0, 0];
        part.extend_from_slice(&tcp);
        let p = ipv6_packet(&[frag_hdr(0, true, 9)], 60, &part);
        let Sliced::Ip(ip) = slice(101, &p) else { panic!() };
        assert_eq!(ip.proto, 60);
        assert_eq!(transport_at(true, ip.proto, ip.payload), Some((6, 8)));
        // Atomic fragment.
        let p = ipv6_packet(&[frag_hdr(0, false, 3)], 6, &tcp);
        let Sliced::Ip(ip) = slice(101, &p) else { panic!() };
        assert_eq!(ip.fragment, Some((0, false)));
        // Not fragmented, behind a hop-by-hop header: the TCP header is found.
        let p = ipv6_packet(&[(0, vec![0; 6])], 6, &tcp);
        for f in [eth(&p, 0), eth(&p, 3)] {
            let Sliced::Ip(ip) = slice(1, &f) else { panic!() };
            assert_eq!((ip.proto, ip.fragment), (6, None));
            assert_eq!(parse_tcp(ip.payload).unwrap().dport, 102);
        }
        // An extension header running past the packet.
        let mut p = ipv6_packet(&[(60, vec![0; 6])], 6, &[]);
        p[41] = 3;
        assert!(matches!(slice(101, &p), Sliced::Bad(_)));
        assert_eq!(ipv6_upper(60, &[6, 3, 0, 0]), Err(0));
        // AH counts 4-octet units beyond the first two.
        assert_eq!(ipv6_upper(51, &[6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xAA]), Ok((6, 12)));
        assert_eq!(ipv6_upper(51, &[6, 1, 0, 0, 0, 0, 0, 0, 0xAA]), Err(0));
    }

    #[test]
    fn transport_checksums() {
        use s7sentry_pcapgen::net::{push_tcp, TcpHeader};
        for (a, b) in [("10.10.2.20", "10.10.1.10"), ("fd00:10:10:2::20", "fd00:10:10:1::10")] {
            let (src, dst): (IpAddr, IpAddr) = (a.parse().unwrap(), b.parse().unwrap());
            for payload in [&b""[..], b"odd", b"\x03\x00\x00\x07\x02\xf0\x80"] {
                let mut seg = Vec::new();
                let h =
                    TcpHeader { sport: 49152, dport: 102, seq: 7, ack: 9, flags: 0x18, window: 512, data_offset: 5 };
                push_tcp(&mut seg, src, dst, &h, payload);
                assert!(transport_checksum_ok(src, dst, 6, &seg), "{a} {payload:?}");
                seg[4] ^= 1;
                assert!(!transport_checksum_ok(src, dst, 6, &seg));
                seg[4] ^= 1;
                assert!(!transport_checksum_ok(dst, src, 17, &seg), "the pseudo header counts");
            }
            // Every payload length (all remainders of the 32-bit word loop).
            for len in 0..40usize {
                let payload: Vec<u8> = (0..len).map(|k| (k * 37 + 11) as u8).collect();
                let mut seg = Vec::new();
                let h = TcpHeader {
                    sport: 1,
                    dport: 102,
                    seq: 0xFFFF_FFF0,
                    ack: 1,
                    flags: 0x10,
                    window: 1,
                    data_offset: 5,
                };
                push_tcp(&mut seg, src, dst, &h, &payload);
                assert!(transport_checksum_ok(src, dst, 6, &seg), "{a} len {len}");
                if let Some(last) = seg.last_mut() {
                    *last ^= 0x40;
                    assert!(!transport_checksum_ok(src, dst, 6, &seg), "{a} len {len} flipped");
                }
            }
        }
    }

    /// RFC 1071 the plain way: 16-bit big-endian words, pseudo header as RFC 9293 / RFC 8200 lay it out.
    fn checksum_reference(src: IpAddr, dst: IpAddr, proto: u8, seg: &[u8]) -> bool {
        let mut bytes: Vec<u8> = Vec::new();
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                bytes.extend(s.octets());
                bytes.extend(d.octets());
                bytes.extend([0, proto]);
                bytes.extend((seg.len() as u16).to_be_bytes());
            }
            (s, d) => {
                for a in [s, d] {
                    bytes.extend(match a {
                        IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
                        IpAddr::V6(x) => x.octets(),
                    });
                }
                bytes.extend((seg.len() as u32).to_be_bytes());
                bytes.extend([0, 0, 0, proto]);
            }
        }
        bytes.extend(seg);
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        let mut acc: u32 = 0;
        for w in bytes.chunks(2) {
            acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
            acc = (acc & 0xFFFF) + (acc >> 16);
        }
        acc == 0xFFFF
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(20_000))]
        /// The 64-bit native-endian sum agrees with the plain 16-bit one on
        /// random segments (any length, any bytes; a checksum field made right
        /// half of the time), both address families.
        #[test]
        fn checksum_matches_the_plain_rfc1071_sum(
            v6 in proptest::bool::ANY,
            a in proptest::array::uniform16(proptest::num::u8::ANY),
            b in proptest::array::uniform16(proptest::num::u8::ANY),
            proto in proptest::sample::select(vec![6u8, 17]),
            mut seg in proptest::collection::vec(proptest::num::u8::ANY, 18..200),
            fix in proptest::bool::ANY,
        ) {
            let (src, dst): (IpAddr, IpAddr) = if v6 {
                (std::net::Ipv6Addr::from(a).into(), std::net::Ipv6Addr::from(b).into())
            } else {
                (std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).into(), std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).into())
            };
            if fix {
                // Make the field at 16..18 right: try every value until the reference agrees.
                seg[16] = 0;
                seg[17] = 0;
                let mut acc: u32 = 0;
                let mut tmp = seg.clone();
                if tmp.len() % 2 == 1 {
                    tmp.push(0);
                }
                let mut pseudo: Vec<u8> = Vec::new();
                if v6 {
                    pseudo.extend(a);
                    pseudo.extend(b);
                    pseudo.extend((seg.len() as u32).to_be_bytes());
                    pseudo.extend([0, 0, 0, proto]);
                } else {
                    pseudo.extend(&a[..4]);
                    pseudo.extend(&b[..4]);
                    pseudo.extend([0, proto]);
                    pseudo.extend((seg.len() as u16).to_be_bytes());
                }
                for w in pseudo.chunks(2).chain(tmp.chunks(2)) {
                    acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
                    acc = (acc & 0xFFFF) + (acc >> 16);
                }
                let c = !(acc as u16);
                seg[16..18].copy_from_slice(&c.to_be_bytes());
                proptest::prop_assert!(checksum_reference(src, dst, proto, &seg));
            }
            proptest::prop_assert_eq!(transport_checksum_ok(src, dst, proto, &seg), checksum_reference(src, dst, proto, &seg));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(20_000))]
        #[test]
        fn fast_path_matches_etherparse(
            lt in proptest::sample::select(vec![0, 1, 12, 14, 101, 108, 113, 228, 229, 276]),
            tags in proptest::collection::vec(proptest::sample::select(vec![0x8100u16, 0x88A8, 0x9100]), 0..4),
            ver_ihl in proptest::sample::select(vec![0x45u8, 0x46, 0x4F, 0x44, 0x40, 0x65, 0x35, 0x45]),
            total in proptest::sample::select(vec![0u16, 19, 20, 24, 40, 43, 44, 60, 100, 1500]),
            frag in proptest::sample::select(vec![0u16, 0x4000, 0x2000, 0x0001, 0x2003, 0x1FFF]),
            proto in proptest::sample::select(vec![6u8, 17, 51, 1, 0]),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
            cut in 0usize..200,
        ) {
            let mut hdr = vec![ver_ihl, 0, 0, 0, 0x12, 0x34, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
            hdr[2..4].copy_from_slice(&total.to_be_bytes());
            hdr[6..8].copy_from_slice(&frag.to_be_bytes());
            let mut f = ipv4_frame(lt, &tags, &hdr, &body);
            f.truncate(cut.max(f.len().saturating_sub(100)));
            let fast = slice(lt, &f);
            let lax = slice_lax(lt, &f);
            proptest::prop_assert!(same(&fast, &lax), "fast {:?} lax {:?} frame {:02x?}", fast, lax, f);
        }

        /// IPv6 with random extension-header chains, cut anywhere: the fast path
        /// (no tag) and the slow path (three tags, etherparse finds the header)
        /// read the same packet.
        #[test]
        fn ipv6_fast_and_slow_paths_agree(
            kinds in proptest::collection::vec(proptest::sample::select(vec![0u8, 43, 60, 51, 44, 135, 7]), 0..5),
            lens in proptest::collection::vec(0u8..4, 5),
            frag in proptest::num::u16::ANY,
            upper in proptest::sample::select(vec![6u8, 17, 58, 59, 50]),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..60),
            cut in 0usize..120,
            plen_zero in proptest::bool::ANY,
        ) {
            let mut p = vec![0x60, 0, 0, 0, 0, 0, kinds.first().copied().unwrap_or(upper), 64];
            p.extend_from_slice(&[0xfd; 32]);
            for (i, k) in kinds.iter().enumerate() {
                let next = kinds.get(i + 1).copied().unwrap_or(upper);
                match k {
                    44 => { p.extend_from_slice(&[next, 0]); p.extend_from_slice(&frag.to_be_bytes()); p.extend_from_slice(&[1, 2, 3, 4]); }
                    51 => { p.extend_from_slice(&[next, lens[i]]); p.resize(p.len() + (usize::from(lens[i]) + 2) * 4 - 2, 0); }
                    _ => { p.extend_from_slice(&[next, lens[i]]); p.resize(p.len() + (usize::from(lens[i]) + 1) * 8 - 2, 0); }
                }
            }
            p.extend_from_slice(&body);
            let plen = if plen_zero { 0 } else { (p.len() - 40) as u16 };
            p[4..6].copy_from_slice(&plen.to_be_bytes());
            p.truncate(cut.max(p.len().saturating_sub(60)));
            let (a, b) = (eth(&p, 0), eth(&p, 3));
            let (x, y) = (slice(1, &a), slice(1, &b));
            let agree = match (&x, &y) {
                (Sliced::Ip(x), Sliced::Ip(y)) => (x.src, x.dst, x.proto, x.fragment, x.id, x.payload) == (y.src, y.dst, y.proto, y.fragment, y.id, y.payload),
                (Sliced::Bad(_), Sliced::Bad(_)) => true,
                _ => false,
            };
            proptest::prop_assert!(agree, "{:?} vs {:?}", x, y);
            if let Sliced::Ip(ip) = x {
                if ip.fragment.is_none_or(|(o, _)| o == 0) {
                    let _ = transport_at(true, ip.proto, ip.payload);
                }
            }
        }

        #[test]
        fn never_panics(lt in proptest::sample::select(vec![0, 1, 12, 101, 108, 113, 228, 229, 276, 999]),
                        b in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
            if let Sliced::Ip(ip) = slice(lt, &b) {
                let _ = parse_tcp(ip.payload);
            }
        }
    }
}
