//! Capture file writers: classic libpcap (both byte orders, microsecond magic
//! `0xa1b2c3d4` and nanosecond magic `0xa1b23c4d`) and pcapng (Section Header,
//! Interface Description and Enhanced Packet blocks), as described by the
//! libpcap file-format and pcapng specifications (IETF draft-ietf-opsawg-pcap / -pcapng).
//!
//! Both writers stream: each record goes straight to the underlying [`Write`], so a
//! `BufWriter<File>` writes captures of any size in constant memory.

use std::io::{self, Write};

/// Link-layer header type of a capture (LINKTYPE_* values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101): the packet starts with the IPv4 or IPv6 header.
    RawIp,
    /// LINKTYPE_LINUX_SLL (113), Linux cooked capture v1.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276), Linux cooked capture v2.
    LinuxSll2,
    /// LINKTYPE_NULL (0), BSD loopback as Npcap's Windows loopback adapter writes it:
    /// a 4-byte address family in the capturing host's byte order (little-endian here).
    Null,
}

impl LinkType {
    /// Numeric LINKTYPE value written in file headers.
    pub const fn code(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::Null => 0,
        }
    }
}

/// Byte order of a classic pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// Little-endian (as written by x86 hosts).
    Little,
    /// Big-endian.
    Big,
}

/// Timestamp resolution of a classic pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsResolution {
    /// Magic 0xa1b2c3d4, fractional part in microseconds.
    Micro,
    /// Magic 0xa1b23c4d, fractional part in nanoseconds.
    Nano,
}

/// Output container of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap with the given byte order and resolution.
    Pcap(Endian, TsResolution),
    /// pcapng, little-endian, one interface with nanosecond timestamps (`if_tsresol` = 9).
    Pcapng,
}

impl Format {
    /// The usual format: classic pcap, little-endian, microseconds.
    pub const CLASSIC: Format = Format::Pcap(Endian::Little, TsResolution::Micro);
}

/// Largest packet the writers record in full (snap length written in headers).
pub const SNAPLEN: u32 = 262_144;

/// Something that accepts timestamped packets.
pub trait PacketSink {
    /// Record one packet captured at `ts_ns` nanoseconds since the Unix epoch.
    fn write_packet(&mut self, ts_ns: u64, data: &[u8]) -> io::Result<()>;
}

fn put16(e: Endian, v: u16) -> [u8; 2] {
    match e {
        Endian::Little => v.to_le_bytes(),
        Endian::Big => v.to_be_bytes(),
    }
}

fn put32(e: Endian, v: u32) -> [u8; 4] {
    match e {
        Endian::Little => v.to_le_bytes(),
        Endian::Big => v.to_be_bytes(),
    }
}

/// Classic pcap writer.
///
/// File header (24 bytes): `magic(4) version 2.4 (2+2) thiszone(4)=0 sigfigs(4)=0 snaplen(4) linktype(4)`;
/// then per record: `ts_sec(4) ts_frac(4) incl_len(4) orig_len(4) data`.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    w: W,
    endian: Endian,
    res: TsResolution,
}

impl<W: Write> PcapWriter<W> {
    /// Write the file header and return the writer.
    pub fn new(mut w: W, link: LinkType, endian: Endian, res: TsResolution) -> io::Result<Self> {
        let magic = match res {
            TsResolution::Micro => 0xA1B2_C3D4,
            TsResolution::Nano => 0xA1B2_3C4D,
        };
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&put32(endian, magic));
        h.extend_from_slice(&put16(endian, 2));
        h.extend_from_slice(&put16(endian, 4));
        h.extend_from_slice(&put32(endian, 0));
        h.extend_from_slice(&put32(endian, 0));
        h.extend_from_slice(&put32(endian, SNAPLEN));
        h.extend_from_slice(&put32(endian, link.code()));
        w.write_all(&h)?;
        Ok(Self { w, endian, res })
    }

    /// Flush and return the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

impl<W: Write> PacketSink for PcapWriter<W> {
    fn write_packet(&mut self, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        let sec = (ts_ns / 1_000_000_000) as u32;
        let frac = match self.res {
            TsResolution::Micro => ((ts_ns % 1_000_000_000) / 1000) as u32,
            TsResolution::Nano => (ts_ns % 1_000_000_000) as u32,
        };
        let e = self.endian;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&put32(e, sec));
        h[4..8].copy_from_slice(&put32(e, frac));
        h[8..12].copy_from_slice(&put32(e, data.len() as u32));
        h[12..16].copy_from_slice(&put32(e, data.len() as u32));
        self.w.write_all(&h)?;
        self.w.write_all(data)
    }
}

/// pcapng writer (little-endian section).
///
/// Section Header Block: `0x0A0D0D0A len 0x1A2B3C4D major 1 minor 0 section length -1 options len`;
/// Interface Description Block: `1 len linktype(2) reserved(2) snaplen(4) options len`
/// with options `if_name` = "eth0" and `if_tsresol` = 9 (nanoseconds);
/// Enhanced Packet Block: `6 len interface 0 ts_high ts_low caplen origlen data(padded to 4) len`.
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    w: W,
}

fn push_opt(b: &mut Vec<u8>, code: u16, val: &[u8]) {
    b.extend_from_slice(&code.to_le_bytes());
    b.extend_from_slice(&(val.len() as u16).to_le_bytes());
    b.extend_from_slice(val);
    while b.len() % 4 != 0 {
        b.push(0);
    }
}

fn finish_block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let total = (12 + body.len()) as u32;
    let mut b = Vec::with_capacity(total as usize);
    b.extend_from_slice(&block_type.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

impl<W: Write> PcapngWriter<W> {
    /// Write the section header and one interface description block.
    pub fn new(mut w: W, link: LinkType) -> io::Result<Self> {
        w.write_all(&section_header())?;
        let mut idb = Vec::new();
        idb.extend_from_slice(&(link.code() as u16).to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&SNAPLEN.to_le_bytes());
        push_opt(&mut idb, 2, b"eth0"); // if_name
        push_opt(&mut idb, 9, &[9]); // if_tsresol: 10^-9
        push_opt(&mut idb, 0, &[]);
        w.write_all(&finish_block(1, &idb))?;
        Ok(Self { w })
    }

    /// Flush and return the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

impl<W: Write> PacketSink for PcapngWriter<W> {
    fn write_packet(&mut self, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        write_epb(&mut self.w, 0, ts_ns, data)
    }
}

/// Enhanced Packet Block on interface `iface` with timestamp `ts` (in the interface's units).
fn write_epb(w: &mut impl Write, iface: u32, ts: u64, data: &[u8]) -> io::Result<()> {
    let pad = (4 - data.len() % 4) % 4;
    let total = (32 + data.len() + pad) as u32;
    let mut h = [0u8; 28];
    h[0..4].copy_from_slice(&6u32.to_le_bytes());
    h[4..8].copy_from_slice(&total.to_le_bytes());
    h[8..12].copy_from_slice(&iface.to_le_bytes());
    h[12..16].copy_from_slice(&((ts >> 32) as u32).to_le_bytes());
    h[16..20].copy_from_slice(&(ts as u32).to_le_bytes());
    h[20..24].copy_from_slice(&(data.len() as u32).to_le_bytes());
    h[24..28].copy_from_slice(&(data.len() as u32).to_le_bytes());
    w.write_all(&h)?;
    w.write_all(data)?;
    w.write_all(&[0u8; 3][..pad])?;
    w.write_all(&total.to_le_bytes())
}

/// Section Header Block (little-endian, version 1.0, unknown section length).
fn section_header() -> Vec<u8> {
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    push_opt(&mut shb, 4, b"s7sentry-pcapgen"); // shb_userappl
    push_opt(&mut shb, 0, &[]); // opt_endofopt
    finish_block(0x0A0D_0D0A, &shb)
}

/// pcapng writer with several interfaces, each with its own link type, name and
/// time resolution (`if_tsresol`: 10^-`tsresol` s), as Wireshark on Windows
/// writes a capture of an Ethernet adapter and the loopback adapter at once.
#[derive(Debug)]
pub struct PcapngMultiWriter<W: Write> {
    w: W,
    /// Time resolution exponent of each interface, in interface order.
    tsresol: Vec<u8>,
}

impl<W: Write> PcapngMultiWriter<W> {
    /// Write the section header and one interface description block per
    /// `(link type, name, tsresol)` (interface ids 0, 1, ... in this order).
    pub fn new(mut w: W, interfaces: &[(LinkType, &str, u8)]) -> io::Result<Self> {
        w.write_all(&section_header())?;
        for (link, name, res) in interfaces {
            let mut idb = Vec::new();
            idb.extend_from_slice(&(link.code() as u16).to_le_bytes());
            idb.extend_from_slice(&0u16.to_le_bytes());
            idb.extend_from_slice(&SNAPLEN.to_le_bytes());
            push_opt(&mut idb, 2, name.as_bytes());
            push_opt(&mut idb, 9, &[*res]);
            push_opt(&mut idb, 0, &[]);
            w.write_all(&finish_block(1, &idb))?;
        }
        Ok(Self { w, tsresol: interfaces.iter().map(|i| i.2).collect() })
    }

    /// Write one packet captured on interface `iface` at `ts_ns` (cut to the interface's resolution).
    pub fn write_packet_on(&mut self, iface: u32, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        let res = *self.tsresol.get(iface as usize).ok_or_else(|| io::Error::other("no such interface"))?;
        let ts = if res >= 9 { ts_ns * 10u64.pow(u32::from(res) - 9) } else { ts_ns / 10u64.pow(9 - u32::from(res)) };
        write_epb(&mut self.w, iface, ts, data)
    }

    /// Flush and return the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// A writer of either format behind one type.
#[derive(Debug)]
pub enum AnyWriter<W: Write> {
    /// Classic pcap.
    Pcap(PcapWriter<W>),
    /// pcapng.
    Pcapng(PcapngWriter<W>),
}

impl<W: Write> AnyWriter<W> {
    /// Open a writer of format `f` on `w` (writes the file header).
    pub fn new(w: W, link: LinkType, f: Format) -> io::Result<Self> {
        Ok(match f {
            Format::Pcap(e, r) => AnyWriter::Pcap(PcapWriter::new(w, link, e, r)?),
            Format::Pcapng => AnyWriter::Pcapng(PcapngWriter::new(w, link)?),
        })
    }

    /// Flush and return the inner writer.
    pub fn into_inner(self) -> io::Result<W> {
        match self {
            AnyWriter::Pcap(p) => p.into_inner(),
            AnyWriter::Pcapng(p) => p.into_inner(),
        }
    }
}

impl<W: Write> PacketSink for AnyWriter<W> {
    fn write_packet(&mut self, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        match self {
            AnyWriter::Pcap(p) => p.write_packet(ts_ns, data),
            AnyWriter::Pcapng(p) => p.write_packet(ts_ns, data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_header_and_record_le_micro() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, Endian::Little, TsResolution::Micro).unwrap();
        w.write_packet(1_767_225_600_000_123_456, &[1, 2, 3]).unwrap();
        let v = w.into_inner().unwrap();
        assert_eq!(&v[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u16::from_le_bytes([v[4], v[5]]), 2);
        assert_eq!(u16::from_le_bytes([v[6], v[7]]), 4);
        assert_eq!(u32::from_le_bytes(v[20..24].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(v[24..28].try_into().unwrap()), 1_767_225_600);
        assert_eq!(u32::from_le_bytes(v[28..32].try_into().unwrap()), 123);
        assert_eq!(u32::from_le_bytes(v[32..36].try_into().unwrap()), 3);
        assert_eq!(&v[40..], &[1, 2, 3]);
    }

    #[test]
    fn classic_header_be_nano() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::LinuxSll2, Endian::Big, TsResolution::Nano).unwrap();
        w.write_packet(5_000_000_007, &[9]).unwrap();
        let v = w.into_inner().unwrap();
        assert_eq!(&v[0..4], &[0xa1, 0xb2, 0x3c, 0x4d]);
        assert_eq!(u32::from_be_bytes(v[20..24].try_into().unwrap()), 276);
        assert_eq!(u32::from_be_bytes(v[24..28].try_into().unwrap()), 5);
        assert_eq!(u32::from_be_bytes(v[28..32].try_into().unwrap()), 7);
    }

    #[test]
    fn pcapng_blocks_are_consistent() {
        let mut w = PcapngWriter::new(Vec::new(), LinkType::Ethernet).unwrap();
        w.write_packet(1 << 33, &[1, 2, 3, 4, 5]).unwrap();
        let v = w.into_inner().unwrap();
        // Walk the blocks: every total length is repeated at the block end and is a multiple of 4.
        let mut off = 0;
        let mut types = Vec::new();
        while off < v.len() {
            let t = u32::from_le_bytes(v[off..off + 4].try_into().unwrap());
            let len = u32::from_le_bytes(v[off + 4..off + 8].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0);
            assert_eq!(u32::from_le_bytes(v[off + len - 4..off + len].try_into().unwrap()) as usize, len);
            types.push(t);
            off += len;
        }
        assert_eq!(types, vec![0x0A0D_0D0A, 1, 6]);
    }
}
