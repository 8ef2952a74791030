//! # s7sentry-capture: packet sources over libpcap
//!
//! Every source yields [`Packet`]s borrowing the bytes libpcap hands over, with
//! a 1-based frame number (the same number tshark shows) and a nanosecond
//! timestamp. Three sources share the [`PacketSource`] trait:
//!
//! * [`FileSource`]: a pcap (either byte order, micro- or nanosecond) or pcapng file, via `pcap_open_offline`
//!   (classic pcap files are then read by a buffered reader of this crate, see [`FileSource`]);
//! * [`MemorySource`]: frames held in memory, for tests and benchmarks;
//! * [`live::LiveSource`]: a live interface (promiscuous, BPF filter, non-blocking reads, see [`PacketSource::poll`]).
//!
//! Read errors are never silent: a record libpcap cannot read ends the file with
//! [`CaptureError::Read`], which names the file, the frame number and libpcap's words.
#![forbid(unsafe_code)]

mod fast;
pub mod live;
pub mod open;
pub mod set;
pub mod stream;

use std::path::{Path, PathBuf};

/// Link-layer header type (a `LINKTYPE_*` value from the pcap spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub i32);

impl LinkType {
    /// BSD loopback (DLT_NULL).
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (LINKTYPE_RAW).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// Capture timestamp: seconds and nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds.
    pub secs: i64,
    /// Nanoseconds (0..1e9).
    pub nanos: u32,
}

/// One captured frame, borrowing the source's buffer until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// 1-based record number within its file (or since the start of a live capture).
    pub frame: u64,
    /// Capture time.
    pub ts: Timestamp,
    /// Link type of the interface that captured it.
    pub linktype: LinkType,
    /// Captured bytes (may be shorter than `orig_len` when a snap length was set).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
}

/// Errors from opening or reading a capture.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or is not a capture.
    #[error("{path}: cannot open capture: {msg}")]
    Open {
        /// File.
        path: PathBuf,
        /// What libpcap (or the OS) said.
        msg: String,
    },
    /// A record could not be read (truncated file, corrupt record header).
    #[error("{path}: unreadable record after frame {after_frame}: {msg}")]
    Read {
        /// File.
        path: PathBuf,
        /// Number of the last frame that was read whole.
        after_frame: u64,
        /// What libpcap said.
        msg: String,
    },
    /// A live interface problem.
    #[error("{0}")]
    Live(String),
    /// A BPF filter that does not compile: a configuration error (restarting
    /// will not fix it), unlike the interface problems of [`CaptureError::Live`].
    #[error("{0}")]
    Filter(String),
}

/// What [`PacketSource::poll`] gave.
pub enum Polled<'a> {
    /// A packet.
    Packet(Packet<'a>),
    /// Nothing right now (a live source on a quiet link); ask again later.
    Idle,
    /// The source is finished.
    End,
}

/// Anything that yields packets: files, memory, live interfaces.
pub trait PacketSource {
    /// Next packet; `Ok(None)` at the end of the source. After an `Err` the
    /// source is finished (libpcap cannot resynchronise inside a file). A live
    /// source waits for the next packet.
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError>;
    /// Human-readable name (file path or interface).
    fn name(&self) -> &str;
    /// Next packet without waiting: a live source answers [`Polled::Idle`] when
    /// nothing is there now. Files and memory never are idle (the default).
    fn poll(&mut self) -> Result<Polled<'_>, CaptureError> {
        Ok(match self.next_packet()? {
            Some(p) => Polled::Packet(p),
            None => Polled::End,
        })
    }
    /// Whether packet times are wall-clock times of a running capture (a live
    /// source): runs then advance time while the source is idle.
    fn is_live(&self) -> bool {
        false
    }
}

/// A pcap or pcapng file.
///
/// libpcap opens every file (so open errors, format detection and the link
/// type are libpcap's). A classic pcap file whose header is the common one
/// (version 2.4, no FCS bits, a link type s7sentry decodes; byte-swapped files
/// only for Ethernet and raw IP) is then read by this crate's buffered reader: large
/// sequential reads and records sliced in place, about five times cheaper per
/// packet than `pcap_next_ex`. It yields what libpcap would, record for record;
/// at the first record it is not sure about (truncated, longer than the
/// snapshot length, odd timestamp, read error) it hands over to the libpcap
/// handle, which skips the records already delivered and goes on from there, so
/// damaged files end with libpcap's own error. pcapng files, pipes and anything
/// else are read by libpcap throughout.
pub struct FileSource {
    cap: pcap::Capture<pcap::Offline>,
    fast: Option<fast::Reader>,
    path: PathBuf,
    name: String,
    frame: u64,
    linktype: LinkType,
    done: bool,
}

impl FileSource {
    /// Open `path` (pcap or pcapng), asking libpcap for nanosecond timestamps.
    pub fn open(path: &Path) -> Result<FileSource, CaptureError> {
        // libpcap's own message for a missing file is fine ("No such file or directory").
        let cap = pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano)
            .map_err(|e| CaptureError::Open { path: path.to_owned(), msg: clean_msg(&e.to_string()) })?;
        let linktype = LinkType(cap.get_datalink().0);
        let fast = fast::Reader::open(path, linktype.0);
        Ok(FileSource {
            cap,
            fast,
            path: path.to_owned(),
            name: path.display().to_string(),
            frame: 0,
            linktype,
            done: false,
        })
    }

    /// Open `path` and read it with libpcap only (no buffered fast path): for
    /// tests that compare both readers.
    pub fn open_libpcap(path: &Path) -> Result<FileSource, CaptureError> {
        let mut s = FileSource::open(path)?;
        s.fast = None;
        Ok(s)
    }

    /// Whether the buffered reader (not libpcap) delivers the records now.
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// Link type of the file (of its first interface for pcapng).
    pub fn linktype(&self) -> LinkType {
        self.linktype
    }

    /// Frames read so far.
    pub fn frames_read(&self) -> u64 {
        self.frame
    }
}

impl FileSource {
    /// libpcap takes over from the buffered reader: skip the records it delivered.
    fn skip_delivered(&mut self) -> Result<(), CaptureError> {
        for k in 0..self.frame {
            match self.cap.next_packet() {
                Ok(_) => {}
                Err(pcap::Error::NoMorePackets) => {
                    self.done = true;
                    return Ok(());
                }
                Err(e) => {
                    self.done = true;
                    return Err(CaptureError::Read {
                        path: self.path.clone(),
                        after_frame: k,
                        msg: clean_msg(&e.to_string()),
                    });
                }
            }
        }
        Ok(())
    }
}

fn clean_msg(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("libpcap error: ").unwrap_or(s);
    s.to_string()
}

impl PacketSource for FileSource {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        match self.fast.as_mut().map(fast::Reader::advance) {
            Some(fast::Next::Record) => {
                if let Some(r) = self.fast.as_ref().map(fast::Reader::record) {
                    self.frame += 1;
                    return Ok(Some(Packet {
                        frame: self.frame,
                        ts: Timestamp { secs: r.secs, nanos: r.nanos },
                        linktype: self.linktype,
                        data: r.data,
                        orig_len: r.orig_len,
                    }));
                }
            }
            Some(fast::Next::End) => {
                self.done = true;
                return Ok(None);
            }
            Some(fast::Next::Unsure) => {
                self.fast = None;
                self.skip_delivered()?;
            }
            None => {}
        }
        if self.done {
            return Ok(None);
        }
        match self.cap.next_packet() {
            Ok(p) => {
                self.frame += 1;
                let tv = p.header.ts;
                Ok(Some(Packet {
                    frame: self.frame,
                    // Opened with Precision::Nano: tv_usec holds nanoseconds.
                    ts: Timestamp { secs: tv.tv_sec, nanos: tv.tv_usec.clamp(0, 999_999_999) as u32 },
                    linktype: self.linktype,
                    data: p.data,
                    orig_len: p.header.len,
                }))
            }
            Err(pcap::Error::NoMorePackets) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(CaptureError::Read {
                    path: self.path.clone(),
                    after_frame: self.frame,
                    msg: clean_msg(&e.to_string()),
                })
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Frames held in memory (tests, benchmarks).
pub struct MemorySource {
    frames: Vec<(Timestamp, Vec<u8>)>,
    linktype: LinkType,
    next: usize,
}

impl MemorySource {
    /// A source over `frames`, all of link type `linktype`.
    pub fn new(linktype: LinkType, frames: Vec<(Timestamp, Vec<u8>)>) -> MemorySource {
        MemorySource { frames, linktype, next: 0 }
    }

    /// Load a whole file into memory (for benchmarks that must not measure disk I/O).
    pub fn load(path: &Path) -> Result<MemorySource, CaptureError> {
        let mut f = FileSource::open(path)?;
        let linktype = f.linktype();
        let mut frames = Vec::new();
        while let Some(p) = f.next_packet()? {
            frames.push((p.ts, p.data.to_vec()));
        }
        Ok(MemorySource::new(linktype, frames))
    }

    /// Start again from the first frame.
    pub fn rewind(&mut self) {
        self.next = 0;
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Total captured bytes.
    pub fn bytes(&self) -> u64 {
        self.frames.iter().map(|f| f.1.len() as u64).sum()
    }
}

impl PacketSource for MemorySource {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        let Some((ts, data)) = self.frames.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        Ok(Some(Packet {
            frame: self.next as u64,
            ts: *ts,
            linktype: self.linktype,
            data,
            orig_len: data.len() as u32,
        }))
    }

    fn name(&self) -> &str {
        "memory"
    }
}
