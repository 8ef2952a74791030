//! A rotated capture set (`tcpdump -C` / `-G`, `dumpcap -b`, or any list of
//! files and directories) read as one continuous stream.
//!
//! [`CaptureSet::open`] opens every file once to read its first timestamp and
//! orders the files by it (then by name; files without packets go last). The
//! set then yields the packets of the first file, then of the second, and so
//! on, from one [`PacketSource`]: a pipeline that feeds them to one engine
//! carries flow state across file boundaries (a connection that spans two
//! files keeps its reassembly and session state).
//!
//! Each packet still names its file and its record in that file:
//! [`Packet::frame`](crate::Packet) is the record number within the file,
//! [`CaptureSet::current`] and [`PacketSource::name`] name the file of the last
//! packet returned. [`CaptureSet::sequence`] counts packets across the whole
//! set (a monotonic number for an engine that wants one) and
//! [`CaptureSet::locate`] maps such a number back to (file, record).
//!
//! Every file is read by [`crate::stream::StreamReader`] (classic pcap, pcapng,
//! gzip, zstd; a test shows it reads what libpcap reads).

use crate::open::{kind_of_file, open_stream, Kind};
use crate::stream::StreamReader;
use crate::{CaptureError, Packet, PacketSource, Timestamp};
use std::path::{Path, PathBuf};

/// One file of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Path as given (or found in a directory).
    pub path: PathBuf,
    /// Time of its first packet (`None`: no packet).
    pub first: Option<Timestamp>,
    /// `path` as text (for alerts' `pcap`).
    pub name: String,
}

/// Several capture files read as one stream, ordered by first timestamp.
pub struct CaptureSet {
    members: Vec<Member>,
    skipped: Vec<PathBuf>,
    /// Index of the file being read.
    cur: usize,
    reader: Option<StreamReader>,
    /// Sequence number (over the set) of the first packet of each file read so far.
    starts: Vec<u64>,
    seq: u64,
    last_ts: Option<Timestamp>,
    regressions: u64,
}

/// Expand directories (their regular files that are captures, by magic; others
/// are skipped and reported) and keep files as given.
fn expand(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>), CaptureError> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| CaptureError::Open { path: p.clone(), msg: e.to_string() })?;
            let mut inside: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|f| f.is_file()).collect();
            inside.sort();
            for f in inside {
                match kind_of_file(&f) {
                    Ok(Kind::Unknown) | Err(_) => skipped.push(f),
                    Ok(_) => files.push(f),
                }
            }
        } else {
            files.push(p.clone());
        }
    }
    Ok((files, skipped))
}

impl CaptureSet {
    /// Open the files and directories in `paths` as one set. Any file that
    /// cannot be opened fails the whole set (with its name); a file that ends
    /// early is read up to its damage when its turn comes.
    pub fn open(paths: &[PathBuf]) -> Result<CaptureSet, CaptureError> {
        let (files, skipped) = expand(paths)?;
        if files.is_empty() {
            let path = paths.first().cloned().unwrap_or_default();
            return Err(CaptureError::Open { path, msg: "no capture files".into() });
        }
        let mut members = Vec::with_capacity(files.len());
        for path in files {
            let (mut r, _) = open_stream(&path)?;
            // A first record that is already damaged leaves the file without a
            // first time; its error is reported when the set reaches it.
            let first = r.advance().ok().filter(|ok| *ok).map(|_| r.packet().ts);
            let name = path.display().to_string();
            members.push(Member { path, first, name });
        }
        members.sort_by(|a, b| match (a.first, b.first) {
            (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.path.cmp(&b.path)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.path.cmp(&b.path),
        });
        Ok(CaptureSet {
            members,
            skipped,
            cur: 0,
            reader: None,
            starts: Vec::new(),
            seq: 0,
            last_ts: None,
            regressions: 0,
        })
    }

    /// The files in reading order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Files found in directories that are not captures (not read).
    pub fn skipped(&self) -> &[PathBuf] {
        &self.skipped
    }

    /// Index (in [`CaptureSet::members`]) of the file of the last packet returned.
    pub fn current(&self) -> usize {
        self.cur.min(self.members.len().saturating_sub(1))
    }

    /// Path of the file of the last packet returned.
    pub fn current_path(&self) -> &Path {
        &self.members[self.current()].path
    }

    /// Packets returned so far over the whole set (the last one's sequence number).
    pub fn sequence(&self) -> u64 {
        self.seq
    }

    /// File index and record number of the packet with sequence number `seq`
    /// (1-based, as [`CaptureSet::sequence`] counts), for packets already read.
    pub fn locate(&self, seq: u64) -> Option<(usize, u64)> {
        if seq == 0 || seq > self.seq {
            return None;
        }
        let k = self.starts.partition_point(|&s| s <= seq).checked_sub(1)?;
        Some((k, seq - self.starts[k] + 1))
    }

    /// File boundaries where the next file starts before the previous one ended
    /// (overlapping captures, not a rotated set): counted, packets still read in file order.
    pub fn time_regressions(&self) -> u64 {
        self.regressions
    }

    /// Move to the next packet of the set (opening the next file at the end of
    /// one): `Ok(true)` when [`CaptureSet::packet`] holds it, `Ok(false)` at the
    /// end of the last file. An error names the damaged file; the set goes on
    /// with the next file at the following call. [`CaptureSet::current`] names
    /// the file of the packet moved to.
    pub fn advance(&mut self) -> Result<bool, CaptureError> {
        if !self.step()? {
            return Ok(false);
        }
        if let Some(p) = self.reader.as_ref().map(StreamReader::packet) {
            if p.frame == 1 && self.last_ts.is_some_and(|t| p.ts < t) {
                self.regressions += 1;
            }
            self.last_ts = Some(p.ts);
        }
        Ok(true)
    }

    /// The packet [`CaptureSet::advance`] moved to (an empty packet before the first).
    pub fn packet(&self) -> Packet<'_> {
        match self.reader.as_ref() {
            Some(r) => r.packet(),
            None => Packet { frame: 0, ts: Timestamp::default(), linktype: crate::LinkType(0), data: &[], orig_len: 0 },
        }
    }

    fn step(&mut self) -> Result<bool, CaptureError> {
        loop {
            if self.cur >= self.members.len() {
                return Ok(false);
            }
            if self.reader.is_none() {
                let (r, _) = open_stream(&self.members[self.cur].path)?;
                self.reader = Some(r);
                self.starts.push(self.seq + 1);
            }
            let Some(r) = self.reader.as_mut() else {
                return Ok(false);
            };
            match r.advance() {
                Ok(true) => {
                    self.seq += 1;
                    return Ok(true);
                }
                Ok(false) => {
                    self.reader = None;
                    self.cur += 1;
                }
                Err(e) => {
                    // The damaged file ends here; the set goes on with the next one next time.
                    self.reader = None;
                    self.cur += 1;
                    return Err(e);
                }
            }
        }
    }
}

impl PacketSource for CaptureSet {
    /// The next packet; an error names the damaged file and the set goes on with
    /// the next file at the following call (`Ok(None)` only at the end of the last file).
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if !self.advance()? {
            return Ok(None);
        }
        Ok(Some(self.packet()))
    }

    fn name(&self) -> &str {
        self.members.get(self.current()).map(|m| m.name.as_str()).unwrap_or("")
    }
}
