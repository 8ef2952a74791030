//! COTP, ISO 8073 / ITU-T X.224 connection-oriented transport, class 0 as used by S7.
//!
//! ```text
//! byte 0   LI   length indicator: header bytes that follow LI (not counting LI)
//! byte 1   code TPDU code (high nibble) | CDT (low nibble, CR/CC/AK/RJ)
//! ...      fixed part (depends on code), then TLV variable parameters up to LI
//! LI+1..   user data (DT: the S7 PDU)
//! ```
//!
//! [`parse_cotp`] is a *complete* parser over the TPKT payload: a TPDU that does
//! not fit is an error ([`Finding`] with the offset inside the TPDU). TPDUs that
//! parse but violate what S7 endpoints expect (DT with LI != 2, CR without TSAPs,
//! DR with trailing bytes, ...) are returned intact; [`Cotp::lint`] reports the
//! first such violation.

use crate::finding::{Finding, FindingKind, Layer};
use crate::util::be16;
use nom::number::complete::{be_u16, be_u8};
use nom::Parser;

type NomErr<'a> = nom::Err<nom::error::Error<&'a [u8]>>;

/// COTP TPDU code (high nibble of byte 1). Open newtype: unknown codes survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TpduCode(pub u8);

impl TpduCode {
    /// Expedited Data.
    pub const ED: TpduCode = TpduCode(0x10);
    /// Expedited Data Acknowledgement.
    pub const EA: TpduCode = TpduCode(0x20);
    /// Reject.
    pub const RJ: TpduCode = TpduCode(0x50);
    /// Data Acknowledgement.
    pub const AK: TpduCode = TpduCode(0x60);
    /// TPDU Error.
    pub const ER: TpduCode = TpduCode(0x70);
    /// Disconnect Request.
    pub const DR: TpduCode = TpduCode(0x80);
    /// Disconnect Confirm.
    pub const DC: TpduCode = TpduCode(0xC0);
    /// Connect Confirm.
    pub const CC: TpduCode = TpduCode(0xD0);
    /// Connect Request.
    pub const CR: TpduCode = TpduCode(0xE0);
    /// Data.
    pub const DT: TpduCode = TpduCode(0xF0);

    /// Code from the raw byte 1 (drops the CDT nibble).
    pub const fn from_byte(b: u8) -> TpduCode {
        TpduCode(b & 0xF0)
    }

    /// Code of a raw COTP TPDU (`tpdu` starts at its length indicator):
    /// byte 1 without the CDT nibble; `None` when `tpdu` is shorter than 2
    /// bytes. For callers that hold a TPDU's bytes but not its parse (a
    /// finding's bytes, say).
    pub fn of_tpdu(tpdu: &[u8]) -> Option<TpduCode> {
        tpdu.get(1).map(|&b| TpduCode::from_byte(b))
    }

    /// Short name ("CR", "DT", ...), `None` for codes ISO 8073 does not define.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x10 => "ED",
            0x20 => "EA",
            0x50 => "RJ",
            0x60 => "AK",
            0x70 => "ER",
            0x80 => "DR",
            0xC0 => "DC",
            0xD0 => "CC",
            0xE0 => "CR",
            0xF0 => "DT",
            _ => return None,
        })
    }

    /// Length of the fixed part after LI (code byte included), class 0 layouts.
    const fn fixed_len(self) -> Option<u8> {
        Some(match self.0 {
            0xE0 | 0xD0 | 0x80 => 6,               // code, dst-ref, src-ref, class/option | reason
            0xC0 => 5,                             // code, dst-ref, src-ref
            0xF0 => 2,                             // code, EOT|NR
            0x10 | 0x20 | 0x50 | 0x60 | 0x70 => 4, // code, dst-ref, NR / cause
            _ => return None,
        })
    }
}

/// COTP variable-part parameter codes (ISO 8073 §13.2.3).
pub mod param {
    /// TPDU size (1 byte: 2^n).
    pub const TPDU_SIZE: u8 = 0xC0;
    /// Calling TSAP (source).
    pub const CALLING_TSAP: u8 = 0xC1;
    /// Called TSAP (destination).
    pub const CALLED_TSAP: u8 = 0xC2;
    /// Checksum.
    pub const CHECKSUM: u8 = 0xC3;
    /// Version number.
    pub const VERSION: u8 = 0xC4;
    /// Protection parameters.
    pub const PROTECTION: u8 = 0xC5;
    /// Additional option selection.
    pub const ADDITIONAL_OPTIONS: u8 = 0xC6;
    /// Alternative protocol classes.
    pub const ALTERNATIVE_CLASS: u8 = 0xC7;
    /// Additional information related to clearing (DR).
    pub const CLEARING_INFO: u8 = 0xE0;
    /// Invalid TPDU (ER).
    pub const INVALID_TPDU: u8 = 0xC1;
    /// Preferred maximum TPDU size.
    pub const PREFERRED_TPDU_SIZE: u8 = 0xF0;
    /// Inactivity timer.
    pub const INACTIVITY_TIMER: u8 = 0xF2;
}

/// Largest TSAP that a real S7 endpoint uses is 16 bytes ("SIMATIC-ROOT-HMI");
/// anything above this is flagged as oversized.
pub const MAX_TSAP_LEN: usize = 32;

/// Fixed part of a TPDU, by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixed {
    /// CR / CC.
    Connection {
        /// Destination reference.
        dst_ref: u16,
        /// Source reference.
        src_ref: u16,
        /// Class (high nibble) and options (low nibble).
        class_option: u8,
    },
    /// DR: references and reason.
    DisconnectRequest {
        /// Destination reference.
        dst_ref: u16,
        /// Source reference.
        src_ref: u16,
        /// Disconnect reason.
        reason: u8,
    },
    /// DC: references.
    DisconnectConfirm {
        /// Destination reference.
        dst_ref: u16,
        /// Source reference.
        src_ref: u16,
    },
    /// DT (class 0): end-of-TSDU flag and TPDU number.
    Data {
        /// Last TPDU of the TSDU (bit 7 of byte 2).
        eot: bool,
        /// TPDU number (bits 6..0).
        nr: u8,
    },
    /// ED / EA / AK / RJ: destination reference and a number.
    Numbered {
        /// Destination reference.
        dst_ref: u16,
        /// EOT|NR (ED), NR (EA), YR-TU-NR (AK, RJ).
        nr: u8,
    },
    /// ER: destination reference and reject cause.
    Error {
        /// Destination reference.
        dst_ref: u16,
        /// Reject cause.
        cause: u8,
    },
}

/// One COTP TPDU borrowing from the TPKT payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cotp<'a> {
    /// Length indicator.
    pub li: u8,
    /// TPDU code.
    pub code: TpduCode,
    /// Credit (low nibble of byte 1).
    pub cdt: u8,
    /// Fixed part.
    pub fixed: Fixed,
    /// Variable part: TLV parameters (validated by [`parse_cotp`]).
    pub params: &'a [u8],
    /// Bytes after the header (DT: the S7 PDU).
    pub user_data: &'a [u8],
}

/// One TLV parameter of the variable part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// Parameter code.
    pub code: u8,
    /// Value bytes.
    pub value: &'a [u8],
}

/// Iterator over the (pre-validated) TLV parameters.
#[derive(Debug, Clone)]
pub struct Params<'a>(&'a [u8]);

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;
    fn next(&mut self) -> Option<Param<'a>> {
        let b = self.0;
        if b.len() < 2 {
            return None;
        }
        let n = usize::from(b[1]);
        let value = b.get(2..2 + n)?;
        self.0 = &b[2 + n..];
        Some(Param { code: b[0], value })
    }
}

/// A TSAP value: S7 classic uses 2 bytes (e.g. 0x0100 / 0x0102), S7comm-plus an
/// ASCII name such as `SIMATIC-ROOT-ES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tsap<'a>(pub &'a [u8]);

impl<'a> Tsap<'a> {
    /// The 2-byte numeric form, if the TSAP is 2 bytes long.
    pub fn as_u16(&self) -> Option<u16> {
        (self.0.len() == 2).then(|| u16::from_be_bytes([self.0[0], self.0[1]]))
    }
    /// The text form, if the TSAP is 3+ printable ASCII bytes.
    pub fn as_text(&self) -> Option<&'a str> {
        if self.0.len() > 2 && self.0.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            core::str::from_utf8(self.0).ok()
        } else {
            None
        }
    }
    /// For classic S7 remote TSAPs (`0x01..0x03 << 8 | rack << 5 | slot`): (connection type, rack, slot).
    pub fn rack_slot(&self) -> Option<(u8, u8, u8)> {
        let v = self.as_u16()?;
        let lo = (v & 0xff) as u8;
        Some(((v >> 8) as u8, lo >> 5, lo & 0x1f))
    }
}

impl<'a> Cotp<'a> {
    /// Iterate over the variable parameters.
    pub fn params(&self) -> Params<'a> {
        Params(self.params)
    }
    /// First parameter with `code`.
    pub fn param(&self, code: u8) -> Option<&'a [u8]> {
        self.params().find(|p| p.code == code).map(|p| p.value)
    }
    /// Calling (source) TSAP of a CR / CC.
    pub fn src_tsap(&self) -> Option<Tsap<'a>> {
        self.is_connection().then(|| self.param(param::CALLING_TSAP).map(Tsap)).flatten()
    }
    /// Called (destination) TSAP of a CR / CC.
    pub fn dst_tsap(&self) -> Option<Tsap<'a>> {
        self.is_connection().then(|| self.param(param::CALLED_TSAP).map(Tsap)).flatten()
    }
    /// Negotiated TPDU size in bytes (parameter 0xC0, `2^n`), if present and sane.
    pub fn tpdu_size(&self) -> Option<u32> {
        let v = self.param(param::TPDU_SIZE)?;
        let e = *v.first()?;
        (7..=13).contains(&e).then(|| 1u32 << e)
    }
    /// CR or CC.
    pub fn is_connection(&self) -> bool {
        matches!(self.code, TpduCode::CR | TpduCode::CC)
    }
    /// The DT end-of-TSDU flag; `None` for other TPDUs.
    pub fn eot(&self) -> Option<bool> {
        match self.fixed {
            Fixed::Data { eot, .. } => Some(eot),
            _ => None,
        }
    }

    /// First conformance violation of an otherwise parseable TPDU, by what S7
    /// endpoints accept (offsets relative to the TPDU's first byte):
    /// DT whose LI is not 2; CR/CC without calling or called TSAP or with a TSAP
    /// longer than [`MAX_TSAP_LEN`]; DR/DC/ER/AK/EA/RJ carrying user data.
    pub fn lint(&self) -> Option<Finding> {
        let f = |k, o| Some(Finding::new(Layer::Cotp, k, o));
        match self.code {
            TpduCode::DT if self.li != 2 => f(FindingKind::BadLengthIndicator, 0),
            TpduCode::CR | TpduCode::CC => {
                let mut off = 1 + usize::from(self.code.fixed_len().unwrap_or(0));
                let (mut src, mut dst) = (false, false);
                for p in self.params() {
                    if matches!(p.code, param::CALLING_TSAP | param::CALLED_TSAP) {
                        if p.value.len() > MAX_TSAP_LEN {
                            return f(FindingKind::OversizedTsap, off + 1);
                        }
                        src |= p.code == param::CALLING_TSAP;
                        dst |= p.code == param::CALLED_TSAP;
                    }
                    off += 2 + p.value.len();
                }
                if self.code == TpduCode::CR && !(src && dst) {
                    return f(FindingKind::MissingTsap, 1 + usize::from(self.li));
                }
                None
            }
            TpduCode::DT => None,
            _ if !self.user_data.is_empty() => f(FindingKind::TrailingBytes, 1 + usize::from(self.li)),
            _ => None,
        }
    }
}

fn nom_off(total: &[u8], e: NomErr<'_>) -> usize {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => total.len() - e.input.len(),
        nom::Err::Incomplete(_) => total.len(),
    }
}

/// Parse one COTP TPDU from a TPKT payload (complete parser).
///
/// Errors: `LengthTooShort` (fewer than 2 bytes), `UnknownTpdu` (offset 1),
/// `LengthBeyondEnd` (LI runs past the payload, offset 0), `BadLengthIndicator`
/// (LI shorter than the fixed part of the code, offset 0), `BadParameter`
/// (a TLV runs past LI, offset of that parameter).
pub fn parse_cotp(i: &[u8]) -> Result<Cotp<'_>, Finding> {
    // The common case, a class-0 DT header (LI 2, code, EOT|NR) before the S7
    // PDU: exactly what the general path below gives for it.
    if let [2, b1, x, ..] = *i {
        if TpduCode::from_byte(b1) == TpduCode::DT {
            return Ok(Cotp {
                li: 2,
                code: TpduCode::DT,
                cdt: b1 & 0x0F,
                fixed: Fixed::Data { eot: x & 0x80 != 0, nr: x & 0x7f },
                params: &i[3..3],
                user_data: &i[3..],
            });
        }
    }
    parse_general(i)
}

/// [`parse_cotp`] for any TPDU.
fn parse_general(i: &[u8]) -> Result<Cotp<'_>, Finding> {
    let err = |k, o| Finding::new(Layer::Cotp, k, o);
    let (rest, (li, b1)) = (be_u8, be_u8).parse(i).map_err(|_: NomErr<'_>| err(FindingKind::LengthTooShort, 0))?;
    let code = TpduCode::from_byte(b1);
    let fixed_len = code.fixed_len().ok_or(err(FindingKind::UnknownTpdu, 1))?;
    let hdr_end = 1 + usize::from(li);
    if hdr_end > i.len() {
        return Err(err(FindingKind::LengthBeyondEnd, 0));
    }
    if li < fixed_len {
        return Err(err(FindingKind::BadLengthIndicator, 0));
    }
    let fixed_bytes = &rest[..usize::from(fixed_len) - 1];
    let fixed = match code {
        TpduCode::CR | TpduCode::CC | TpduCode::DR => {
            let (_, (dst_ref, src_ref, x)) = (be_u16, be_u16, be_u8)
                .parse(fixed_bytes)
                .map_err(|e: NomErr<'_>| err(FindingKind::Truncated, 2 + nom_off(fixed_bytes, e)))?;
            if code == TpduCode::DR {
                Fixed::DisconnectRequest { dst_ref, src_ref, reason: x }
            } else {
                Fixed::Connection { dst_ref, src_ref, class_option: x }
            }
        }
        TpduCode::DC => Fixed::DisconnectConfirm {
            dst_ref: be16(fixed_bytes, 0).unwrap_or(0),
            src_ref: be16(fixed_bytes, 2).unwrap_or(0),
        },
        TpduCode::DT => Fixed::Data { eot: fixed_bytes[0] & 0x80 != 0, nr: fixed_bytes[0] & 0x7f },
        TpduCode::ER => Fixed::Error { dst_ref: be16(fixed_bytes, 0).unwrap_or(0), cause: fixed_bytes[2] },
        _ => Fixed::Numbered { dst_ref: be16(fixed_bytes, 0).unwrap_or(0), nr: fixed_bytes[2] },
    };
    let params_start = 1 + usize::from(fixed_len);
    let params = &i[params_start..hdr_end];
    // DT in class 0 has no variable part; anything between byte 3 and LI is kept
    // as "params" but not required to be TLV-shaped (lint() reports the LI).
    if code != TpduCode::DT {
        let mut p = params;
        while !p.is_empty() {
            let at = params_start + (params.len() - p.len());
            if p.len() < 2 || p.len() < 2 + usize::from(p[1]) {
                return Err(err(FindingKind::BadParameter, at));
            }
            p = &p[2 + usize::from(p[1])..];
        }
    }
    Ok(Cotp { li, code, cdt: b1 & 0x0F, fixed, params, user_data: &i[hdr_end..] })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Classic S7 CR (research §2.3, ISF): TSAP 0x0100 -> 0x0102, TPDU size 1024.
    const CR: &[u8] = b"\x11\xe0\x00\x00\x00\x14\x00\xc1\x02\x01\x00\xc2\x02\x01\x02\xc0\x01\x0a";
    /// S7comm-plus CR to SIMATIC-ROOT-ES (research §2.2).
    const CR_PLUS: &[u8] = b"\x1e\xe0\x00\x00\x00\x01\x00\xc1\x02\x06\x00\xc2\x0fSIMATIC-ROOT-ES\xc0\x01\x0a";

    #[test]
    fn connect_request() {
        let c = parse_cotp(CR).unwrap();
        assert_eq!(c.code, TpduCode::CR);
        assert_eq!(c.fixed, Fixed::Connection { dst_ref: 0, src_ref: 0x14, class_option: 0 });
        assert_eq!(c.src_tsap().unwrap().as_u16(), Some(0x0100));
        assert_eq!(c.dst_tsap().unwrap().rack_slot(), Some((1, 0, 2)));
        assert_eq!(c.tpdu_size(), Some(1024));
        assert!(c.user_data.is_empty());
        assert_eq!(c.lint(), None);
    }

    #[test]
    fn connect_request_plus() {
        let c = parse_cotp(CR_PLUS).unwrap();
        assert_eq!(c.dst_tsap().unwrap().as_text(), Some("SIMATIC-ROOT-ES"));
        assert_eq!(c.src_tsap().unwrap().as_u16(), Some(0x0600));
    }

    #[test]
    fn data() {
        let c = parse_cotp(b"\x02\xf0\x80\x32\x01").unwrap();
        assert_eq!(c.code, TpduCode::DT);
        assert_eq!(c.eot(), Some(true));
        assert_eq!(c.user_data, b"\x32\x01");
        let c = parse_cotp(b"\x02\xf0\x00").unwrap();
        assert_eq!(c.eot(), Some(false));
    }

    /// The DT fast path gives what the general parser gives, for every code
    /// and EOT/NR byte, with and without user data.
    #[test]
    fn dt_fast_path_matches_general_parser() {
        for b1 in 0..=255u8 {
            for x in 0..=255u8 {
                for tail in [&b""[..], b"\x32", b"\x32\x01\x00\x00"] {
                    let mut i = vec![2, b1, x];
                    i.extend_from_slice(tail);
                    assert_eq!(parse_cotp(&i), parse_general(&i), "{i:02x?}");
                }
            }
        }
    }

    #[test]
    fn lint_cases() {
        let c = parse_cotp(b"\x04\xf0\x80\x00\x00\x32").unwrap();
        assert_eq!(c.lint().unwrap().kind, FindingKind::BadLengthIndicator);
        let c = parse_cotp(b"\x06\x80\x00\x01\x00\x02\x80XYZ").unwrap();
        assert_eq!(c.lint(), Some(Finding::new(Layer::Cotp, FindingKind::TrailingBytes, 7)));
        let c = parse_cotp(b"\x06\xe0\x00\x00\x00\x01\x00").unwrap();
        assert_eq!(c.lint().unwrap().kind, FindingKind::MissingTsap);
        let mut big = vec![0u8, 0xe0, 0, 0, 0, 1, 0, 0xc1, 2, 1, 0, 0xc2, 40];
        big.extend_from_slice(&[b'A'; 40]);
        big[0] = (big.len() - 1) as u8;
        let c = parse_cotp(&big).unwrap();
        assert_eq!(c.lint(), Some(Finding::new(Layer::Cotp, FindingKind::OversizedTsap, 12)));
    }

    #[test]
    fn errors() {
        let k = |b: &[u8]| parse_cotp(b).unwrap_err();
        assert_eq!(k(b"\x02"), Finding::new(Layer::Cotp, FindingKind::LengthTooShort, 0));
        assert_eq!(k(b"\x02\x30\x80"), Finding::new(Layer::Cotp, FindingKind::UnknownTpdu, 1));
        assert_eq!(k(b"\x09\xf0\x80"), Finding::new(Layer::Cotp, FindingKind::LengthBeyondEnd, 0));
        assert_eq!(k(b"\x01\xf0"), Finding::new(Layer::Cotp, FindingKind::BadLengthIndicator, 0));
        assert_eq!(k(b"\x03\x80\x00\x00\x00"), Finding::new(Layer::Cotp, FindingKind::BadLengthIndicator, 0));
        assert_eq!(k(b"\x08\xe0\x00\x00\x00\x01\x00\xc1\x05"), Finding::new(Layer::Cotp, FindingKind::BadParameter, 7));
    }

    #[test]
    fn truncated_prefixes_never_panic_and_error() {
        for n in 0..CR.len() {
            assert!(parse_cotp(&CR[..n]).is_err(), "prefix {n}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            if let Ok(c) = parse_cotp(&b) {
                let _ = c.lint();
                let _ = c.src_tsap().map(|t| (t.as_text(), t.rack_slot()));
                let _ = c.params().count();
            }
        }

        #[test]
        fn dt_round_trip(eot in proptest::bool::ANY, nr in 0u8..128, data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut b = vec![2u8, 0xf0, (u8::from(eot) << 7) | nr];
            b.extend_from_slice(&data);
            let c = parse_cotp(&b).unwrap();
            proptest::prop_assert_eq!(c.fixed, Fixed::Data { eot, nr });
            proptest::prop_assert_eq!(c.user_data, &data[..]);
        }
    }
}
