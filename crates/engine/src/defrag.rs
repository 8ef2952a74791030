//! IPv4 fragment reassembly (RFC 791), bounded.
//!
//! Fragments toward a PLC are themselves a finding (CVE-2024-23814), but an
//! S7 PDU split into IP fragments must still be decoded, or fragmentation
//! becomes an evasion. Datagrams are keyed by (source, destination, protocol,
//! identification); the first copy of any byte wins and a fragment that
//! overlaps earlier bytes with different content is reported. Caps: datagrams
//! in flight, bytes per datagram, bytes in total, and a timeout; every cap hit
//! is counted.

use crate::time::Ts;
use std::collections::HashMap;
use std::net::IpAddr;

/// Most datagrams reassembled at once.
pub const MAX_DATAGRAMS: usize = 1024;
/// Largest reassembled datagram payload (the IPv4 maximum).
pub const MAX_DATAGRAM: usize = 65_535;
/// Bytes held across all datagrams.
pub const MAX_TOTAL: usize = 8 << 20;
/// A datagram not completed within this many ms is dropped (RFC 791 suggests 15 s; Linux uses 30 s).
pub const TIMEOUT_MS: u64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

#[derive(Debug)]
struct Datagram {
    data: Vec<u8>,
    have: Vec<(usize, usize)>,
    total: Option<usize>,
    first: Ts,
}

/// Outcome of adding one fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// Still incomplete.
    Pending,
    /// Complete: the reassembled payload.
    Complete(Vec<u8>),
    /// Dropped: a cap was hit or the fragment is impossible (beyond 64 KiB).
    Dropped,
}

/// The reassembly table.
#[derive(Debug, Default)]
pub struct Defrag {
    map: HashMap<Key, Datagram, ahash::RandomState>,
    total: usize,
    /// Datagrams completed.
    pub completed: u64,
    /// Fragments or datagrams dropped by a cap or a timeout (`refused + expired`).
    pub dropped: u64,
    /// Fragments not held because a cap was hit (datagram beyond 64 KiB,
    /// [`MAX_DATAGRAMS`] in flight, [`MAX_TOTAL`] bytes held).
    pub refused: u64,
    /// Incomplete datagrams dropped after [`TIMEOUT_MS`].
    pub expired: u64,
    /// Overlaps whose bytes differ from the first copy.
    pub conflicts: u64,
    /// No datagram can time out before this (the earliest `first` plus the timeout).
    next_expiry: Option<Ts>,
}

impl Defrag {
    /// Bytes held.
    pub fn held(&self) -> usize {
        self.total
    }

    /// Add a fragment: `offset` in bytes, `more` = MF flag, `data` = fragment payload.
    /// Returns whether the datagram is now complete, and whether this fragment
    /// overlapped earlier bytes with different content.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        ts: Ts,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        id: u32,
        offset: usize,
        more: bool,
        data: &[u8],
    ) -> (Added, bool) {
        self.expire(ts);
        let end = offset + data.len();
        if end > MAX_DATAGRAM {
            self.dropped += 1;
            self.refused += 1;
            return (Added::Dropped, false);
        }
        let key = Key { src, dst, proto, id };
        if !self.map.contains_key(&key) && (self.map.len() >= MAX_DATAGRAMS || self.total + data.len() > MAX_TOTAL) {
            self.dropped += 1;
            self.refused += 1;
            return (Added::Dropped, false);
        }
        let d = self.map.entry(key).or_insert_with(|| Datagram {
            data: Vec::new(),
            have: Vec::new(),
            total: None,
            first: ts,
        });
        let expiry = d.first.plus_ms(TIMEOUT_MS);
        if self.next_expiry.is_none_or(|t| expiry < t) {
            self.next_expiry = Some(expiry);
        }
        if d.data.len() < end {
            self.total += end - d.data.len();
            d.data.resize(end, 0);
        }
        // First copy wins: fill only the bytes no earlier fragment brought, compare
        // the rest. `have` is sorted, without overlaps or adjacent ranges.
        let Datagram { data: buf, have, .. } = d;
        let mut conflict = false;
        let mut pos = offset;
        for &(s, e) in have.iter() {
            if e <= pos {
                continue;
            }
            if s >= end {
                break;
            }
            if s > pos {
                buf[pos..s].copy_from_slice(&data[pos - offset..s - offset]);
                pos = s;
            }
            let upto = e.min(end);
            conflict |= buf[pos..upto] != data[pos - offset..upto - offset];
            pos = upto;
        }
        if pos < end {
            buf[pos..end].copy_from_slice(&data[pos - offset..]);
        }
        // Insert the new range and merge in place.
        let at = have.partition_point(|&(s, _)| s < offset);
        have.insert(at, (offset, end));
        let mut w = 0;
        for r in 0..have.len() {
            let (s, e) = have[r];
            if w > 0 && s <= have[w - 1].1 {
                have[w - 1].1 = have[w - 1].1.max(e);
            } else {
                have[w] = (s, e);
                w += 1;
            }
        }
        have.truncate(w);
        if !more {
            d.total = Some(end);
        }
        if conflict {
            self.conflicts += 1;
        }
        let complete = d.total.is_some_and(|t| d.have.len() == 1 && d.have[0] == (0, t));
        if complete {
            let Some(mut d) = self.map.remove(&key) else {
                return (Added::Pending, conflict);
            };
            self.total -= d.data.len();
            self.completed += 1;
            d.data.truncate(d.total.unwrap_or(d.data.len()));
            return (Added::Complete(d.data), conflict);
        }
        (Added::Pending, conflict)
    }

    /// Drop incomplete datagrams older than the timeout. Scans the table only
    /// when one of them can have timed out.
    fn expire(&mut self, now: Ts) {
        if self.map.is_empty() || self.next_expiry.is_none_or(|t| now < t) {
            return;
        }
        let before = self.map.len();
        let mut freed = 0;
        let mut next: Option<Ts> = None;
        self.map.retain(|_, d| {
            let keep = now.ms_since(d.first) < TIMEOUT_MS;
            if keep {
                let t = d.first.plus_ms(TIMEOUT_MS);
                if next.is_none_or(|n| t < n) {
                    next = Some(t);
                }
            } else {
                freed += d.data.len();
            }
            keep
        });
        self.next_expiry = next;
        self.total -= freed;
        let gone = (before - self.map.len()) as u64;
        self.dropped += gone;
        self.expired += gone;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn in_and_out_of_order() {
        let mut d = Defrag::default();
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        assert_eq!(d.add(Ts(0), a, b, 6, 7, 8, true, b"89abcdef").0, Added::Pending);
        assert_eq!(d.add(Ts(0), a, b, 6, 7, 16, false, b"XY").0, Added::Pending);
        let (r, c) = d.add(Ts(0), a, b, 6, 7, 0, true, b"01234567");
        assert_eq!(r, Added::Complete(b"0123456789abcdefXY".to_vec()));
        assert!(!c);
        assert_eq!(d.held(), 0);
    }

    #[test]
    fn conflicting_overlap_keeps_first_copy() {
        let mut d = Defrag::default();
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        d.add(Ts(0), a, b, 6, 1, 0, true, b"AAAAAAAA");
        let (r, c) = d.add(Ts(0), a, b, 6, 1, 4, false, b"BBBBBBBB");
        assert!(c);
        assert_eq!(r, Added::Complete(b"AAAAAAAABBBB".to_vec()));
    }

    proptest::proptest! {
        /// Against a byte-by-byte model: first copy wins, differing overlaps are
        /// conflicts, the datagram completes when every byte up to the last
        /// fragment's end is held.
        #[test]
        fn matches_bytewise_model(frags in proptest::collection::vec(
            (0usize..12, 1usize..6, proptest::num::u8::ANY, proptest::bool::ANY), 1..25)) {
            let mut d = Defrag::default();
            let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
            let mut held: Vec<Option<u8>> = Vec::new();
            let mut total: Option<usize> = None;
            for (k, &(slot, len, fill, last)) in frags.iter().enumerate() {
                let offset = slot * 8;
                let data: Vec<u8> = (0..len * 4).map(|i| fill.wrapping_add((i % 3) as u8)).collect();
                let end = offset + data.len();
                let (r, c) = d.add(Ts(0), a, b, 6, 9, offset, !last, &data);
                if held.len() < end {
                    held.resize(end, None);
                }
                let mut conflict = false;
                for (i, x) in data.iter().enumerate() {
                    match held[offset + i] {
                        Some(y) => conflict |= y != *x,
                        None => held[offset + i] = Some(*x),
                    }
                }
                if last {
                    total = Some(end);
                }
                proptest::prop_assert_eq!(c, conflict, "fragment {}", k);
                let whole = total.filter(|&t| held.len() == t && held.iter().all(Option::is_some));
                match (r, whole) {
                    (Added::Complete(got), Some(_)) => {
                        let want: Vec<u8> = held.iter().map(|x| x.unwrap_or(0)).collect();
                        proptest::prop_assert_eq!(got, want);
                        return Ok(());
                    }
                    (Added::Pending, None) => {}
                    (r, w) => proptest::prop_assert!(false, "fragment {}: {:?} vs model {:?}", k, r, w),
                }
            }
        }
    }

    #[test]
    fn caps_and_timeout() {
        let mut d = Defrag::default();
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        assert_eq!(d.add(Ts(0), a, b, 6, 1, 65_530, true, b"0123456789").0, Added::Dropped);
        d.add(Ts(0), a, b, 6, 2, 0, true, b"x");
        assert_eq!(d.held(), 1);
        d.add(Ts(0).plus_ms(TIMEOUT_MS + 1), a, b, 6, 3, 8, true, b"y");
        assert_eq!(d.dropped, 2);
        for id in 0..(MAX_DATAGRAMS as u32 + 10) {
            d.add(Ts(0).plus_ms(TIMEOUT_MS + 1), a, b, 6, 100 + id, 8, true, b"z");
        }
        assert!(d.map.len() <= MAX_DATAGRAMS);
    }
}
