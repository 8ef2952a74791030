//! Read/Write Var items: variable specifications in the parameter part and
//! data items (with return codes) in the data part.
//!
//! ```text
//! variable specification:  0x12 | length | syntax id | length-1 bytes of address
//!   S7ANY (syntax 0x10, length 10): transport size | count(2) | DB(2) | area | address(3)
//! data item:               return code | transport size | length(2) | data [| fill byte]
//! ```
//!
//! An item whose total size is odd is followed by one fill byte unless it is the
//! last one. The iterators here never fail: they yield the items that are
//! structurally complete and stop at the first inconsistency, which
//! [`super::parse_s7comm`] has already reported as the PDU's finding.

use super::codes::{Area, DataTransportSize, ReturnCode, SyntaxId, TransportSize};
use crate::finding::{Finding, FindingKind, Layer};

/// Variable specification type byte that starts every item.
pub const VAR_SPEC: u8 = 0x12;
/// Address length of an S7ANY item (bytes after the length byte).
pub const S7ANY_LEN: u8 = 10;

/// An S7ANY address: area, DB number, bit address and element count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct S7AnyAddress {
    /// Element type.
    pub transport_size: TransportSize,
    /// Number of elements (for the data-record area: maximum record length).
    pub length: u16,
    /// DB number (0 outside DB/DI; for the data-record area: record index).
    pub db: u16,
    /// Memory area.
    pub area: Area,
    /// 24-bit address: byte offset * 8 + bit offset (timers/counters: their number).
    pub address: u32,
}

impl S7AnyAddress {
    /// Byte offset (address / 8).
    pub const fn byte_offset(&self) -> u32 {
        self.address >> 3
    }

    /// Bit offset (address % 8).
    pub const fn bit_offset(&self) -> u8 {
        (self.address & 7) as u8
    }

    /// Number of bytes this address asks for (`length` times the element size),
    /// `None` for an unknown transport size.
    pub const fn byte_len(&self) -> Option<u32> {
        match self.transport_size.element_size() {
            Some(s) => Some(s * self.length as u32),
            None => None,
        }
    }

    /// Decode from the 9 address bytes that follow `12 0a 10` (transport size
    /// first); `None` when fewer than 9 bytes are given.
    pub fn from_bytes(b: &[u8]) -> Option<S7AnyAddress> {
        let b = b.get(..9)?;
        Some(S7AnyAddress {
            transport_size: TransportSize(b[0]),
            length: u16::from_be_bytes([b[1], b[2]]),
            db: u16::from_be_bytes([b[3], b[4]]),
            area: Area(b[5]),
            address: u32::from_be_bytes([0, b[6], b[7], b[8]]),
        })
    }

    /// Encode as a 12-byte item (`12 0a 10 ...`).
    pub fn to_item_bytes(&self) -> [u8; 12] {
        let l = self.length.to_be_bytes();
        let d = self.db.to_be_bytes();
        let a = self.address.to_be_bytes();
        [
            VAR_SPEC,
            S7ANY_LEN,
            SyntaxId::S7ANY.0,
            self.transport_size.0,
            l[0],
            l[1],
            d[0],
            d[1],
            self.area.0,
            a[1],
            a[2],
            a[3],
        ]
    }
}

/// One variable specification of a Read/Write Var job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarItem<'a> {
    /// Classic S7ANY address.
    Any(S7AnyAddress),
    /// Any other syntax (DB read, 1200 symbolic, NCK, Drive ES, ...), kept raw.
    Other {
        /// Syntax id.
        syntax_id: SyntaxId,
        /// Address bytes after the syntax id (`length - 1` bytes).
        raw: &'a [u8],
    },
}

impl VarItem<'_> {
    /// The S7ANY address, if this is one.
    pub const fn any(&self) -> Option<&S7AnyAddress> {
        match self {
            VarItem::Any(a) => Some(a),
            VarItem::Other { .. } => None,
        }
    }

    /// Syntax id of the item.
    pub const fn syntax_id(&self) -> SyntaxId {
        match self {
            VarItem::Any(_) => SyntaxId::S7ANY,
            VarItem::Other { syntax_id, .. } => *syntax_id,
        }
    }
}

/// Iterator over the variable specifications of a Read/Write Var job.
///
/// Yields at most the announced item count and stops at the first item that is
/// not structurally complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarItems<'a> {
    rest: &'a [u8],
    remaining: u8,
}

impl<'a> VarItems<'a> {
    /// Iterate `count` items starting at `items` (the parameter bytes after function and count).
    pub const fn new(items: &'a [u8], count: u8) -> Self {
        VarItems { rest: items, remaining: count }
    }

    /// An iterator that yields nothing.
    pub const fn empty() -> Self {
        VarItems { rest: &[], remaining: 0 }
    }
}

/// Split one variable specification off `b`: (item, total bytes incl. head).
fn split_var_item(b: &[u8]) -> Option<(VarItem<'_>, usize)> {
    let spec_len = usize::from(*b.get(1)?);
    let total = 2 + spec_len;
    if b[0] != VAR_SPEC || spec_len == 0 || b.len() < total {
        return None;
    }
    let syntax_id = SyntaxId(b[2]);
    let raw = &b[3..total];
    let item = if syntax_id == SyntaxId::S7ANY {
        if spec_len != usize::from(S7ANY_LEN) {
            return None;
        }
        VarItem::Any(S7AnyAddress::from_bytes(raw)?)
    } else {
        VarItem::Other { syntax_id, raw }
    };
    Some((item, total))
}

impl<'a> Iterator for VarItems<'a> {
    type Item = VarItem<'a>;

    fn next(&mut self) -> Option<VarItem<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let Some((item, total)) = split_var_item(self.rest) else {
            self.remaining = 0;
            return None;
        };
        self.remaining -= 1;
        let skip = if total % 2 == 1 && self.remaining > 0 { total + 1 } else { total };
        self.rest = self.rest.get(skip..).unwrap_or(&[]);
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}

/// Check the variable specifications of a Read/Write Var job.
///
/// `items` starts after function and item count; `base` is its offset from the
/// PDU start. Returns the first violation: `ItemCountMismatch` when the
/// parameter ends before `count` items, `BadItem` for an item that is cut short
/// or inconsistent (wrong spec byte, zero length, S7ANY with a length other than
/// 10), `LengthMismatch` when bytes are left over after the last item.
pub fn check_var_items(items: &[u8], count: u8, base: usize) -> Option<Finding> {
    let f = |k, o| Some(Finding::new(Layer::S7comm, k, base + o));
    let mut off = 0usize;
    for i in 0..count {
        let rest = items.get(off..).unwrap_or(&[]);
        if rest.is_empty() {
            return f(FindingKind::ItemCountMismatch, off);
        }
        let Some((_, total)) = split_var_item(rest) else {
            return f(FindingKind::BadItem, off);
        };
        off += total;
        if total % 2 == 1 && i + 1 < count {
            off += 1;
        }
    }
    if off < items.len() {
        return f(FindingKind::LengthMismatch, off);
    }
    None
}

/// One data item of a read response or write request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataItem<'a> {
    /// Return code (0xFF success; 0x00 in write requests).
    pub return_code: ReturnCode,
    /// Transport size of the data.
    pub transport_size: DataTransportSize,
    /// Raw length field (bits or bytes, see [`DataTransportSize::length_in_bits`]).
    pub length: u16,
    /// Data bytes (empty for error items).
    pub data: &'a [u8],
}

/// Iterator over the data items of a Read Var response or Write Var request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataItems<'a> {
    rest: &'a [u8],
    remaining: u8,
}

impl<'a> DataItems<'a> {
    /// Iterate `count` data items in `data` (the PDU data part).
    pub const fn new(data: &'a [u8], count: u8) -> Self {
        DataItems { rest: data, remaining: count }
    }

    /// An iterator that yields nothing.
    pub const fn empty() -> Self {
        DataItems { rest: &[], remaining: 0 }
    }
}

/// Split one data item off `b`: (item, bytes consumed without fill byte).
fn split_data_item(b: &[u8]) -> Option<(DataItem<'_>, usize)> {
    let head = b.get(..4)?;
    let return_code = ReturnCode(head[0]);
    let transport_size = DataTransportSize(head[1]);
    let length = u16::from_be_bytes([head[2], head[3]]);
    let (data, total) = if return_code.carries_data() {
        let n = transport_size.byte_len(length);
        (b.get(4..4 + n)?, 4 + n)
    } else {
        (&b[4..4], 4)
    };
    Some((DataItem { return_code, transport_size, length, data }, total))
}

impl<'a> Iterator for DataItems<'a> {
    type Item = DataItem<'a>;

    fn next(&mut self) -> Option<DataItem<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let Some((item, total)) = split_data_item(self.rest) else {
            self.remaining = 0;
            return None;
        };
        self.remaining -= 1;
        let skip = if item.data.len() % 2 == 1 && self.remaining > 0 { total + 1 } else { total };
        self.rest = self.rest.get(skip..).unwrap_or(&[]);
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}

/// Check the data items of a read response / write request (`base`: offset of
/// `data` from the PDU start). Same finding kinds as [`check_var_items`]. The
/// fill byte after the last item is tolerated. Items announcing the Sinumerik
/// NCK address transport sizes (0x11/0x12) are not checked.
pub fn check_data_items(data: &[u8], count: u8, base: usize) -> Option<Finding> {
    let f = |k, o| Some(Finding::new(Layer::S7comm, k, base + o));
    if matches!(data.get(1), Some(0x11 | 0x12)) {
        return None;
    }
    let mut off = 0usize;
    for i in 0..count {
        let rest = data.get(off..).unwrap_or(&[]);
        if rest.is_empty() {
            return f(FindingKind::ItemCountMismatch, off);
        }
        let Some((item, total)) = split_data_item(rest) else {
            return f(FindingKind::BadItem, off);
        };
        off += total;
        if item.data.len() % 2 == 1 && i + 1 < count {
            off += 1;
        }
    }
    // One trailing fill byte is harmless; more is a length error.
    if off + 1 < data.len() {
        return f(FindingKind::LengthMismatch, off);
    }
    None
}

/// Iterator over the per-item return codes of a Write Var response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnCodes<'a> {
    rest: &'a [u8],
    remaining: u8,
}

impl<'a> ReturnCodes<'a> {
    /// Iterate `count` return codes in `data`.
    pub const fn new(data: &'a [u8], count: u8) -> Self {
        ReturnCodes { rest: data, remaining: count }
    }
}

impl Iterator for ReturnCodes<'_> {
    type Item = ReturnCode;

    fn next(&mut self) -> Option<ReturnCode> {
        if self.remaining == 0 {
            return None;
        }
        let (&b, rest) = self.rest.split_first()?;
        self.remaining -= 1;
        self.rest = rest;
        Some(ReturnCode(b))
    }
}

/// Check a Write Var response data part: one return code per item.
pub fn check_return_codes(data: &[u8], count: u8, base: usize) -> Option<Finding> {
    let count = usize::from(count);
    if data.len() < count {
        return Some(Finding::new(Layer::S7comm, FindingKind::ItemCountMismatch, base + data.len()));
    }
    // A fill byte after an odd number of codes is tolerated.
    if data.len() > count + 1 {
        return Some(Finding::new(Layer::S7comm, FindingKind::LengthMismatch, base + count));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s7any_roundtrip() {
        let a =
            S7AnyAddress { transport_size: TransportSize::BYTE, length: 4, db: 1, area: Area::DB, address: 8 * 10 + 3 };
        let b = a.to_item_bytes();
        assert_eq!(b, [0x12, 0x0a, 0x10, 0x02, 0x00, 0x04, 0x00, 0x01, 0x84, 0x00, 0x00, 0x53]);
        let mut it = VarItems::new(&b, 1);
        assert_eq!(it.next(), Some(VarItem::Any(a)));
        assert_eq!(it.next(), None);
        assert_eq!(a.byte_offset(), 10);
        assert_eq!(a.bit_offset(), 3);
        assert_eq!(a.byte_len(), Some(4));
    }

    #[test]
    fn data_items_fill_bytes() {
        // Two items: 3 bytes (+fill) and 2 bytes.
        let d = [0xff, 0x04, 0x00, 0x18, 1, 2, 3, 0, 0xff, 0x09, 0x00, 0x02, 4, 5];
        let v: [DataItem<'_>; 2] = {
            let mut it = DataItems::new(&d, 2);
            [it.next().unwrap(), it.next().unwrap()]
        };
        assert_eq!(v[0].data, &[1, 2, 3]);
        assert_eq!(v[1].data, &[4, 5]);
        assert_eq!(check_data_items(&d, 2, 0), None);
        assert_eq!(check_data_items(&d, 3, 0).map(|f| f.kind), Some(FindingKind::ItemCountMismatch));
        assert_eq!(check_data_items(&d[..12], 2, 0).map(|f| f.kind), Some(FindingKind::BadItem));
    }
}
