//! Small byte helpers shared by the layer modules.

/// Big-endian u16 at `off`, or `None` when out of range.
#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Big-endian u32 at `off`, or `None` when out of range.
#[inline]
pub(crate) fn be32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The text of `b` when every byte is printable ASCII (or space).
pub(crate) fn ascii_str(b: &[u8]) -> Option<&str> {
    if b.iter().all(|c| (0x20..0x7f).contains(c)) {
        core::str::from_utf8(b).ok()
    } else {
        None
    }
}
