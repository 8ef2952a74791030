//! Userdata (ROSCTR 7): parameter head, data part, SZL (system status list)
//! records and the BCD clock.
//!
//! ```text
//! param: 00 01 12 | head len (4|8) | syntax id (0x11 short, 0x12 extended) | type:group | subfunction | seq
//!        [| data unit ref | last unit (0 yes, 1 no) | error code(2)]          (8-byte head)
//! data:  return code | transport size | length(2) | payload
//! SZL:   payload = SZL id(2) | index(2) [| record length(2) | record count(2) | records]
//! ```

use super::codes::{DataTransportSize, ErrorCode, ReturnCode, UserdataGroup, UserdataType, SUBF_CPU_READ_SZL};
use crate::finding::{Finding, FindingKind, Layer};
use crate::util::{ascii_str, be16};

/// Userdata parameter head (ROSCTR 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserdataHeader {
    /// Parameter head length byte (4 or 8).
    pub param_head_len: u8,
    /// Syntax id of the head: 0x11 short head (requests), 0x12 extended head
    /// (responses and follow-up requests). Named "method" after the usual
    /// request/response reading of these two values.
    pub method: u8,
    /// Type: 0 push, 1 request, 2 response (bits 7..6 of byte 5).
    pub ud_type: u8,
    /// Function group (bits 5..0 of byte 5).
    pub group: u8,
    /// Subfunction.
    pub subfunction: u8,
    /// Sequence number.
    pub seq: u8,
    /// Data unit reference (8-byte heads only).
    pub data_unit_ref: Option<u8>,
    /// Last data unit: 0 yes, 1 no (8-byte heads only).
    pub last_unit: Option<u8>,
    /// Error code (8-byte heads only).
    pub error_code: Option<u16>,
}

impl UserdataHeader {
    /// Decode from the parameter bytes (at least 8). The extended fields are
    /// read when the head length byte says 8 and 12 bytes are present.
    pub fn from_param(p: &[u8]) -> Option<UserdataHeader> {
        if p.len() < 8 {
            return None;
        }
        let long = p[3] == 8 && p.len() >= 12;
        Some(UserdataHeader {
            param_head_len: p[3],
            method: p[4],
            ud_type: (p[5] & 0xC0) >> 6,
            group: p[5] & 0x3F,
            subfunction: p[6],
            seq: p[7],
            data_unit_ref: long.then(|| p[8]),
            last_unit: long.then(|| p[9]),
            error_code: if long { be16(p, 10) } else { None },
        })
    }

    /// Encode as parameter bytes; returns the buffer and the number of bytes used (8 or 12).
    pub fn to_bytes(&self) -> ([u8; 12], usize) {
        let mut b = [0u8; 12];
        b[..3].copy_from_slice(&[0x00, 0x01, 0x12]);
        b[3] = self.param_head_len;
        b[4] = self.method;
        b[5] = (self.ud_type << 6) | (self.group & 0x3F);
        b[6] = self.subfunction;
        b[7] = self.seq;
        match (self.data_unit_ref, self.last_unit, self.error_code) {
            (Some(d), Some(l), Some(e)) => {
                b[8] = d;
                b[9] = l;
                b[10..12].copy_from_slice(&e.to_be_bytes());
                (b, 12)
            }
            _ => (b, 8),
        }
    }

    /// The type as an open newtype.
    pub const fn user_type(&self) -> UserdataType {
        UserdataType(self.ud_type)
    }

    /// The function group as an open newtype.
    pub const fn function_group(&self) -> UserdataGroup {
        UserdataGroup(self.group)
    }

    /// Name of the subfunction within its group.
    pub const fn subfunction_name(&self) -> Option<&'static str> {
        super::codes::subfunction_name(self.group, self.subfunction)
    }

    /// Request.
    pub const fn is_request(&self) -> bool {
        self.ud_type == 1
    }

    /// Response.
    pub const fn is_response(&self) -> bool {
        self.ud_type == 2
    }

    /// Push / indication.
    pub const fn is_push(&self) -> bool {
        self.ud_type == 0
    }

    /// Whether more data units follow (8-byte head with last-unit = 1).
    pub fn more_units(&self) -> bool {
        self.last_unit == Some(1)
    }

    /// Whether this is (most likely) the closing unit of a fragmented answer:
    /// data unit reference set and last-unit = 0. On the wire such a unit
    /// carries the continuation of the data, not its head; tshark shows the
    /// fields of the reassembled data here (see [`super::S7Pdu::szl`]). A
    /// single-unit answer with a non-zero data unit reference looks the same.
    pub fn is_continuation(&self) -> bool {
        self.data_unit_ref.is_some_and(|d| d != 0) && self.last_unit == Some(0)
    }

    /// Non-zero error code of an 8-byte head.
    pub fn error(&self) -> Option<ErrorCode> {
        self.error_code.filter(|&e| e != 0).map(ErrorCode)
    }

    /// Type as Wireshark up to 4.0 reports it (high nibble of byte 5: 0 push,
    /// 4 request, 8 response, 3/7/11 NC variants).
    pub const fn legacy_type(&self) -> u8 {
        ((self.ud_type << 6) | self.group) >> 4
    }

    /// Function group as Wireshark up to 4.0 reports it (low nibble of byte 5);
    /// equal to [`Self::group`] for all groups below 0x10.
    pub const fn legacy_group(&self) -> u8 {
        self.group & 0x0F
    }

    /// Subfunction as tshark 4.0 shows it in `s7comm.param.userdata.subfunc`:
    /// `None` when its (nibble) group is 0, where 4.0 shows the byte as the
    /// mode-transition "current mode" field instead.
    pub const fn legacy_subfunction(&self) -> Option<u8> {
        if self.legacy_group() == 0 {
            None
        } else {
            Some(self.subfunction)
        }
    }
}

/// The 4-byte head of a userdata data part plus its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserdataData<'a> {
    /// Return code (0xFF success, 0x0A in follow-up requests, ...).
    pub return_code: ReturnCode,
    /// Transport size (0x09 octet string in most services).
    pub transport_size: DataTransportSize,
    /// Declared payload length.
    pub length: u16,
    /// Payload: the bytes after the 4-byte head (all of them, whatever `length` says).
    pub payload: &'a [u8],
}

impl<'a> UserdataData<'a> {
    /// Decode from a userdata data part (at least 4 bytes).
    pub fn from_data(d: &'a [u8]) -> Option<UserdataData<'a>> {
        let h = d.get(..4)?;
        Some(UserdataData {
            return_code: ReturnCode(h[0]),
            transport_size: DataTransportSize(h[1]),
            length: u16::from_be_bytes([h[2], h[3]]),
            payload: &d[4..],
        })
    }
}

/// SZL id and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SzlRef {
    /// SZL id.
    pub id: u16,
    /// SZL index.
    pub index: u16,
}

impl SzlRef {
    /// Number of the partial list (low byte), e.g. 0x11 for module identification.
    pub const fn partial_list(&self) -> u8 {
        (self.id & 0xFF) as u8
    }

    /// Whether this reads module identification (SZL xy11).
    pub const fn is_module_identification(&self) -> bool {
        self.partial_list() == 0x11
    }

    /// Whether this reads component identification (SZL xy1C).
    pub const fn is_component_identification(&self) -> bool {
        self.partial_list() == 0x1C
    }
}

/// An SZL answer: the list head and its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SzlResponse<'a> {
    /// SZL id.
    pub id: u16,
    /// SZL index.
    pub index: u16,
    /// Length of one record in bytes.
    pub record_len: u16,
    /// Number of records in the whole list (may exceed what this unit holds).
    pub record_count: u16,
    /// Record bytes present in this unit.
    pub records: &'a [u8],
}

impl<'a> SzlResponse<'a> {
    /// Decode from the userdata payload (after the 4-byte data head).
    pub fn from_payload(p: &'a [u8]) -> Option<SzlResponse<'a>> {
        let h = p.get(..8)?;
        Some(SzlResponse {
            id: u16::from_be_bytes([h[0], h[1]]),
            index: u16::from_be_bytes([h[2], h[3]]),
            record_len: u16::from_be_bytes([h[4], h[5]]),
            record_count: u16::from_be_bytes([h[6], h[7]]),
            records: &p[8..],
        })
    }

    /// Id and index.
    pub const fn szl_ref(&self) -> SzlRef {
        SzlRef { id: self.id, index: self.index }
    }

    /// Complete records present in this unit.
    pub fn records(&self) -> SzlRecords<'a> {
        SzlRecords { rest: self.records, len: usize::from(self.record_len), remaining: self.record_count }
    }

    /// Module identification records (SZL xy11, 28-byte records); empty for other lists.
    pub fn module_ids(&self) -> impl Iterator<Item = ModuleIdRecord<'a>> + 'a {
        let ok = self.szl_ref().is_module_identification() && self.record_len >= 28;
        self.records().filter(move |_| ok).filter_map(ModuleIdRecord::from_bytes)
    }

    /// Component identification records (SZL xy1C, 34-byte records); empty for other lists.
    pub fn components(&self) -> impl Iterator<Item = ComponentRecord<'a>> + 'a {
        let ok = self.szl_ref().is_component_identification() && self.record_len >= 34;
        self.records().filter(move |_| ok).filter_map(ComponentRecord::from_bytes)
    }
}

/// Iterator over the records of an SZL answer.
#[derive(Debug, Clone)]
pub struct SzlRecords<'a> {
    rest: &'a [u8],
    len: usize,
    remaining: u16,
}

impl<'a> Iterator for SzlRecords<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 || self.len == 0 {
            return None;
        }
        let r = self.rest.get(..self.len)?;
        self.rest = &self.rest[self.len..];
        self.remaining -= 1;
        Some(r)
    }
}

/// Version as found in module identification: a letter and three numbers (`V3.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleVersion {
    /// Prefix letter (`b'V'` firmware, `b'A'` boot loader, ...).
    pub letter: u8,
    /// Major number.
    pub major: u8,
    /// Minor number.
    pub minor: u8,
    /// Patch number.
    pub patch: u8,
}

/// One module identification record (SZL 0x0011 / 0x0111, 28 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleIdRecord<'a> {
    /// Record index: 0x0001 module, 0x0006 basic hardware, 0x0007 basic firmware, 0x0081.. firmware extensions.
    pub index: u16,
    /// Order number (MLFB), 20 ASCII bytes, space padded.
    pub order_number: &'a [u8],
    /// Module type id (BGTyp).
    pub module_type: u16,
    /// First version word (Ausbg).
    pub ausbg: u16,
    /// Second version word (Ausbe).
    pub ausbe: u16,
}

impl<'a> ModuleIdRecord<'a> {
    /// Decode one 28-byte record.
    pub fn from_bytes(r: &'a [u8]) -> Option<ModuleIdRecord<'a>> {
        let r = r.get(..28)?;
        Some(ModuleIdRecord {
            index: u16::from_be_bytes([r[0], r[1]]),
            order_number: &r[2..22],
            module_type: u16::from_be_bytes([r[22], r[23]]),
            ausbg: u16::from_be_bytes([r[24], r[25]]),
            ausbe: u16::from_be_bytes([r[26], r[27]]),
        })
    }

    /// Order number without padding, when ASCII (may be empty for firmware records).
    pub fn order_number_str(&self) -> Option<&'a str> {
        trimmed_text(self.order_number)
    }

    /// Name of the record kind.
    pub const fn kind(&self) -> Option<&'static str> {
        Some(match self.index {
            0x0001 => "module",
            0x0006 => "basic hardware",
            0x0007 => "basic firmware",
            0x0081 => "firmware extension",
            0x0082..=0x0085 => "firmware extension",
            _ => return None,
        })
    }

    /// Version `letter major.minor.patch` when the first version byte is an ASCII letter
    /// (firmware and boot loader records, e.g. `V3.2.7`).
    pub fn version(&self) -> Option<ModuleVersion> {
        let [letter, major] = self.ausbg.to_be_bytes();
        let [minor, patch] = self.ausbe.to_be_bytes();
        letter.is_ascii_alphabetic().then_some(ModuleVersion { letter, major, minor, patch })
    }
}

/// One component identification record (SZL 0x001C / 0x011C, 34 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ComponentRecord<'a> {
    /// Record index (1 PLC name, 2 module name, 3 plant id, 4 copyright,
    /// 5 serial number, 7 module type name, 8 memory card serial, 9 manufacturer
    /// and profile, 10 OEM id, 11 location).
    pub index: u16,
    /// The 32 data bytes.
    pub data: &'a [u8],
}

impl<'a> ComponentRecord<'a> {
    /// Decode one 34-byte record.
    pub fn from_bytes(r: &'a [u8]) -> Option<ComponentRecord<'a>> {
        let r = r.get(..34)?;
        Some(ComponentRecord { index: u16::from_be_bytes([r[0], r[1]]), data: &r[2..] })
    }

    /// Name of the record kind.
    pub const fn kind(&self) -> Option<&'static str> {
        Some(match self.index {
            0x0001 => "PLC name",
            0x0002 => "module name",
            0x0003 => "plant identification",
            0x0004 => "copyright",
            0x0005 => "serial number",
            0x0007 => "module type name",
            0x0008 => "memory card serial number",
            0x0009 => "manufacturer and profile",
            0x000A => "OEM identification",
            0x000B => "location",
            _ => return None,
        })
    }

    /// The text of a string record (up to the first NUL, trailing spaces removed);
    /// `None` for binary records (9) or non-ASCII content.
    pub fn text(&self) -> Option<&'a str> {
        let d = match self.index {
            0x0009 => return None,
            0x000A => self.data.get(..26).unwrap_or(self.data),
            _ => self.data,
        };
        trimmed_text(d)
    }
}

/// ASCII text up to the first NUL with trailing spaces removed.
fn trimmed_text(b: &[u8]) -> Option<&str> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let mut s = &b[..end];
    while let [head @ .., b' '] = s {
        s = head;
    }
    ascii_str(s)
}

/// A BCD-coded S7 timestamp (10 bytes: reserved, year high, year low, month,
/// day, hour, minute, second, millisecond x10, millisecond low digit / weekday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct S7Timestamp {
    /// Year (the century byte is ignored: 00..88 mean 2000..2088, 89..99 mean 1989..1999).
    pub year: u16,
    /// Month 1..12.
    pub month: u8,
    /// Day 1..31.
    pub day: u8,
    /// Hour.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
    /// Millisecond.
    pub millisecond: u16,
    /// Weekday (1 Sunday .. 7 Saturday, 0 undefined).
    pub weekday: u8,
}

const fn bcd(b: u8) -> u8 {
    (b >> 4) * 10 + (b & 0x0F)
}

impl S7Timestamp {
    /// Decode 10 BCD bytes.
    pub fn from_bytes(b: &[u8]) -> Option<S7Timestamp> {
        let b = b.get(..10)?;
        let yy = bcd(b[2]);
        let year = if yy < 89 { 2000 } else { 1900 } + u16::from(yy);
        Some(S7Timestamp {
            year,
            month: bcd(b[3]),
            day: bcd(b[4]),
            hour: bcd(b[5]),
            minute: bcd(b[6]),
            second: bcd(b[7]),
            millisecond: u16::from(bcd(b[8])) * 10 + u16::from(b[9] >> 4),
            weekday: b[9] & 0x0F,
        })
    }
}

/// Known record length of an SZL list, `None` when the list is not checked.
fn known_record_len(r: SzlRef) -> Option<u16> {
    match (r.id, r.index) {
        (0x0011 | 0x0111, 0x0000 | 0x0001 | 0x0006 | 0x0007) => Some(28),
        (0x001C | 0x011C, _) => Some(34),
        _ => None,
    }
}

/// Check a userdata PDU's parameter head and data part. `param_off` / `data_off`
/// are PDU offsets of the parts.
pub(crate) fn check(param: &[u8], data: &[u8], param_off: usize, data_off: usize) -> Option<Finding> {
    let f = |k, o| Some(Finding::new(Layer::S7comm, k, o));
    let Some(h) = UserdataHeader::from_param(param) else {
        return f(FindingKind::Truncated, param_off + param.len());
    };
    if param[2] != 0x12 {
        return f(FindingKind::BadItem, param_off + 2);
    }
    if usize::from(param[3]) + 4 != param.len() {
        return f(FindingKind::LengthMismatch, param_off + 3);
    }
    if data.is_empty() {
        return None;
    }
    let Some(d) = UserdataData::from_data(data) else {
        return f(FindingKind::Truncated, data_off + data.len());
    };
    if usize::from(d.length) != d.payload.len() {
        return f(FindingKind::LengthMismatch, data_off + 2);
    }
    if h.group == 4 && h.subfunction == SUBF_CPU_READ_SZL && !h.is_continuation() && d.length >= 2 {
        if h.is_request() && d.payload.len() < 4 {
            return f(FindingKind::Truncated, data_off + data.len());
        }
        if h.is_response() && d.return_code == ReturnCode::SUCCESS {
            let Some(s) = SzlResponse::from_payload(d.payload) else {
                return f(FindingKind::Truncated, data_off + data.len());
            };
            if known_record_len(s.szl_ref()).is_some_and(|l| l != s.record_len) {
                return f(FindingKind::BadItem, data_off + 8);
            }
            // Lists 0x0Fxx return only the list head (record length and count).
            if s.id & 0x0F00 == 0x0F00 {
                return (!s.records.is_empty())
                    .then(|| Finding::new(Layer::S7comm, FindingKind::LengthMismatch, data_off + 12));
            }
            let need = usize::from(s.record_len) * usize::from(s.record_count);
            // A complete answer holds exactly the announced records; the first
            // unit of a fragmented answer holds fewer.
            if h.data_unit_ref.unwrap_or(0) == 0 && !h.more_units() && need != s.records.len() {
                return f(FindingKind::LengthMismatch, data_off + 10);
            }
            if h.more_units() && need < s.records.len() {
                return f(FindingKind::LengthMismatch, data_off + 10);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip() {
        let p = [0x00, 0x01, 0x12, 0x08, 0x12, 0x84, 0x01, 0x02, 0xd5, 0x01, 0x00, 0x00];
        let h = UserdataHeader::from_param(&p).unwrap();
        assert_eq!(h.ud_type, 2);
        assert_eq!(h.group, 4);
        assert_eq!(h.legacy_type(), 8);
        assert_eq!(h.legacy_group(), 4);
        assert_eq!(h.legacy_subfunction(), Some(1));
        let m = UserdataHeader::from_param(&[0, 1, 0x12, 4, 0x11, 0x00, 0x02, 0]).unwrap();
        assert_eq!((m.group, m.subfunction, m.legacy_subfunction()), (0, 2, None));
        assert!(h.more_units());
        assert!(!h.is_continuation());
        assert_eq!(h.to_bytes(), (p, 12));
    }

    #[test]
    fn timestamp() {
        let t = S7Timestamp::from_bytes(&[0x00, 0x19, 0x14, 0x08, 0x20, 0x11, 0x59, 0x43, 0x12, 0x35]).unwrap();
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.millisecond, t.weekday),
            (2014, 8, 20, 11, 59, 43, 123, 5)
        );
    }

    #[test]
    fn trimmed() {
        assert_eq!(trimmed_text(b"abc  \0\0x"), Some("abc"));
        assert_eq!(trimmed_text(b"   "), Some(""));
    }
}
