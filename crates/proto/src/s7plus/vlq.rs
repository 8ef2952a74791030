//! The S7comm-plus variable-length integer encoding (VLQ): 7 bits per byte,
//! most significant group first, bit 7 set on all but the last byte; signed
//! forms carry the sign in bit 6 of the first byte; the last possible byte (the
//! fifth of a 32-bit, the ninth of a 64-bit value) contributes all 8 bits.

/// Read an unsigned 32-bit VLQ: returns the value and the bytes used (1..=5;
/// the fifth byte contributes all 8 bits). `None` when `b` ends first.
pub fn read_vlq_u32(b: &[u8]) -> Option<(u32, usize)> {
    let mut v: u32 = 0;
    for (i, &o) in b.iter().enumerate().take(5) {
        if i == 4 {
            return Some((v.wrapping_shl(8) | u32::from(o), 5));
        }
        v = v.wrapping_shl(7) | u32::from(o & 0x7F);
        if o & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Read an unsigned 64-bit VLQ (1..=9 bytes, the ninth contributing 8 bits).
pub fn read_vlq_u64(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &o) in b.iter().enumerate().take(9) {
        if i == 8 {
            return Some((v.wrapping_shl(8) | u64::from(o), 9));
        }
        v = v.wrapping_shl(7) | u64::from(o & 0x7F);
        if o & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Read a signed 32-bit VLQ: bit 6 of the first byte is the sign (1..=5 bytes).
pub fn read_vlq_i32(b: &[u8]) -> Option<(i32, usize)> {
    let (v, n) = read_vlq_signed(b, 5)?;
    Some((v as i32, n))
}

/// Read a signed 64-bit VLQ (1..=9 bytes).
pub fn read_vlq_i64(b: &[u8]) -> Option<(i64, usize)> {
    read_vlq_signed(b, 9)
}

fn read_vlq_signed(b: &[u8], max: usize) -> Option<(i64, usize)> {
    let mut v: i64 = 0;
    for (i, &o) in b.iter().enumerate().take(max) {
        if i == max - 1 {
            return Some((v.wrapping_shl(8) | i64::from(o), max));
        }
        if i == 0 {
            v = if o & 0x40 != 0 { -64 | i64::from(o & 0x3F) } else { i64::from(o & 0x3F) };
        } else {
            v = v.wrapping_shl(7) | i64::from(o & 0x7F);
        }
        if o & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Encode an unsigned 32-bit VLQ into `out`; returns the number of bytes (1..=5).
pub fn write_vlq_u32(v: u32, out: &mut [u8; 5]) -> usize {
    let mut groups = [0u8; 5];
    let mut n = 0;
    let mut x = v;
    loop {
        groups[n] = (x & 0x7F) as u8;
        n += 1;
        x >>= 7;
        if x == 0 || n == 4 {
            break;
        }
    }
    if x != 0 {
        // Five bytes: four 7-bit groups then a full byte for the low 8 bits.
        let hi = v >> 8;
        out[0] = 0x80 | ((hi >> 21) & 0x7F) as u8;
        out[1] = 0x80 | ((hi >> 14) & 0x7F) as u8;
        out[2] = 0x80 | ((hi >> 7) & 0x7F) as u8;
        out[3] = 0x80 | (hi & 0x7F) as u8;
        out[4] = v as u8;
        return 5;
    }
    for i in 0..n {
        let g = groups[n - 1 - i];
        out[i] = if i + 1 < n { g | 0x80 } else { g };
    }
    n
}

/// Encode a signed 32-bit VLQ into `out`; returns the number of bytes (1..=5).
pub fn write_vlq_i32(v: i32, out: &mut [u8; 5]) -> usize {
    let v = i64::from(v);
    let mut n = 1;
    while n < 5 {
        let lim = 1i64 << (6 + 7 * (n - 1));
        if (-lim..lim).contains(&v) {
            break;
        }
        n += 1;
    }
    if n == 5 {
        let hi = v >> 8;
        let b = v as u32;
        out[0] = 0x80 | if hi < 0 { 0x40 } else { 0 } | ((hi >> 21) & 0x3F) as u8;
        out[1] = 0x80 | ((hi >> 14) & 0x7F) as u8;
        out[2] = 0x80 | ((hi >> 7) & 0x7F) as u8;
        out[3] = 0x80 | (hi & 0x7F) as u8;
        out[4] = b as u8;
        return 5;
    }
    for (i, o) in out.iter_mut().enumerate().take(n) {
        let shift = 7 * (n - 1 - i);
        let mut g = ((v >> shift) & 0x7F) as u8;
        if i == 0 {
            g = (g & 0x3F) | if v < 0 { 0x40 } else { 0 };
        }
        *o = if i + 1 < n { g | 0x80 } else { g };
    }
    n
}
