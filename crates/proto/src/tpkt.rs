//! TPKT framing, RFC 1006 §6 ("ISO transport service on top of TCP").
//!
//! ```text
//! 0        1        2        3
//! +--------+--------+--------+--------+
//! | vrsn=3 | reserved=0 |   packet length (incl. these 4 bytes), BE |
//! +--------+--------+--------+--------+
//! ```
//!
//! [`parse_tpkt`] is a *streaming* parser: on a short input it returns
//! `Err(nom::Err::Incomplete(Needed::Size(n)))` with the number of bytes still
//! missing; the caller keeps the bytes and calls again when more have arrived.
//! A header that cannot start a TPKT (version other than 3, length < [`MIN_LEN`])
//! is reported as `Err(nom::Err::Failure(Finding))`. A non-zero reserved byte
//! does not stop framing (the length still delimits the packet, and a receiver
//! that ignores the byte would process it): [`TpktHeader::lint`] reports it.

use crate::finding::{Finding, FindingKind, Layer};
use nom::{Err, IResult, Needed};

/// Length of the TPKT header.
pub const HEADER_LEN: usize = 4;
/// The only TPKT version defined by RFC 1006.
pub const VERSION: u8 = 3;
/// Smallest TPKT that can carry a COTP DT header (4 + LI + code + EOT/NR).
pub const MIN_LEN: u16 = 7;

/// Parsed TPKT header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TpktHeader {
    /// Version (must be 3).
    pub version: u8,
    /// Reserved (must be 0).
    pub reserved: u8,
    /// Total length including the 4-byte header.
    pub length: u16,
}

impl TpktHeader {
    /// Conformance violation that does not prevent framing: reserved byte not 0.
    pub fn lint(&self) -> Option<Finding> {
        (self.reserved != 0).then(|| Finding::new(Layer::Tpkt, FindingKind::BadReserved, 1))
    }
}

/// A TPKT packet borrowing its payload (the COTP TPDU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tpkt<'a> {
    /// The header.
    pub header: TpktHeader,
    /// `length - 4` bytes following the header.
    pub payload: &'a [u8],
}

/// Nom error type of this module: a [`Finding`] on failure.
pub type TpktResult<'a, T> = IResult<&'a [u8], T, Finding>;

/// Parse the 4-byte header only (streaming). Validates version, reserved and minimum length.
pub fn parse_tpkt_header(i: &[u8]) -> TpktResult<'_, TpktHeader> {
    if i.len() < HEADER_LEN {
        return Err(Err::Incomplete(Needed::new(HEADER_LEN - i.len())));
    }
    let h = TpktHeader { version: i[0], reserved: i[1], length: u16::from_be_bytes([i[2], i[3]]) };
    if h.version != VERSION {
        return Err(Err::Failure(Finding::new(Layer::Tpkt, FindingKind::BadVersion, 0)));
    }
    if h.length < MIN_LEN {
        return Err(Err::Failure(Finding::new(Layer::Tpkt, FindingKind::LengthTooShort, 2)));
    }
    Ok((&i[HEADER_LEN..], h))
}

/// Parse one whole TPKT (streaming): header plus `length - 4` payload bytes.
///
/// Returns the remaining input (the next TPKT, if any) and the packet.
/// `Incomplete(n)` means `n` more bytes are needed before the packet is whole.
pub fn parse_tpkt(i: &[u8]) -> TpktResult<'_, Tpkt<'_>> {
    let (rest, header) = parse_tpkt_header(i)?;
    let body = usize::from(header.length) - HEADER_LEN;
    if rest.len() < body {
        return Err(Err::Incomplete(Needed::new(body - rest.len())));
    }
    let (payload, rest) = rest.split_at(body);
    Ok((rest, Tpkt { header, payload }))
}

/// Heuristic used to resynchronise a stream after a gap: does `i` start with
/// something that looks like a TPKT carrying a known COTP TPDU?
///
/// Checks `03 00`, a length in `7..=max_len`, a COTP length indicator that fits
/// the TPKT, and a known TPDU code. Needs at least 6 bytes; returns `false` otherwise.
pub fn plausible_start(i: &[u8], max_len: u16) -> bool {
    if i.len() < 6 || i[0] != VERSION || i[1] != 0 {
        return false;
    }
    let len = u16::from_be_bytes([i[2], i[3]]);
    if !(MIN_LEN..=max_len).contains(&len) {
        return false;
    }
    let li = i[4];
    if usize::from(li) + 1 > usize::from(len) - HEADER_LEN || li < 2 {
        return false;
    }
    crate::cotp::TpduCode::from_byte(i[5]).name().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gymgit__snap7_s300_stop.pcap frame 1: TPKT of the CPU STOP job (length 0x21).
    const STOP: &[u8] = b"\x03\x00\x00\x21\x02\xf0\x80\x32\x01\x00\x00\x06\x00\x00\x10\x00\x00\
\x29\x00\x00\x00\x00\x00\x09P_PROGRAM";

    #[test]
    fn whole_frame() {
        let (rest, t) = parse_tpkt(STOP).unwrap();
        assert!(rest.is_empty());
        assert_eq!(t.header, TpktHeader { version: 3, reserved: 0, length: 0x21 });
        assert_eq!(t.payload.len(), 0x21 - 4);
        assert_eq!(t.payload[0], 0x02);
    }

    #[test]
    fn every_truncated_prefix_is_incomplete_with_exact_need() {
        for n in 0..STOP.len() {
            match parse_tpkt(&STOP[..n]) {
                Err(Err::Incomplete(Needed::Size(k))) => {
                    let want = if n < 4 { 4 - n } else { STOP.len() - n };
                    assert_eq!(k.get(), want, "prefix {n}");
                }
                other => panic!("prefix {n}: {other:?}"),
            }
        }
    }

    #[test]
    fn two_in_one_buffer() {
        let mut b = STOP.to_vec();
        b.extend_from_slice(STOP);
        let (rest, _) = parse_tpkt(&b).unwrap();
        let (rest, _) = parse_tpkt(rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn bad_headers_are_failures_with_offsets() {
        let f = |b: &[u8]| match parse_tpkt(b) {
            Err(Err::Failure(f)) => (f.kind, f.offset),
            o => panic!("{o:?}"),
        };
        assert_eq!(f(b"\x02\x00\x00\x21"), (FindingKind::BadVersion, 0));
        assert_eq!(f(b"\x03\x00\x00\x06"), (FindingKind::LengthTooShort, 2));
    }

    #[test]
    fn reserved_byte_is_a_lint_not_a_failure() {
        let mut b = STOP.to_vec();
        b[1] = 1;
        let (_, t) = parse_tpkt(&b).unwrap();
        assert_eq!(t.header.lint(), Some(Finding::new(Layer::Tpkt, FindingKind::BadReserved, 1)));
        assert_eq!(parse_tpkt(STOP).unwrap().1.header.lint(), None);
    }

    #[test]
    fn plausible() {
        assert!(plausible_start(STOP, 65535));
        assert!(!plausible_start(&STOP[1..], 65535));
        assert!(!plausible_start(b"\x03\x00\x00\x21\x02\x33", 65535));
    }

    proptest::proptest! {
        #[test]
        fn round_trip(payload in proptest::collection::vec(proptest::num::u8::ANY, 3..600)) {
            let len = (payload.len() + 4) as u16;
            let mut b = vec![3u8, 0, (len >> 8) as u8, len as u8];
            b.extend_from_slice(&payload);
            let (rest, t) = parse_tpkt(&b).unwrap();
            proptest::prop_assert!(rest.is_empty());
            proptest::prop_assert_eq!(t.header.length, len);
            proptest::prop_assert_eq!(t.payload, &payload[..]);
        }

        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = parse_tpkt(&b);
            let _ = plausible_start(&b, 65535);
        }
    }
}
