//! A capture reader over any byte stream: classic pcap (either byte order,
//! micro- or nanosecond) and pcapng (any number of sections and interfaces,
//! each interface with its own link type, time resolution and offset).
//!
//! It reads what libpcap reads, the same way (a test compares both, record by
//! record, on every capture of the project), with one difference: a pcapng
//! file whose interfaces have different link types is read whole, each packet
//! carrying its interface's link type, where libpcap stops at the first packet
//! of an interface whose type differs from the first interface's.
//!
//! Records are sliced in place from one buffer (1 MiB, grown only for a block
//! larger than that, up to [`MAX_BLOCK`]): no allocation per packet.

use crate::{CaptureError, LinkType, Packet, Timestamp};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

const BUF: usize = 1 << 20;
/// Largest pcapng block accepted (libpcap's limit is the same order).
pub const MAX_BLOCK: usize = 16 << 20;
/// libpcap's largest capture length for a classic record.
const MAX_SNAPLEN: u32 = 262_144;
/// Interfaces per pcapng section (a bound on hostile files).
const MAX_INTERFACES: usize = 4096;

/// libpcap reports some link types under their DLT value (`LINKTYPE_RAW` 101 is
/// `DLT_RAW`, 12 on Linux); so does this reader, so both give the same number.
fn dlt_of(linktype: u32) -> i32 {
    match linktype {
        101 => 12,
        other => other as i32,
    }
}

#[derive(Debug, Clone, Copy)]
struct Iface {
    linktype: LinkType,
    snaplen: u32,
    /// Timestamp units per second.
    units: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Classic { big_endian: bool, nano: bool, snaplen: u32, linktype: LinkType },
    Pcapng { big_endian: bool },
}

/// The reader.
pub struct StreamReader {
    input: Box<dyn Read + Send>,
    path: PathBuf,
    name: String,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    format: Format,
    ifaces: Vec<Iface>,
    frame: u64,
    done: bool,
    // The current record.
    cur: (usize, usize),
    ts: Timestamp,
    orig_len: u32,
    linktype: LinkType,
}

fn u16_of(b: &[u8], be: bool) -> u16 {
    let a = [b[0], b[1]];
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

fn u32_of(b: &[u8], be: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

impl StreamReader {
    /// Read the file header from `input` (named `path` in messages).
    pub fn new(input: Box<dyn Read + Send>, path: &Path) -> Result<StreamReader, CaptureError> {
        let mut r = StreamReader {
            input,
            path: path.to_owned(),
            name: path.display().to_string(),
            buf: vec![0; BUF],
            pos: 0,
            end: 0,
            eof: false,
            format: Format::Pcapng { big_endian: false },
            ifaces: Vec::new(),
            frame: 0,
            done: false,
            cur: (0, 0),
            ts: Timestamp::default(),
            orig_len: 0,
            linktype: LinkType(1),
        };
        let open_err = |msg: String| CaptureError::Open { path: path.to_owned(), msg };
        r.fill(24).map_err(|e| open_err(e.to_string()))?;
        let h = &r.buf[r.pos..r.end];
        if h.len() < 4 {
            return Err(open_err(format!("file too short ({} bytes) to be a capture", h.len())));
        }
        match [h[0], h[1], h[2], h[3]] {
            m @ ([0xd4, 0xc3, 0xb2, 0xa1]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0xa1, 0xb2, 0x3c, 0x4d]) => {
                if h.len() < 24 {
                    return Err(open_err("truncated pcap file header".into()));
                }
                let big_endian = m[0] == 0xa1;
                let nano = m[2] == 0x3c || m[1] == 0x3c;
                let major = u16_of(&h[4..], big_endian);
                if major != 2 {
                    return Err(open_err(format!("unsupported pcap format version {major}")));
                }
                let snap = u32_of(&h[16..], big_endian);
                let snaplen = if snap == 0 || snap > MAX_SNAPLEN { MAX_SNAPLEN } else { snap };
                let linktype = LinkType(dlt_of(u32_of(&h[20..], big_endian) & 0x03FF_FFFF));
                r.format = Format::Classic { big_endian, nano, snaplen, linktype };
                r.linktype = linktype;
                r.pos += 24;
            }
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                // The section header is read as the first block.
                if !r.next_block().map_err(|e| open_err(e.msg()))? {
                    return Err(open_err("pcapng file without a section header".into()));
                }
                if let Some(i) = r.ifaces.first() {
                    r.linktype = i.linktype;
                }
            }
            _ => return Err(open_err("unknown file format (not pcap or pcapng)".into())),
        }
        Ok(r)
    }

    /// Link type of the file (classic) or of the first interface seen (pcapng).
    pub fn linktype(&self) -> LinkType {
        self.linktype
    }

    /// Move to the next packet: `Ok(true)` when [`StreamReader::packet`] holds
    /// one, `Ok(false)` at the end. After an error the reader is finished.
    pub fn advance(&mut self) -> Result<bool, CaptureError> {
        if self.done {
            return Ok(false);
        }
        let r = match self.format {
            Format::Classic { big_endian, nano, snaplen, linktype } => {
                self.next_classic(big_endian, nano, snaplen, linktype)
            }
            Format::Pcapng { .. } => loop {
                match self.next_block() {
                    Ok(true) if self.cur.1 != usize::MAX => break Ok(true),
                    Ok(true) => continue,
                    other => break other,
                }
            },
        };
        match r {
            Ok(true) => {
                self.frame += 1;
                Ok(true)
            }
            Ok(false) => {
                self.done = true;
                Ok(false)
            }
            Err(e) => {
                self.done = true;
                Err(CaptureError::Read { path: self.path.clone(), after_frame: self.frame, msg: e.msg() })
            }
        }
    }

    /// The packet [`StreamReader::advance`] moved to.
    pub fn packet(&self) -> Packet<'_> {
        let (at, n) = self.cur;
        Packet {
            frame: self.frame,
            ts: self.ts,
            linktype: self.linktype,
            data: self.buf.get(at..at.saturating_add(n)).unwrap_or_default(),
            orig_len: self.orig_len,
        }
    }

    /// Records read so far.
    pub fn frames_read(&self) -> u64 {
        self.frame
    }

    /// Make `n` bytes available at `pos` (fewer at the end of the input).
    fn fill(&mut self, n: usize) -> std::io::Result<()> {
        if self.end - self.pos >= n {
            return Ok(());
        }
        if n > self.buf.len() {
            self.buf.resize(n.next_power_of_two().max(BUF), 0);
        }
        if self.pos + n > self.buf.len() {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        while !self.eof && self.end - self.pos < n {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn next_classic(&mut self, be: bool, nano: bool, snaplen: u32, linktype: LinkType) -> Result<bool, Bad> {
        self.fill(16).map_err(Bad::Io)?;
        let have = self.end - self.pos;
        if have == 0 {
            return Ok(false);
        }
        if have < 16 {
            return Err(Bad::Msg(format!("truncated dump file; tried to read 16 header bytes, only got {have}")));
        }
        let h = &self.buf[self.pos..self.pos + 16];
        let (secs, frac, caplen, len) = (u32_of(h, be), u32_of(&h[4..], be), u32_of(&h[8..], be), u32_of(&h[12..], be));
        if caplen > MAX_SNAPLEN {
            return Err(Bad::Msg(format!(
                "invalid packet capture length {caplen}, bigger than maximum of {MAX_SNAPLEN}"
            )));
        }
        let need = 16 + caplen as usize;
        self.fill(need).map_err(Bad::Io)?;
        let have = self.end - self.pos;
        if have < need {
            return Err(Bad::Msg(format!(
                "truncated dump file; tried to read {caplen} captured bytes, only got {}",
                have - 16
            )));
        }
        // libpcap delivers at most the snapshot length of a longer record.
        self.cur = (self.pos + 16, caplen.min(snaplen) as usize);
        let nanos = if nano { u64::from(frac) } else { u64::from(frac) * 1000 };
        self.ts = Timestamp { secs: i64::from(secs), nanos: nanos.min(999_999_999) as u32 };
        self.orig_len = len;
        self.linktype = linktype;
        self.pos += need;
        Ok(true)
    }

    /// Read one pcapng block. `Ok(true)` with `cur.1 == usize::MAX` for a block
    /// that is not a packet.
    fn next_block(&mut self) -> Result<bool, Bad> {
        self.fill(12).map_err(Bad::Io)?;
        let have = self.end - self.pos;
        if have == 0 {
            return Ok(false);
        }
        if have < 12 {
            return Err(Bad::Msg(format!("truncated pcapng dump file; tried to read 12 bytes, only got {have}")));
        }
        let h = &self.buf[self.pos..self.pos + 12];
        let is_shb = h[..4] == [0x0a, 0x0d, 0x0d, 0x0a];
        let mut be = match self.format {
            Format::Pcapng { big_endian } => big_endian,
            Format::Classic { .. } => false,
        };
        if is_shb {
            be = match [h[8], h[9], h[10], h[11]] {
                [0x1a, 0x2b, 0x3c, 0x4d] => true,
                [0x4d, 0x3c, 0x2b, 0x1a] => false,
                _ => return Err(Bad::Msg("section header block with an unknown byte-order magic".into())),
            };
            self.format = Format::Pcapng { big_endian: be };
        }
        let btype = u32_of(h, be);
        let total = u32_of(&h[4..], be) as usize;
        if total < 12 || total % 4 != 0 {
            return Err(Bad::Msg(format!("block of type {btype:#x} has an invalid length {total}")));
        }
        if total > MAX_BLOCK {
            return Err(Bad::Msg(format!("pcapng block size {total} > maximum {MAX_BLOCK}")));
        }
        self.fill(total).map_err(Bad::Io)?;
        let have = self.end - self.pos;
        if have < total {
            return Err(Bad::Msg(format!("truncated pcapng dump file; tried to read {total} bytes, only got {have}")));
        }
        let start = self.pos;
        let body = start + 8..start + total - 4;
        if u32_of(&self.buf[start + total - 4..], be) as usize != total {
            return Err(Bad::Msg(format!("block of type {btype:#x}: trailing length does not match {total}")));
        }
        self.pos += total;
        self.cur = (0, usize::MAX);
        let b = &self.buf[body.clone()];
        match btype {
            0x0A0D_0D0A => {
                if b.len() < 16 || u16_of(&b[4..], be) != 1 {
                    return Err(Bad::Msg("unsupported pcapng section header (version not 1.x)".into()));
                }
                self.ifaces.clear();
            }
            1 => {
                if b.len() < 8 {
                    return Err(Bad::Msg("interface description block too short".into()));
                }
                if self.ifaces.len() >= MAX_INTERFACES {
                    return Err(Bad::Msg(format!("more than {MAX_INTERFACES} interfaces in a section")));
                }
                let linktype = LinkType(dlt_of(u32::from(u16_of(b, be))));
                let snap = u32_of(&b[4..], be);
                let mut iface =
                    Iface { linktype, snaplen: if snap == 0 { u32::MAX } else { snap }, units: 1_000_000, offset: 0 };
                let mut o = &b[8..];
                while o.len() >= 4 {
                    let code = u16_of(o, be);
                    let len = usize::from(u16_of(&o[2..], be));
                    let Some(val) = o.get(4..4 + len) else {
                        return Err(Bad::Msg("interface description block option runs past the block".into()));
                    };
                    match (code, len) {
                        (0, _) => break,
                        (9, 1) => {
                            let v = val[0];
                            let units = if v & 0x80 != 0 {
                                1u64.checked_shl(u32::from(v & 0x7f))
                            } else {
                                10u64.checked_pow(u32::from(v))
                            };
                            iface.units = units
                                .filter(|u| *u > 0)
                                .ok_or_else(|| Bad::Msg(format!("interface time resolution {v:#x} out of range")))?;
                        }
                        (14, 8) => {
                            let raw = [val[0], val[1], val[2], val[3], val[4], val[5], val[6], val[7]];
                            iface.offset = if be { i64::from_be_bytes(raw) } else { i64::from_le_bytes(raw) };
                        }
                        _ => {}
                    }
                    let step = 4 + len.div_ceil(4) * 4;
                    if step > o.len() {
                        break; // last option without its padding
                    }
                    o = &o[step..];
                }
                if self.ifaces.is_empty() && self.frame == 0 {
                    self.linktype = linktype;
                }
                self.ifaces.push(iface);
            }
            6 | 2 => {
                let (id, hi, lo, caplen, len, data_at) = if btype == 6 {
                    if b.len() < 20 {
                        return Err(Bad::Msg("enhanced packet block too short".into()));
                    }
                    (
                        u32_of(b, be) as usize,
                        u32_of(&b[4..], be),
                        u32_of(&b[8..], be),
                        u32_of(&b[12..], be),
                        u32_of(&b[16..], be),
                        20,
                    )
                } else {
                    if b.len() < 20 {
                        return Err(Bad::Msg("packet block too short".into()));
                    }
                    (
                        usize::from(u16_of(b, be)),
                        u32_of(&b[4..], be),
                        u32_of(&b[8..], be),
                        u32_of(&b[12..], be),
                        u32_of(&b[16..], be),
                        20,
                    )
                };
                let Some(iface) = self.ifaces.get(id).copied() else {
                    return Err(Bad::Msg(format!(
                        "a packet arrived on interface {id}, but there's no Interface Description Block for that interface"
                    )));
                };
                if caplen as usize > b.len() - data_at {
                    return Err(Bad::Msg(format!("packet block: captured length {caplen} runs past the block")));
                }
                let units = (u64::from(hi) << 32) | u64::from(lo);
                self.set_packet(body.start + data_at, caplen.min(iface.snaplen), len, units, iface);
            }
            3 => {
                let Some(iface) = self.ifaces.first().copied() else {
                    return Err(Bad::Msg("simple packet block before any interface description block".into()));
                };
                if b.len() < 4 {
                    return Err(Bad::Msg("simple packet block too short".into()));
                }
                let len = u32_of(b, be);
                let caplen = (len as usize).min(iface.snaplen as usize).min(b.len() - 4) as u32;
                self.set_packet(body.start + 4, caplen, len, 0, Iface { units: 1, offset: 0, ..iface });
            }
            _ => {} // name resolution, statistics, decryption secrets, custom: not packets
        }
        Ok(true)
    }

    fn set_packet(&mut self, at: usize, caplen: u32, len: u32, units: u64, iface: Iface) {
        let per = iface.units;
        let secs = (units / per) as i64;
        let frac = units % per;
        let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(per)) as u64;
        self.cur = (at, caplen as usize);
        self.ts = Timestamp { secs: secs.saturating_add(iface.offset), nanos: nanos.min(999_999_999) as u32 };
        self.orig_len = len;
        self.linktype = iface.linktype;
    }
}

/// Why a record could not be read.
enum Bad {
    Io(std::io::Error),
    Msg(String),
}

impl Bad {
    fn msg(self) -> String {
        match self {
            Bad::Io(e) => e.to_string(),
            Bad::Msg(m) => m,
        }
    }
}

impl crate::PacketSource for StreamReader {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        Ok(if self.advance()? { Some(self.packet()) } else { None })
    }

    fn name(&self) -> &str {
        &self.name
    }
}
