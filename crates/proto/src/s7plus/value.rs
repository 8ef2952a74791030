//! S7comm-plus values ("PValue"): datatype flags, datatype, then the value in
//! the datatype's encoding. Layout after the s7commwireshark plug-in and
//! thomas-v2/S7CommPlusDriver `PValue.cs` (read for facts only):
//!
//! ```text
//! flags(1) | datatype(1) | value
//! scalars:  Bool, USInt, SInt, Byte 1 byte; UInt, Int, Word 2; DWord, Real, RID 4;
//!           LWord, LReal, Timestamp 8 (big endian); UDInt, AID unsigned VLQ;
//!           ULInt unsigned 64-bit VLQ; DInt signed VLQ; LInt, Timespan signed 64-bit VLQ
//! Blob:     root id (VLQ) | length (VLQ) | bytes        WString: length (VLQ) | UTF-8
//! Struct:   id(4) | { element id (VLQ) | value } ... | 00
//!           (ids 0x90000000.. and 0x02000000..: packed: timestamp(8) | flags (VLQ) |
//!            count (VLQ) [| count (VLQ) when flags & 0x400] | count bytes)
//! flags 0x10 array, 0x20 address array: count (VLQ) | count elements
//! flags 0x40 sparse array: { key (VLQ, not 0) | element } ... | 00
//! ```

use super::vlq::{read_vlq_i32, read_vlq_i64, read_vlq_u32, read_vlq_u64};

/// Datatype flag: array.
pub const FLAG_ARRAY: u8 = 0x10;
/// Datatype flag: address array.
pub const FLAG_ADDRESS_ARRAY: u8 = 0x20;
/// Datatype flag: sparse array.
pub const FLAG_SPARSE_ARRAY: u8 = 0x40;

/// Datatype Struct.
const STRUCT: u8 = 0x17;

/// Deepest struct nesting [`value_len`] follows.
const MAX_DEPTH: u32 = 8;

/// A value in S7comm-plus encoding: datatype flags, datatype, value bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlusValue<'a> {
    /// Datatype flags (0x10 array, 0x20 address array, 0x40 sparse array).
    pub flags: u8,
    /// Datatype (0x01 Bool, 0x08 DInt, 0x15 WString, ...).
    pub datatype: u8,
    /// The value bytes: exactly the scalar's bytes for known scalar types,
    /// everything that follows otherwise.
    pub raw: &'a [u8],
}

impl<'a> PlusValue<'a> {
    /// Decode flags, datatype and (for scalars) the value's extent.
    pub fn from_bytes(b: &'a [u8]) -> Option<PlusValue<'a>> {
        let (&flags, rest) = b.split_first()?;
        let (&datatype, rest) = rest.split_first()?;
        let len = if flags == 0 { scalar_len(datatype, rest) } else { None };
        let raw = match len {
            Some(n) => rest.get(..n)?,
            None => rest,
        };
        Some(PlusValue { flags, datatype, raw })
    }

    /// Name of the datatype, `None` when unknown.
    pub const fn datatype_name(&self) -> Option<&'static str> {
        Some(match self.datatype {
            0x00 => "Null",
            0x01 => "Bool",
            0x02 => "USInt",
            0x03 => "UInt",
            0x04 => "UDInt",
            0x05 => "ULInt",
            0x06 => "SInt",
            0x07 => "Int",
            0x08 => "DInt",
            0x09 => "LInt",
            0x0A => "Byte",
            0x0B => "Word",
            0x0C => "DWord",
            0x0D => "LWord",
            0x0E => "Real",
            0x0F => "LReal",
            0x10 => "Timestamp",
            0x11 => "Timespan",
            0x12 => "RID",
            0x13 => "AID",
            0x14 => "Blob",
            0x15 => "WString",
            0x16 => "Variant",
            0x17 => "Struct",
            0x19 => "S7String",
            _ => return None,
        })
    }

    /// The value as a signed integer, for scalar integer types (Bool, [U|S]Int,
    /// DInt, LInt, Byte/Word/DWord/LWord, RID, AID, Timespan).
    pub fn as_i64(&self) -> Option<i64> {
        if self.flags != 0 {
            return None;
        }
        scalar_integer(self.datatype, self.raw)
    }

    /// The integer a receiver could read out of this value, whatever the
    /// encoding an integer can be written in: a scalar integer type (as
    /// [`Self::as_i64`]), a Real / LReal holding a whole number, or the first
    /// element of an array, address array or sparse array of those types.
    /// `None` for other types and for empty arrays.
    pub fn integer(&self) -> Option<i64> {
        let element = match self.flags {
            0 => self.raw,
            FLAG_ARRAY | FLAG_ADDRESS_ARRAY => {
                let (count, n) = read_vlq_u32(self.raw)?;
                if count == 0 {
                    return None;
                }
                self.raw.get(n..)?
            }
            FLAG_SPARSE_ARRAY => {
                let (key, n) = read_vlq_u32(self.raw)?;
                if key == 0 {
                    return None;
                }
                self.raw.get(n..)?
            }
            _ => return None,
        };
        scalar_integer(self.datatype, element).or_else(|| whole_float(self.datatype, element))
    }
}

/// A scalar integer of `datatype` at the start of `r`.
fn scalar_integer(datatype: u8, r: &[u8]) -> Option<i64> {
    let fixed = |n: usize| -> Option<u64> {
        let b = r.get(..n)?;
        Some(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    };
    Some(match datatype {
        0x01 | 0x02 | 0x0A => fixed(1)? as i64,
        0x06 => r.first().map(|&x| i64::from(x as i8))?,
        0x03 | 0x0B => fixed(2)? as i64,
        0x07 => i64::from(i16::from_be_bytes([*r.first()?, *r.get(1)?])),
        0x0C | 0x12 => fixed(4)? as i64,
        0x0D => fixed(8)? as i64,
        0x04 | 0x13 => i64::from(read_vlq_u32(r)?.0),
        0x05 => read_vlq_u64(r)?.0 as i64,
        0x08 => i64::from(read_vlq_i32(r)?.0),
        0x09 | 0x11 => read_vlq_i64(r)?.0,
        _ => return None,
    })
}

/// A Real / LReal at the start of `r` that holds a whole number in the i64 range.
fn whole_float(datatype: u8, r: &[u8]) -> Option<i64> {
    let v = match datatype {
        0x0E => f64::from(f32::from_be_bytes(r.get(..4)?.try_into().ok()?)),
        0x0F => f64::from_be_bytes(r.get(..8)?.try_into().ok()?),
        _ => return None,
    };
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e18).then_some(v as i64)
}

/// Byte length of a scalar of `datatype` at the start of `b`, `None` for non-scalars.
pub(crate) fn scalar_len(datatype: u8, b: &[u8]) -> Option<usize> {
    Some(match datatype {
        0x00 => 0,
        0x01 | 0x02 | 0x06 | 0x0A => 1,
        0x03 | 0x07 | 0x0B => 2,
        0x0C | 0x0E | 0x12 => 4,
        0x0D | 0x0F | 0x10 => 8,
        0x04 | 0x13 => read_vlq_u32(b)?.1,
        0x08 => read_vlq_i32(b)?.1,
        0x05 => read_vlq_u64(b)?.1,
        0x09 | 0x11 => read_vlq_i64(b)?.1,
        _ => return None,
    })
}

/// Total length on the wire of the value that starts at `b` (flags and
/// datatype included), following blobs, strings, arrays, sparse arrays and
/// structs (nested up to 8 deep). `None` when the value runs past the end of
/// `b` or has a datatype whose length is unknown (Variant, S7String).
pub fn value_len(b: &[u8]) -> Option<usize> {
    value_len_at(b, 0)
}

fn value_len_at(b: &[u8], depth: u32) -> Option<usize> {
    let (&flags, rest) = b.split_first()?;
    let (&datatype, rest) = rest.split_first()?;
    let body = match flags {
        0 => element_len(datatype, rest, depth)?,
        FLAG_ARRAY | FLAG_ADDRESS_ARRAY => {
            if datatype == STRUCT {
                return None;
            }
            let (count, mut off) = read_vlq_u32(rest)?;
            if count > 0 && element_len(datatype, rest.get(off..)?, depth)? == 0 {
                // Elements of no size (Null): nothing more to walk.
                return Some(2 + off);
            }
            for _ in 0..count {
                off += element_len(datatype, rest.get(off..)?, depth)?;
            }
            off
        }
        FLAG_SPARSE_ARRAY => {
            let mut off = 0;
            loop {
                let (key, n) = read_vlq_u32(rest.get(off..)?)?;
                off += n;
                if key == 0 {
                    break off;
                }
                off += element_len(datatype, rest.get(off..)?, depth)?;
            }
        }
        _ => return None,
    };
    let total = 2 + body;
    (total <= b.len()).then_some(total)
}

/// Length of one element of `datatype` (no flags / datatype bytes) at the start of `b`.
fn element_len(datatype: u8, b: &[u8], depth: u32) -> Option<usize> {
    let n = match datatype {
        0x14 => {
            let (_, a) = read_vlq_u32(b)?;
            let (len, c) = read_vlq_u32(b.get(a..)?)?;
            a + c + len as usize
        }
        0x15 => {
            let (len, a) = read_vlq_u32(b)?;
            a + len as usize
        }
        STRUCT => struct_len(b, depth)?,
        t => scalar_len(t, b)?,
    };
    (n <= b.len()).then_some(n)
}

/// Length of a struct value's body: id(4), then packed bytes or elements up to the `00` end.
fn struct_len(b: &[u8], depth: u32) -> Option<usize> {
    if depth >= MAX_DEPTH {
        return None;
    }
    let id = u32::from_be_bytes(b.get(..4)?.try_into().ok()?);
    let mut off = 4;
    if (id > 0x9000_0000 && id < 0x9fff_ffff) || (id > 0x0200_0000 && id < 0x02ff_ffff) {
        off += 8; // interface timestamp
        let (flags, n) = read_vlq_u32(b.get(off..)?)?;
        off += n;
        let (mut count, n) = read_vlq_u32(b.get(off..)?)?;
        off += n;
        if flags & 0x400 != 0 {
            let (c, n) = read_vlq_u32(b.get(off..)?)?;
            off += n;
            count = c;
        }
        return Some(off + count as usize);
    }
    loop {
        let (element, n) = read_vlq_u32(b.get(off..)?)?;
        off += n;
        if element == 0 {
            return Some(off);
        }
        off += value_len_at(b.get(off..)?, depth + 1)?;
    }
}
