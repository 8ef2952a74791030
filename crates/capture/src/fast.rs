//! Buffered reader for classic pcap files, used by [`crate::FileSource`] after
//! libpcap opened the file.
//!
//! It reads the file in large blocks and slices records in place. It delivers
//! a record only when it is certain libpcap (1.10, opened with nanosecond
//! precision) would deliver the same bytes, lengths and time; otherwise it
//! answers [`Next::Unsure`] and the caller lets libpcap read from that record on.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

/// Read block. Larger than the largest record accepted (`MAX_SNAPLEN` + header).
const BUF: usize = 1 << 20;
/// libpcap's largest sane capture length for the link types read here (`MAXIMUM_SNAPLEN`).
const MAX_SNAPLEN: u32 = 262_144;
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// Link types (DLT values as libpcap reports them) the reader accepts: those
/// the engine decodes. libpcap rewrites no bytes of them in a file of the
/// host's byte order.
const DLTS: [i32; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];
/// In a file of the other byte order libpcap swaps fields inside some link
/// headers (Linux cooked captures carrying CAN, USB, NFLOG, ...): only these
/// link types, which it never touches, are read here then.
const DLTS_SWAPPED: [i32; 6] = [1, 12, 14, 101, 228, 229];

/// Outcome of [`Reader::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A record is ready: [`Reader::record`].
    Record,
    /// Clean end of the file.
    End,
    /// The next record needs libpcap (damaged, unusual, or a read error).
    Unsure,
}

/// One record, borrowing the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Seconds.
    pub secs: i64,
    /// Nanoseconds.
    pub nanos: u32,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Length on the wire.
    pub orig_len: u32,
}

/// The reader.
pub struct Reader {
    file: File,
    buf: Vec<u8>,
    /// Unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    eof: bool,
    /// A read failed: what was read is delivered, then libpcap reports the error.
    failed: bool,
    big_endian: bool,
    nano: bool,
    snaplen: u32,
    cur: (usize, usize),
    secs: i64,
    nanos: u32,
    orig_len: u32,
}

impl Reader {
    /// A reader for `path` when it is a regular classic pcap file (version
    /// 2.4, microsecond or nanosecond magic, no FCS/flag bits in the link-type
    /// field) whose link type `dlt` (as libpcap reported it) is one read here.
    /// `None` otherwise: libpcap reads the file.
    pub fn open(path: &Path, dlt: i32) -> Option<Reader> {
        if path.as_os_str() == "-" || !std::fs::metadata(path).ok()?.is_file() {
            return None;
        }
        let mut file = File::open(path).ok()?;
        let mut h = [0u8; FILE_HEADER];
        file.read_exact(&mut h).ok()?;
        let (big_endian, nano) = match [h[0], h[1], h[2], h[3]] {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return None,
        };
        let u16_at = |k: usize| {
            if big_endian {
                u16::from_be_bytes([h[k], h[k + 1]])
            } else {
                u16::from_le_bytes([h[k], h[k + 1]])
            }
        };
        let u32_at = |k: usize| {
            let b = [h[k], h[k + 1], h[k + 2], h[k + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (major, minor, snap, linktype) = (u16_at(4), u16_at(6), u32_at(16), u32_at(20));
        let swapped = big_endian != cfg!(target_endian = "big");
        let known = if swapped { DLTS_SWAPPED.contains(&dlt) } else { DLTS.contains(&dlt) };
        if (major, minor) != (2, 4) || linktype >> 16 != 0 || !known {
            return None;
        }
        // libpcap: a snapshot length of 0 or beyond the maximum means the maximum.
        let snaplen = if snap == 0 || snap > MAX_SNAPLEN { MAX_SNAPLEN } else { snap };
        Some(Reader {
            file,
            buf: vec![0; BUF],
            pos: 0,
            end: 0,
            eof: false,
            failed: false,
            big_endian,
            nano,
            snaplen,
            cur: (0, 0),
            secs: 0,
            nanos: 0,
            orig_len: 0,
        })
    }

    /// Move to the next record.
    #[inline]
    pub fn advance(&mut self) -> Next {
        if self.end - self.pos < RECORD_HEADER {
            self.refill();
            if self.pos == self.end && self.eof && !self.failed {
                return Next::End;
            }
            if self.end - self.pos < RECORD_HEADER {
                return Next::Unsure;
            }
        }
        let Some(h) = self.buf.get(self.pos..self.pos + RECORD_HEADER) else {
            return Next::Unsure;
        };
        let word = |k: usize| {
            let w = u32::from_le_bytes([h[k], h[k + 1], h[k + 2], h[k + 3]]);
            if self.big_endian {
                w.swap_bytes()
            } else {
                w
            }
        };
        let (secs, frac, caplen, len) = (word(0), word(4), word(8), word(12));
        let frac_limit = if self.nano { 1_000_000_000 } else { 1_000_000 };
        if secs > i32::MAX as u32 || frac >= frac_limit || caplen > self.snaplen {
            return Next::Unsure;
        }
        let need = RECORD_HEADER + caplen as usize;
        if self.end - self.pos < need {
            self.refill();
            if self.end - self.pos < need {
                return Next::Unsure;
            }
        }
        self.cur = (self.pos + RECORD_HEADER, caplen as usize);
        self.secs = i64::from(secs);
        self.nanos = if self.nano { frac } else { frac * 1000 };
        self.orig_len = len;
        self.pos += need;
        Next::Record
    }

    /// The record [`Reader::advance`] moved to.
    pub fn record(&self) -> Record<'_> {
        let (at, n) = self.cur;
        // `cur` always lies inside the buffer (set by `advance` after checking).
        let data = self.buf.get(at..at + n).unwrap_or_default();
        Record { secs: self.secs, nanos: self.nanos, data, orig_len: self.orig_len }
    }

    /// Keep the unread bytes, then fill the rest of the buffer from the file.
    /// A read error ends the input here (libpcap then reports it).
    fn refill(&mut self) {
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        while !self.eof && self.end < self.buf.len() {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.eof = true;
                    self.failed = true;
                }
            }
        }
    }
}
