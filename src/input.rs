//! Opening captures for `decode`, `replay` and `timeline`: any file an analyst
//! brings (classic pcap through libpcap's fast path, pcapng with several link
//! types, gzip / zstd) and rotated sets read as one stream (`--continuous`, a
//! directory); the tap that feeds evidence pcaps and maps set-wide packet
//! numbers back to (file, record).

use crate::EXIT_USAGE;
use s7sentry_capture::open::CaptureFile;
use s7sentry_capture::set::CaptureSet;
use s7sentry_capture::{CaptureError, Packet, PacketSource};
use s7sentry_engine::Ts;
use s7sentry_export::evidence::EvidenceWriter;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Open a capture file, or report the one-line error and raise `status` to 2.
pub fn open(path: &Path, status: &mut u8) -> Option<CaptureFile> {
    match CaptureFile::open(path) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("s7sentry: {e}");
            *status = (*status).max(EXIT_USAGE);
            None
        }
    }
}

/// Where the packets of a continuous set came from: the engine numbers them
/// over the whole set (so its state and timers run across file boundaries),
/// and alerts and timeline entries are mapped back to (file, record) here.
#[derive(Debug, Default)]
pub struct FileMap {
    names: Vec<String>,
    /// (set-wide number of the first packet of a file, index of the file in `names`), ascending.
    starts: Vec<(u64, usize)>,
}

impl FileMap {
    /// File name and record number of the packet numbered `seq` over the set
    /// (`None` outside a set, or for 0: end-of-input alerts).
    pub fn locate(&self, seq: u64) -> Option<(&str, u64)> {
        if seq == 0 {
            return None;
        }
        let k = self.starts.partition_point(|&(s, _)| s <= seq).checked_sub(1)?;
        let (first, file) = self.starts[k];
        Some((self.names[file].as_str(), seq - first + 1))
    }

    /// Whether packet numbers are set-wide (a continuous set is being read).
    pub fn is_set(&self) -> bool {
        !self.names.is_empty()
    }
}

/// What the input shares with the output on the reading thread.
#[derive(Default)]
pub struct Tap {
    /// Evidence pcaps: every packet read goes into its connection's ring.
    pub evidence: Option<EvidenceWriter>,
    /// Set-wide packet numbers back to files.
    pub files: FileMap,
    /// Files of a set that ended at damage (message), read up to it.
    pub damaged: Vec<String>,
}

/// [`Tap`] shared by the input and the output (one thread).
pub type SharedTap = Rc<RefCell<Tap>>;

enum Src {
    File(CaptureFile),
    Set(CaptureSet),
}

/// A capture file or a continuous set, feeding the tap.
pub struct Input {
    src: Src,
    tap: SharedTap,
    seq: u64,
    name: String,
}

impl Input {
    /// One capture file.
    pub fn file(f: CaptureFile, tap: SharedTap) -> Input {
        let name = f.name().to_string();
        tap.borrow_mut().files = FileMap::default();
        Input { src: Src::File(f), tap, seq: 0, name }
    }

    /// Several files and directories as one stream ordered by first
    /// timestamp. `name` names the set where no file can (end-of-input alerts).
    pub fn set(paths: &[PathBuf], tap: SharedTap) -> Result<Input, CaptureError> {
        let set = CaptureSet::open(paths)?;
        for s in set.skipped() {
            eprintln!("s7sentry: {}: not a capture file, skipped", s.display());
        }
        let names = set.members().iter().map(|m| m.name.clone()).collect();
        tap.borrow_mut().files = FileMap { names, starts: Vec::new() };
        let name = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",");
        Ok(Input { src: Src::Set(set), tap, seq: 0, name })
    }

    /// Files in reading order (a set), or the one file.
    pub fn files(&self) -> Vec<PathBuf> {
        match &self.src {
            Src::File(_) => vec![PathBuf::from(&self.name)],
            Src::Set(s) => s.members().iter().map(|m| m.path.clone()).collect(),
        }
    }

    /// File boundaries where a file of the set starts before the previous one ended.
    pub fn time_regressions(&self) -> u64 {
        match &self.src {
            Src::File(_) => 0,
            Src::Set(s) => s.time_regressions(),
        }
    }
}

/// Hand a packet to the evidence rings (if any).
pub fn feed(tap: &SharedTap, p: &Packet<'_>) {
    if let Some(e) = tap.borrow_mut().evidence.as_mut() {
        e.packet(p.linktype.0, Ts::new(p.ts.secs, p.ts.nanos), p.data, p.orig_len);
    }
}

impl PacketSource for Input {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        match &mut self.src {
            Src::File(f) => {
                let p = f.next_packet()?;
                if let Some(p) = &p {
                    feed(&self.tap, p);
                }
                Ok(p)
            }
            Src::Set(s) => loop {
                match s.advance() {
                    Ok(true) => {}
                    Ok(false) => return Ok(None),
                    // A damaged file ends at its damage; the set goes on with the next file.
                    Err(e) => {
                        eprintln!("s7sentry: {e}");
                        self.tap.borrow_mut().damaged.push(e.to_string());
                        continue;
                    }
                }
                self.seq += 1;
                let cur = s.current();
                {
                    let mut t = self.tap.borrow_mut();
                    if t.files.starts.last().is_none_or(|&(_, f)| f != cur) {
                        t.files.starts.push((self.seq, cur));
                    }
                }
                let mut p = s.packet();
                p.frame = self.seq;
                feed(&self.tap, &p);
                return Ok(Some(p));
            },
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}
