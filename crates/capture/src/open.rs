//! Opening any capture file an analyst brings: classic pcap, pcapng with any
//! number of interfaces and link types, each of them plain or compressed with
//! gzip or zstd. The format and the compression are recognised by their magic
//! numbers, never by the file name.
//!
//! [`CaptureFile::open`] keeps libpcap where it serves: a plain classic pcap
//! file (and standard input, `-`) goes to [`FileSource`] exactly as before.
//! pcapng files and compressed captures are read by this crate's
//! [`StreamReader`] (decompressing on the fly, in constant memory), which reads
//! pcapng files whose interfaces have different link types (libpcap rejects
//! them).

use crate::stream::StreamReader;
use crate::{CaptureError, FileSource, LinkType, Packet, PacketSource};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Compression of a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (RFC 1952; several members, as `pigz` writes, are read in turn).
    Gzip,
    /// Zstandard (RFC 8878; several frames are read in turn).
    Zstd,
}

/// What a file is, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Classic pcap.
    Pcap,
    /// pcapng.
    Pcapng,
    /// Compressed (the capture inside is recognised after decompression).
    Compressed(Compression),
    /// Not a capture this crate knows.
    Unknown,
}

/// Recognise a file by its magic number.
pub fn kind_of(first: &[u8]) -> Kind {
    match first {
        [0x1f, 0x8b, ..] => Kind::Compressed(Compression::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Kind::Compressed(Compression::Zstd),
        [0x0a, 0x0d, 0x0d, 0x0a, ..] => Kind::Pcapng,
        [0xd4, 0xc3, 0xb2, 0xa1, ..]
        | [0x4d, 0x3c, 0xb2, 0xa1, ..]
        | [0xa1, 0xb2, 0xc3, 0xd4, ..]
        | [0xa1, 0xb2, 0x3c, 0x4d, ..] => Kind::Pcap,
        _ => Kind::Unknown,
    }
}

/// The kind of the file at `path` (reads its first four bytes).
pub fn kind_of_file(path: &Path) -> std::io::Result<Kind> {
    let mut f = File::open(path)?;
    let mut b = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match f.read(&mut b[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(kind_of(&b[..n]))
}

fn open_err(path: &Path, e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Open { path: path.to_owned(), msg: e.to_string() }
}

/// Open `path` with this crate's reader, decompressing when the file is gzip
/// or zstd: every format and compression, one packet source.
pub fn open_stream(path: &Path) -> Result<(StreamReader, Compression), CaptureError> {
    let kind = kind_of_file(path).map_err(|e| open_err(path, e))?;
    let file = File::open(path).map_err(|e| open_err(path, e))?;
    let (input, c): (Box<dyn Read + Send>, Compression) = match kind {
        Kind::Compressed(Compression::Gzip) => {
            (Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file))), Compression::Gzip)
        }
        Kind::Compressed(Compression::Zstd) => {
            let d = zstd::stream::read::Decoder::new(file).map_err(|e| open_err(path, e))?;
            (Box::new(d), Compression::Zstd)
        }
        _ => (Box::new(file), Compression::None),
    };
    let r = StreamReader::new(input, path).map_err(|e| match (e, c) {
        (CaptureError::Open { path, msg }, Compression::Gzip | Compression::Zstd) => {
            CaptureError::Open { path, msg: format!("{msg} (after {c:?} decompression)") }
        }
        (e, _) => e,
    })?;
    Ok((r, c))
}

enum Inner {
    Lib(FileSource),
    Stream(StreamReader),
}

/// One capture file of any supported format and compression.
pub struct CaptureFile {
    inner: Inner,
    compression: Compression,
}

impl CaptureFile {
    /// Open `path`: a plain classic pcap file (or `-`, standard input) through
    /// libpcap ([`FileSource`]), anything else through [`open_stream`].
    pub fn open(path: &Path) -> Result<CaptureFile, CaptureError> {
        if path.as_os_str() == "-" || !path.is_file() {
            return Ok(CaptureFile { inner: Inner::Lib(FileSource::open(path)?), compression: Compression::None });
        }
        match kind_of_file(path).map_err(|e| open_err(path, e))? {
            Kind::Pcap | Kind::Unknown => {
                Ok(CaptureFile { inner: Inner::Lib(FileSource::open(path)?), compression: Compression::None })
            }
            Kind::Pcapng | Kind::Compressed(_) => {
                let (r, compression) = open_stream(path)?;
                Ok(CaptureFile { inner: Inner::Stream(r), compression })
            }
        }
    }

    /// Compression of the file.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Link type of the file (of its first interface for pcapng; each packet carries its own).
    pub fn linktype(&self) -> LinkType {
        match &self.inner {
            Inner::Lib(f) => f.linktype(),
            Inner::Stream(s) => s.linktype(),
        }
    }

    /// Whether libpcap reads this file.
    pub fn is_libpcap(&self) -> bool {
        matches!(self.inner, Inner::Lib(_))
    }
}

impl PacketSource for CaptureFile {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        match &mut self.inner {
            Inner::Lib(f) => f.next_packet(),
            Inner::Stream(s) => s.next_packet(),
        }
    }

    fn name(&self) -> &str {
        match &self.inner {
            Inner::Lib(f) => f.name(),
            Inner::Stream(s) => s.name(),
        }
    }
}
