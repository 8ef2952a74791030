//! IP fragment reassembly: IPv4 (RFC 791) and IPv6 (RFC 8200 §4.5), bounded,
//! with a written-down policy for the places where the sensor and the PLC can
//! disagree.
//!
//! Fragments toward a PLC are themselves a finding (CVE-2024-23814, reported by
//! the `crash_pattern` rules), but an S7 PDU split into IP fragments must still
//! be decoded, or fragmentation becomes an evasion (Ptacek & Newsham 1998, §4;
//! Novak, "Target-Based Fragmentation Reassembly", 2005). Datagrams are keyed
//! by (source, destination, protocol, identification) for IPv4 and by
//! (source, destination, identification) for IPv6. Everything this module has
//! to say about a datagram is a [`Report`], which the engine turns into an
//! [`crate::Event::IpDefrag`] and the `evasion.ip_*` rules into alerts.
//!
//! # Policy
//!
//! **Which copy wins.** How Siemens PLC stacks resolve overlapping fragments is
//! not published. Known stacks differ: Novak's survey lists *first*, *last*,
//! *BSD*, *BSD-right*, *Linux*, *Windows* and *Solaris* policies; Linux since
//! 2018 and every IPv6 stack following RFC 5722 discard a datagram with
//! overlapping fragments altogether. No single choice can match an unknown
//! target, so the sensor leaves the attacker no choice to exploit:
//! * it reassembles with **first copy wins** (the same rule as its TCP stream)
//!   and feeds that datagram to the TCP engine;
//! * every overlap whose bytes differ is a [`Issue::Conflict`] report, with
//!   the first and the last copy of the differing bytes and, when the overlap
//!   falls on the TCP header, the header fields it rewrites (ports, sequence
//!   numbers, data offset, flags, ...: RFC 1858 §4, RFC 3128);
//! * from the first conflict on it also keeps the **last copy wins**
//!   reassembly of the datagram. When the two differ and only one has a valid
//!   TCP checksum, the engine decodes that one (every stack checks it: no
//!   target accepts the other); otherwise it decodes both (see `Engine`
//!   docs), so a request hidden in either copy is seen. For two
//!   overlapping copies every policy in Novak's list yields one of these two
//!   (or drops the datagram); three or more copies of the same bytes can mix,
//!   and are reported as conflicts all the same.
//!
//! **Tiny fragments** (RFC 1858 §3, RFC 7112): a first fragment that does not
//! carry the whole TCP header (IPv4), or the whole IPv6 header chain up to and
//! including the TCP header, is an [`Issue::Tiny`] report. It is still
//! reassembled.
//!
//! **Conflicting lengths.** A second "last" fragment with another end, or data
//! beyond the end a last fragment set, is an [`Issue::LengthConflict`] (Linux
//! drops such a datagram as corrupt; others keep either end). The first end
//! seen is the first-copy reassembly's end; the last-copy reassembly ends
//! where the latest last fragment says (when its bytes are all there at
//! completion).
//!
//! **Timeout.** A datagram is declared incomplete after [`TIMEOUT_MS`] (60 s:
//! RFC 8200 requires 60 s for IPv6, Windows uses 60 s, Linux and FreeBSD 30 s,
//! RFC 791 suggests 15 s; the PLC's value is not published) and reported
//! ([`Issue::Incomplete`], with the bytes held and missing). Its bytes are
//! *kept* for a further [`GRACE_MS`] while room allows, so that a fragment
//! spaced beyond the sensor's timeout but within a slower target's still
//! completes it: the fragment is reported ([`Issue::Late`]) and the datagram
//! decoded. After the grace period (or when room is needed) the bytes are
//! given up and the key remembered ([`MAX_TOMBSTONES`]): a fragment for a
//! datagram already given up is reported too. Datagrams still incomplete when
//! the input ends are reported as well.
//!
//! **Caps.** At most [`MAX_DATAGRAMS`] datagrams and [`MAX_TOTAL`] bytes are
//! held, and no datagram beyond [`MAX_DATAGRAM`] bytes. When room is needed,
//! datagrams already declared incomplete go first, then the oldest ones (one
//! at a time, from queues in arrival order: a flood costs no table scans);
//! every datagram given up for room is an [`Issue::Dropped`] report
//! and every fragment not held an [`Issue::Refused`] report: a blind spot is
//! never silent.
//!
//! **Duplicates.** A fragment repeating, byte for byte, part of a datagram
//! completed less than [`TIMEOUT_MS`] before (a SPAN port that sees both
//! directions of a link shows every fragment twice) is counted and dropped;
//! with other bytes it starts a new datagram, as it would at the target.
//!
//! **Atomic fragments** (an IPv6 fragment header with offset 0 and no more
//! fragments) are not held here: the engine decodes them in isolation
//! (RFC 6946).
//!
//! Reports are produced in a deterministic order (by first-seen time, then
//! key), so single- and multi-threaded replays give the same alerts.

use crate::time::Ts;
use s7sentry_proto::FindingKind;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;

/// Most datagrams held at once.
pub const MAX_DATAGRAMS: usize = 1024;
/// Largest reassembled datagram payload (the IPv4 maximum; RFC 8200 refuses larger IPv6 ones too).
pub const MAX_DATAGRAM: usize = 65_535;
/// Bytes held across all datagrams (both reassemblies counted).
pub const MAX_TOTAL: usize = 8 << 20;
/// A datagram not complete this many ms after its first fragment is reported incomplete.
pub const TIMEOUT_MS: u64 = 60_000;
/// How long the bytes of an incomplete datagram are kept after [`TIMEOUT_MS`], room permitting.
pub const GRACE_MS: u64 = 600_000;
/// Keys of datagrams given up that are remembered, to report their late fragments.
pub const MAX_TOMBSTONES: usize = 4096;
/// Bytes of each copy kept as evidence of a conflict.
pub const SNIPPET: usize = 32;
/// Completed datagrams remembered (for [`TIMEOUT_MS`]) to recognise duplicates of their fragments.
pub const MAX_DONE: usize = 64;
/// Bytes of completed datagrams remembered at most.
pub const MAX_DONE_BYTES: usize = 1 << 20;

/// Identity of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatagramKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IPv4 protocol; 0 for IPv6 (RFC 8200 keys on addresses and identification only).
    pub proto: u8,
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
}

/// A few bytes of evidence, copied (no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Snippet {
    len: u8,
    bytes: [u8; SNIPPET],
}

impl Snippet {
    /// The first [`SNIPPET`] bytes of `b`.
    pub fn new(b: &[u8]) -> Snippet {
        let n = b.len().min(SNIPPET);
        let mut bytes = [0u8; SNIPPET];
        bytes[..n].copy_from_slice(&b[..n]);
        Snippet { len: n as u8, bytes }
    }
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Snippet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02x?}", self.as_bytes())
    }
}

/// TCP header fields touched by differing overlap bytes (a bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFields(pub u16);

impl TcpFields {
    const NAMES: [&'static str; 9] =
        ["ports", "sequence", "acknowledgement", "data_offset", "flags", "window", "checksum", "urgent", "options"];

    /// The field at byte `i` of a TCP header.
    pub fn at(i: usize) -> TcpFields {
        let bit = match i {
            0..=3 => 0,
            4..=7 => 1,
            8..=11 => 2,
            12 => 3,
            13 => 4,
            14..=15 => 5,
            16..=17 => 6,
            18..=19 => 7,
            _ => 8,
        };
        TcpFields(1 << bit)
    }
    /// No field.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Names of the fields in the set, in header order (`ports`, `sequence`,
    /// `acknowledgement`, `data_offset`, `flags`, `window`, `checksum`, `urgent`, `options`).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES.iter().enumerate().filter(move |(i, _)| self.0 >> i & 1 != 0).map(|(_, n)| *n)
    }
}

/// Which cap made the sensor give bytes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// The datagram would exceed [`MAX_DATAGRAM`].
    DatagramSize,
    /// [`MAX_DATAGRAMS`] datagrams were held.
    Datagrams,
    /// [`MAX_TOTAL`] bytes were held.
    Bytes,
}

impl Cap {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            Cap::DatagramSize => "datagram_size",
            Cap::Datagrams => "datagrams",
            Cap::Bytes => "bytes",
        }
    }
}

/// What a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issue {
    /// A fragment overlapped bytes already held with different content.
    Conflict {
        /// First differing byte (offset in the datagram payload).
        start: usize,
        /// One past the last differing byte.
        end: usize,
        /// The bytes held before (first copy, kept in the primary reassembly) from `start`.
        kept: Snippet,
        /// The new fragment's bytes from `start` (last copy).
        new: Snippet,
        /// TCP header fields among the differing bytes (empty when none, or not TCP).
        tcp: TcpFields,
    },
    /// The first fragment does not carry the whole transport header (RFC 1858 §3, RFC 7112).
    Tiny {
        /// Bytes of the transport header present in the first fragment.
        have: usize,
        /// Bytes the TCP header needs (data offset × 4, at least 20); 0 when an
        /// IPv6 extension header already runs past the fragment.
        needed: usize,
    },
    /// Two "last" fragments with different ends, or data beyond the end a last fragment set.
    LengthConflict {
        /// The end in force (set by the first last fragment).
        end_before: usize,
        /// The end this fragment implies.
        end_now: usize,
    },
    /// A datagram still incomplete after [`TIMEOUT_MS`], or when the input ended.
    Incomplete {
        /// Bytes received.
        held: usize,
        /// Bytes missing up to the known end (or up to the highest byte received).
        missing: usize,
        /// Whether the last fragment (the end) was seen.
        end_known: bool,
        /// Milliseconds since the first fragment.
        age_ms: u64,
        /// Reported because the input ended, not because of the timeout.
        end_of_capture: bool,
    },
    /// A fragment for a datagram already declared incomplete, or already given up.
    Late {
        /// Milliseconds since the datagram was declared incomplete (or given up).
        after_ms: u64,
        /// Bytes in this fragment.
        len: usize,
        /// The earlier bytes were still kept: reassembly goes on.
        kept: bool,
    },
    /// A fragment was not held because a cap was hit.
    Refused {
        /// Bytes in the fragment.
        len: usize,
        /// The cap.
        cap: Cap,
    },
    /// A held datagram was given up to make room.
    Dropped {
        /// Bytes it held.
        held: usize,
        /// Bytes still missing (up to the known end, or the highest byte received).
        missing: usize,
        /// Whether the last fragment (the end) was seen.
        end_known: bool,
        /// The cap that needed the room.
        cap: Cap,
    },
}

/// One observation about a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The datagram.
    pub key: DatagramKey,
    /// Transport protocol (IPv6: from the first fragment, when seen).
    pub proto: Option<u8>,
    /// Transport ports (source, destination), when the first fragment carried them.
    pub ports: Option<(u16, u16)>,
    /// Offset (bytes) of the fragment the report is about (0 for datagram-wide reports).
    pub offset: usize,
    /// What.
    pub issue: Issue,
    /// For a datagram incomplete at the end of the input: (frame, time) of
    /// its last fragment, which the report is about. `None`: the packet being
    /// processed (or the timer's packet).
    pub origin: Option<(u64, Ts)>,
}

impl Report {
    /// The finding kind this report is (stable name for records and metrics).
    pub fn kind(&self) -> FindingKind {
        match self.issue {
            Issue::Conflict { .. } => FindingKind::OverlapConflict,
            Issue::Tiny { .. } => FindingKind::TinyFragment,
            Issue::LengthConflict { .. } => FindingKind::FragmentLengthConflict,
            Issue::Incomplete { .. } => FindingKind::FragmentIncomplete,
            Issue::Late { .. } => FindingKind::LateFragment,
            Issue::Refused { .. } => FindingKind::FragmentRefused,
            Issue::Dropped { .. } => FindingKind::DatagramDropped,
        }
    }
}

/// One fragment handed to [`Defrag::add`].
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    /// Offset in bytes.
    pub offset: usize,
    /// More-fragments flag.
    pub more: bool,
    /// IPv4 protocol, or the Next Header of the IPv6 fragment header.
    pub proto: u8,
    /// The fragment's payload.
    pub data: &'a [u8],
}

/// A completed datagram.
#[derive(Debug, PartialEq, Eq)]
pub struct Reassembled {
    /// First copy wins.
    pub data: Vec<u8>,
    /// Last copy wins, when it differs from `data`.
    pub alt: Option<Vec<u8>>,
    /// IPv4 protocol, or the Next Header of the first fragment's fragment header.
    pub proto: u8,
    /// Completed by a fragment that arrived after the datagram was declared incomplete.
    pub late: bool,
}

/// Outcome of adding one fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// Still incomplete.
    Pending,
    /// Complete.
    Complete(Reassembled),
    /// Not held (a cap; reported).
    Refused,
}

#[derive(Debug)]
struct Datagram {
    /// First-copy reassembly.
    data: Vec<u8>,
    /// Last-copy reassembly, from the first conflict on.
    alt: Option<Vec<u8>>,
    /// Byte ranges received: sorted, without overlaps or adjacent ranges.
    have: Vec<(usize, usize)>,
    total: Option<usize>,
    first: Ts,
    expired: Option<Ts>,
    proto: Option<u8>,
    ports: Option<(u16, u16)>,
    /// Offset of the TCP header in the payload (IPv6: after extension headers), when known.
    tcp_at: Option<usize>,
    /// (frame, time) of the latest fragment.
    last: (u64, Ts),
    /// The end set by the latest last fragment (the last-copy reassembly's end).
    alt_total: Option<usize>,
}

impl Datagram {
    fn held(&self) -> usize {
        self.data.len() + self.alt.as_ref().map_or(0, Vec::len)
    }
    fn received(&self) -> usize {
        self.have.iter().map(|(s, e)| e - s).sum()
    }
    fn missing(&self) -> (usize, bool) {
        let end = self.total.unwrap_or_else(|| self.have.last().map_or(0, |r| r.1));
        let got: usize = self.have.iter().map(|&(s, e)| e.min(end).saturating_sub(s)).sum();
        (end - got.min(end), self.total.is_some())
    }
    /// The report of this datagram still incomplete at `now`.
    fn incomplete(&self, now: Ts, end_of_capture: bool) -> Issue {
        let (missing, end_known) = self.missing();
        Issue::Incomplete {
            held: self.received(),
            missing,
            end_known,
            age_ms: now.ms_since(self.first),
            end_of_capture,
        }
    }
    fn deadline(&self) -> Ts {
        match self.expired {
            None => self.first.plus_ms(TIMEOUT_MS),
            Some(_) => self.first.plus_ms(TIMEOUT_MS + GRACE_MS),
        }
    }
}

/// A datagram's byte buffer and its list of received ranges, kept for reuse.
type Buffers = (Vec<u8>, Vec<(usize, usize)>);

/// Counters (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefragCounters {
    /// Datagrams completed.
    pub completed: u64,
    /// Fragments not held because a cap was hit.
    pub refused: u64,
    /// Datagrams declared incomplete after the timeout.
    pub expired: u64,
    /// Datagrams still incomplete when the input ended.
    pub incomplete_at_end: u64,
    /// Datagrams whose bytes were given up: to make room (reported) or after the grace period.
    pub dropped: u64,
    /// Fragments that overlapped held bytes with different content.
    pub conflicts: u64,
    /// Fragments for datagrams declared incomplete or given up.
    pub late: u64,
    /// Datagrams whose first fragment does not carry the whole transport header.
    pub tiny: u64,
    /// Fragments whose end conflicts with the datagram's end.
    pub length_conflicts: u64,
    /// Fragments repeating, byte for byte, part of a datagram completed less than
    /// [`TIMEOUT_MS`] before (network or SPAN duplicates): not held.
    pub duplicates: u64,
}

/// The reassembly table.
#[derive(Debug, Default)]
pub struct Defrag {
    map: HashMap<DatagramKey, Datagram, ahash::RandomState>,
    /// Keys of datagrams given up, with the time (at most [`MAX_TOMBSTONES`]; the
    /// older half is forgotten when full).
    tombs: HashMap<DatagramKey, Ts, ahash::RandomState>,
    /// Buffers of datagrams given up or completed, for the next ones (bounded).
    spare: Vec<Buffers>,
    /// (first-seen time, key) of every datagram in arrival order; entries of
    /// datagrams gone are skipped when met, and dropped when it grows too long.
    order: VecDeque<(Ts, DatagramKey)>,
    /// The same for datagrams declared incomplete, in the order they were.
    expired_order: VecDeque<(Ts, DatagramKey)>,
    total: usize,
    /// No datagram reaches its timeout or the end of its grace period before this.
    next_check: Option<Ts>,
    reports: Vec<Report>,
    scratch: Vec<(Ts, DatagramKey)>,
    /// Recently completed datagrams (key, completion time, first-copy bytes), oldest first.
    done: VecDeque<(DatagramKey, Ts, Vec<u8>)>,
    done_bytes: usize,
    /// (time, frame) of every datagram's latest fragment each time it was
    /// set, smallest first; entries of datagrams since updated, declared
    /// incomplete or gone are dropped when they reach the top (see
    /// [`Defrag::alert_floor`]).
    lasts: BinaryHeap<Reverse<(Ts, u64, DatagramKey)>>,
    /// [`Defrag::alert_floor`] as last computed; `None` once the table changed.
    floor: Option<Option<(Ts, u64)>>,
    /// Counters.
    pub counters: DefragCounters,
}

impl Defrag {
    /// Bytes held.
    pub fn held(&self) -> usize {
        self.total
    }

    /// Datagrams held (incomplete ones kept for late fragments included).
    pub fn datagrams(&self) -> usize {
        self.map.len()
    }

    /// Move the reports made since the last call into `out` (appended, in order).
    pub fn take_reports(&mut self, out: &mut Vec<Report>) {
        out.append(&mut self.reports);
    }

    fn report(&mut self, key: DatagramKey, offset: usize, issue: Issue) {
        let (proto, ports) = match self.map.get(&key) {
            Some(d) => (d.proto, d.ports),
            None => ((!key.src.is_ipv6()).then_some(key.proto), None),
        };
        self.reports.push(Report { key, proto, ports, offset, issue, origin: None });
    }

    /// Add a fragment received at `ts` in capture record `frame`. Reports go to the queue read by
    /// [`Defrag::take_reports`]. Zero-length fragments are ignored (they cannot
    /// complete anything; Linux discards them too).
    pub fn add(&mut self, ts: Ts, frame: u64, key: DatagramKey, f: Fragment<'_>) -> Added {
        self.floor = None;
        if self.lasts.len() > 2 * self.map.len() + 64 {
            self.prune_lasts();
        }
        let off = f.offset;
        let end = off + f.data.len();
        if f.data.is_empty() {
            return Added::Pending;
        }
        if end > MAX_DATAGRAM {
            self.counters.refused += 1;
            self.report(key, off, Issue::Refused { len: f.data.len(), cap: Cap::DatagramSize });
            return Added::Refused;
        }
        match self.map.get(&key) {
            None => {
                let dup = self.done.iter().any(|(k, t, data)| {
                    *k == key && ts.ms_since(*t) < TIMEOUT_MS && data.get(off..end) == Some(f.data)
                });
                if dup {
                    self.counters.duplicates += 1;
                    return Added::Pending;
                }
                if let Some(t) = self.tombs.remove(&key) {
                    self.counters.late += 1;
                    let issue = Issue::Late { after_ms: ts.ms_since(t), len: f.data.len(), kept: false };
                    self.report(key, off, issue);
                }
                if self.map.len() >= MAX_DATAGRAMS {
                    self.make_room(ts, Cap::Datagrams, None);
                }
                let (data, have) = self.spare.pop().unwrap_or_default();
                let d = Datagram {
                    data,
                    alt: None,
                    have,
                    total: None,
                    first: ts,
                    expired: None,
                    proto: (!key.src.is_ipv6()).then_some(key.proto),
                    ports: None,
                    tcp_at: None,
                    last: (frame, ts),
                    alt_total: None,
                };
                let dl = d.deadline();
                self.map.insert(key, d);
                self.order.push_back((ts, key));
                if self.order.len() > 4 * MAX_DATAGRAMS {
                    let map = &self.map;
                    self.order.retain(|(t, k)| map.get(k).is_some_and(|d| d.first == *t));
                }
                if self.next_check.is_none_or(|t| dl < t) {
                    self.next_check = Some(dl);
                }
            }
            Some(d) => {
                if let Some(t) = d.expired {
                    self.counters.late += 1;
                    let issue = Issue::Late { after_ms: ts.ms_since(t), len: f.data.len(), kept: true };
                    self.report(key, off, issue);
                }
            }
        }
        let Some(d) = self.map.get_mut(&key) else {
            return Added::Pending;
        };
        let before = d.held();
        d.last = (frame, ts);
        if d.expired.is_none() {
            self.lasts.push(Reverse((ts, frame, key)));
        }
        if off == 0 && d.ports.is_none() && d.tcp_at.is_none() {
            first_fragment(d, key, &f, &mut self.reports, &mut self.counters);
        }
        let length = lengths(d, &f, end);
        let conflict = fill(d, &f, key, length.is_some());
        self.total = self.total - before + d.held();
        if let Some(c) = conflict {
            self.counters.conflicts += 1;
            self.report(key, off, c);
        }
        if let Some(l) = length {
            self.counters.length_conflicts += 1;
            self.report(key, off, l);
        }
        if self.total > MAX_TOTAL {
            self.make_room(ts, Cap::Bytes, Some(key));
            if self.total > MAX_TOTAL {
                // Nothing else to give up: this datagram alone is too much.
                self.give_up(ts, key, Cap::Bytes, true);
                return Added::Refused;
            }
        }
        let Some(d) = self.map.get(&key) else {
            return Added::Pending;
        };
        let done = d.total.is_some_and(|t| d.have.first().is_some_and(|&(s, e)| s == 0 && e >= t));
        if !done {
            return Added::Pending;
        }
        let Some(d) = self.map.remove(&key) else {
            return Added::Pending;
        };
        self.total -= d.held();
        self.counters.completed += 1;
        let t = d.total.unwrap_or(d.data.len());
        // The last-copy reassembly ends where the latest last fragment said, if
        // every byte up to there arrived.
        let alt_t = d.alt_total.unwrap_or(t);
        let alt_whole = d.have.first().is_some_and(|&(s, e)| s == 0 && e >= alt_t);
        let alt = d.alt.filter(|_| alt_whole).map(|mut a| {
            a.truncate(alt_t);
            a
        });
        let mut data = d.data;
        data.truncate(t);
        let alt = alt.filter(|a| *a != data);
        let mut have = d.have;
        have.clear();
        if self.spare.len() < 64 {
            self.spare.push((Vec::new(), have));
        }
        Added::Complete(Reassembled { data, alt, proto: d.proto.unwrap_or(key.proto), late: d.expired.is_some() })
    }

    /// Hand back a completed datagram's first-copy bytes after decoding them:
    /// they are remembered for [`TIMEOUT_MS`] (at most [`MAX_DONE`] datagrams,
    /// [`MAX_DONE_BYTES`]) so that a duplicate of one of its fragments arriving
    /// later is recognised instead of starting a datagram that never completes.
    /// A fragment with other bytes still starts a new datagram.
    pub fn recycle(&mut self, key: DatagramKey, ts: Ts, data: Vec<u8>) {
        if data.len() > MAX_DONE_BYTES {
            return;
        }
        while self.done.len() >= MAX_DONE || self.done_bytes + data.len() > MAX_DONE_BYTES {
            match self.done.pop_front() {
                Some((_, _, d)) => {
                    self.done_bytes -= d.len();
                    self.spare(d, Vec::new());
                }
                None => break,
            }
        }
        self.done_bytes += data.len();
        self.done.push_back((key, ts, data));
    }

    /// Give up datagrams to make room for `cap`, one at a time: those already
    /// declared incomplete first (in that order), else the oldest; never
    /// `keep`. For [`Cap::Datagrams`] one datagram; for [`Cap::Bytes`] until
    /// [`MAX_TOTAL`] holds or nothing is left. Both queues are in arrival
    /// order, so no table scan is needed (entries of datagrams already gone
    /// are skipped).
    fn make_room(&mut self, ts: Ts, cap: Cap, keep: Option<DatagramKey>) {
        loop {
            let Some(k) = self.oldest(true, keep).or_else(|| self.oldest(false, keep)) else {
                return;
            };
            // Incomplete datagrams were reported when they expired: giving up
            // their kept bytes is counted, and a late fragment will be reported.
            let report = self.map.get(&k).is_some_and(|d| d.expired.is_none());
            self.give_up(ts, k, cap, report);
            if cap != Cap::Bytes || self.total <= MAX_TOTAL {
                return;
            }
        }
    }

    /// Take the oldest live entry of a queue (`expired`: the incomplete ones),
    /// other than `keep` (which stays queued).
    fn oldest(&mut self, expired: bool, keep: Option<DatagramKey>) -> Option<DatagramKey> {
        let q = if expired { &mut self.expired_order } else { &mut self.order };
        let mut kept = None;
        let mut found = None;
        while let Some((t, k)) = q.pop_front() {
            let live = self.map.get(&k).is_some_and(|d| d.first == t && (!expired || d.expired.is_some()));
            if !live {
                continue;
            }
            if Some(k) == keep {
                kept = Some((t, k));
                continue;
            }
            found = Some(k);
            break;
        }
        if let Some(e) = kept {
            q.push_front(e);
        }
        found
    }

    /// Remove a datagram, remember its key, and report it when `report`.
    fn give_up(&mut self, ts: Ts, key: DatagramKey, cap: Cap, report: bool) {
        let Some(d) = self.map.get(&key) else {
            return;
        };
        let (missing, end_known) = d.missing();
        let held = d.received();
        if report {
            self.report(key, 0, Issue::Dropped { held, missing, end_known, cap });
        }
        if let Some(d) = self.map.remove(&key) {
            self.total -= d.held();
            self.spare(d.data, d.have);
        }
        self.counters.dropped += 1;
        self.bury(key, ts);
    }

    fn bury(&mut self, key: DatagramKey, ts: Ts) {
        if self.tombs.len() >= MAX_TOMBSTONES {
            // Forget the older half at once (amortised: two visits per key buried).
            let mut times: Vec<Ts> = self.tombs.values().copied().collect();
            let mid = times.len() / 2;
            let (_, &mut cut, _) = times.select_nth_unstable(mid);
            self.tombs.retain(|_, t| *t > cut);
        }
        self.tombs.insert(key, ts);
    }

    /// Keep a given-up or completed datagram's buffers for the next datagram.
    fn spare(&mut self, mut data: Vec<u8>, mut have: Vec<(usize, usize)>) {
        if self.spare.len() < 64 && data.capacity() <= 4096 {
            data.clear();
            have.clear();
            self.spare.push((data, have));
        }
    }

    /// Whether a datagram's timeout or grace period may have ended by `now`
    /// (then [`Defrag::sweep`] has work).
    #[inline]
    pub fn due(&self, now: Ts) -> bool {
        self.next_check.is_some_and(|t| now >= t)
    }

    /// Timers: declare datagrams incomplete after [`TIMEOUT_MS`] (reported) and
    /// give up their bytes after [`GRACE_MS`] more. Scans the table only when
    /// a deadline can have passed. Call regularly with packet time.
    pub fn sweep(&mut self, now: Ts) {
        if self.next_check.is_none_or(|t| now < t) {
            return;
        }
        self.floor = None;
        let mut due = std::mem::take(&mut self.scratch);
        due.clear();
        due.extend(self.map.iter().filter(|(_, d)| d.deadline() <= now).map(|(k, d)| (d.first, *k)));
        due.sort_unstable();
        for &(_, k) in &due {
            let Some(d) = self.map.get_mut(&k) else {
                continue;
            };
            if d.expired.is_none() {
                d.expired = Some(now);
                let issue = d.incomplete(now, false);
                self.expired_order.push_back((d.first, k));
                self.counters.expired += 1;
                self.report(k, 0, issue);
            } else if let Some(d) = self.map.remove(&k) {
                self.total -= d.held();
                self.spare(d.data, d.have);
                self.counters.dropped += 1;
                self.bury(k, now);
            }
        }
        self.scratch = due;
        if self.expired_order.len() > 4 * MAX_DATAGRAMS {
            let map = &self.map;
            self.expired_order.retain(|(t, k)| map.get(k).is_some_and(|d| d.first == *t && d.expired.is_some()));
        }
        self.next_check = self.map.values().map(Datagram::deadline).min();
    }

    /// End of input: report every datagram still incomplete (and not yet
    /// reported) and forget everything.
    pub fn finish(&mut self, now: Ts) {
        let mut left = std::mem::take(&mut self.scratch);
        left.clear();
        left.extend(self.map.iter().filter(|(_, d)| d.expired.is_none()).map(|(k, d)| (d.first, *k)));
        left.sort_unstable();
        for &(_, k) in &left {
            let Some(d) = self.map.get(&k) else {
                continue;
            };
            let issue = d.incomplete(now, true);
            let last = d.last;
            self.counters.incomplete_at_end += 1;
            self.report(k, 0, issue);
            if let Some(r) = self.reports.last_mut() {
                r.origin = Some(last);
            }
        }
        self.scratch = left;
        self.map.clear();
        self.tombs.clear();
        self.order.clear();
        self.expired_order.clear();
        self.done.clear();
        self.done_bytes = 0;
        self.total = 0;
        self.next_check = None;
        self.lasts.clear();
        self.floor = None;
    }

    /// The earliest (time, frame) a report made from now on can carry that is
    /// not the packet being processed: the smallest latest fragment of the
    /// datagrams not yet declared incomplete (a datagram still incomplete when
    /// the input ends is reported at its latest fragment; see
    /// [`Report::origin`]). `None` when there is none. A replay holds alerts
    /// at or after it (with the detector's floor) so they come out in packet
    /// time order. Cached; amortized O(log datagrams) per fragment, no
    /// allocation once the heap has grown.
    pub fn alert_floor(&mut self) -> Option<(Ts, u64)> {
        if let Some(f) = self.floor {
            return f;
        }
        let mut f = None;
        while let Some(&Reverse((ts, frame, key))) = self.lasts.peek() {
            if self.map.get(&key).is_some_and(|d| d.expired.is_none() && d.last == (frame, ts)) {
                f = Some((ts, frame));
                break;
            }
            self.lasts.pop();
        }
        self.floor = Some(f);
        f
    }

    /// Drop the stale entries of [`Defrag::lasts`] (bounded: at most one live
    /// entry per datagram; the capacity is kept).
    fn prune_lasts(&mut self) {
        let map = &self.map;
        let mut v = std::mem::take(&mut self.lasts).into_vec();
        v.retain(|&Reverse((ts, frame, k))| map.get(&k).is_some_and(|d| d.expired.is_none() && d.last == (frame, ts)));
        self.lasts = BinaryHeap::from(v);
    }
}

/// The offset-0 fragment: transport protocol, ports, where the TCP header is,
/// and whether the fragment carries all of it.
fn first_fragment(
    d: &mut Datagram,
    key: DatagramKey,
    f: &Fragment<'_>,
    reports: &mut Vec<Report>,
    counters: &mut DefragCounters,
) {
    let v6 = key.src.is_ipv6();
    if v6 {
        d.proto = Some(f.proto);
    }
    let upper = if v6 { crate::link::ipv6_upper(f.proto, f.data) } else { Ok((f.proto, 0)) };
    let tiny = match upper {
        Ok((p, at)) => {
            if matches!(p, 6 | 17) && f.data.len() >= at + 4 {
                let b = &f.data[at..];
                d.ports = Some((u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]])));
            }
            if p == 6 {
                d.tcp_at = Some(at);
                let have = f.data.len() - at.min(f.data.len());
                let needed = f.data.get(at + 12).map_or(20, |b| usize::from(b >> 4) * 4).max(20);
                (f.more && have < needed).then_some(Issue::Tiny { have, needed })
            } else {
                None
            }
        }
        // The extension headers run past the first fragment (RFC 7112).
        Err(_) => f.more.then_some(Issue::Tiny { have: 0, needed: 0 }),
    };
    if let Some(issue) = tiny {
        counters.tiny += 1;
        reports.push(Report { key, proto: d.proto, ports: d.ports, offset: 0, issue, origin: None });
    }
}

/// Copy a fragment's bytes into the holes of the first-copy reassembly,
/// compare the rest, and keep the last-copy reassembly from the first
/// conflict on. Returns the conflict, if any.
fn fill(d: &mut Datagram, f: &Fragment<'_>, key: DatagramKey, force_alt: bool) -> Option<Issue> {
    let off = f.offset;
    let end = off + f.data.len();
    if d.data.len() < end {
        d.data.resize(end, 0);
    }
    let (mut lo, mut hi) = (usize::MAX, 0);
    let mut tcp = TcpFields::default();
    // Where the TCP header is, if this is TCP: known from the first fragment;
    // before it, at 0 for IPv4 TCP and for IPv6 fragments whose next header is TCP.
    let tcp_at = d.tcp_at.or_else(|| {
        let direct = if key.src.is_ipv6() { f.proto == 6 } else { key.proto == 6 };
        (direct && d.proto.is_none_or(|p| p == 6)).then_some(0)
    });
    let tcp_len = tcp_at.and_then(|a| d.data.get(a + 12)).map_or(20, |b| usize::from(b >> 4) * 4).max(20);
    let mut pos = off;
    for &(s, e) in d.have.iter() {
        if e <= pos {
            continue;
        }
        if s >= end {
            break;
        }
        if s > pos {
            d.data[pos..s].copy_from_slice(&f.data[pos - off..s - off]);
            pos = s;
        }
        let upto = e.min(end);
        let (old, new) = (&d.data[pos..upto], &f.data[pos - off..upto - off]);
        if old != new {
            for (i, (a, b)) in old.iter().zip(new).enumerate() {
                if a != b {
                    let at = pos + i;
                    lo = lo.min(at);
                    hi = at + 1;
                    if let Some(t) = tcp_at.filter(|&t| at >= t && at < t + tcp_len) {
                        tcp.0 |= TcpFields::at(at - t).0;
                    }
                }
            }
        }
        pos = upto;
    }
    if pos < end {
        d.data[pos..end].copy_from_slice(&f.data[pos - off..]);
    }
    // Record the range, merging in place.
    let at = d.have.partition_point(|&(s, _)| s < off);
    d.have.insert(at, (off, end));
    let mut w = 0;
    for r in 0..d.have.len() {
        let (s, e) = d.have[r];
        if w > 0 && s <= d.have[w - 1].1 {
            d.have[w - 1].1 = d.have[w - 1].1.max(e);
        } else {
            d.have[w] = (s, e);
            w += 1;
        }
    }
    d.have.truncate(w);
    let conflict = lo != usize::MAX;
    if (conflict || force_alt) && d.alt.is_none() {
        // Up to now both reassemblies were the same; `data` holds this
        // fragment's bytes in its holes already.
        d.alt = Some(d.data.clone());
    }
    if let Some(a) = d.alt.as_mut() {
        if a.len() < end {
            a.resize(end, 0);
        }
        a[off..end].copy_from_slice(f.data);
    }
    conflict.then(|| Issue::Conflict {
        start: lo,
        end: hi,
        kept: Snippet::new(&d.data[lo..hi]),
        new: Snippet::new(&f.data[lo - off..hi - off]),
        tcp,
    })
}

/// The datagram's end: set by the first last fragment; a conflict when another
/// fragment disagrees with it.
fn lengths(d: &mut Datagram, f: &Fragment<'_>, end: usize) -> Option<Issue> {
    let held_end = d.have.last().map_or(0, |r| r.1);
    if !f.more {
        d.alt_total = Some(end);
    }
    match d.total {
        None if !f.more => {
            d.total = Some(end);
            (held_end > end).then_some(Issue::LengthConflict { end_before: held_end, end_now: end })
        }
        Some(t) if (!f.more && end != t) || end > t => Some(Issue::LengthConflict { end_before: t, end_now: end }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn key(id: u32) -> DatagramKey {
        DatagramKey { src: ip("10.0.0.1"), dst: ip("10.0.0.2"), proto: 6, id }
    }

    fn frag(offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment { offset, more, proto: 6, data }
    }

    fn reports(d: &mut Defrag) -> Vec<Report> {
        let mut v = Vec::new();
        d.take_reports(&mut v);
        v
    }

    fn complete(a: Added) -> Reassembled {
        match a {
            Added::Complete(r) => r,
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn in_and_out_of_order() {
        let mut d = Defrag::default();
        assert_eq!(d.add(Ts(0), 1, key(7), frag(8, true, b"89abcdef")), Added::Pending);
        assert_eq!(d.add(Ts(0), 1, key(7), frag(16, false, b"XY")), Added::Pending);
        let r = complete(d.add(Ts(0), 1, key(7), frag(0, true, b"01234567")));
        assert_eq!(r.data, b"0123456789abcdefXY".to_vec());
        assert_eq!(r.alt, None);
        assert_eq!(d.held(), 0);
        // The first fragment holds 8 of the 20 bytes of a TCP header.
        let rep = reports(&mut d);
        assert_eq!(rep.len(), 1);
        assert_eq!(rep[0].issue, Issue::Tiny { have: 8, needed: 20 });
    }

    #[test]
    fn alert_floor_is_the_earliest_last_fragment_that_can_still_be_reported() {
        let mut d = Defrag::default();
        assert_eq!(d.alert_floor(), None);
        d.add(Ts(10), 1, key(1), frag(8, true, b"89abcdef"));
        d.add(Ts(20), 2, key(2), frag(8, true, b"89abcdef"));
        assert_eq!(d.alert_floor(), Some((Ts(10), 1)));
        // A later fragment of the first datagram moves its report (at the end) to that fragment.
        d.add(Ts(30), 3, key(1), frag(16, true, b"ghij"));
        assert_eq!(d.alert_floor(), Some((Ts(20), 2)));
        d.add(Ts(40), 4, key(2), frag(16, false, b"XY"));
        assert_eq!(d.alert_floor(), Some((Ts(30), 3)));
        // Completed: it can no longer be reported incomplete.
        complete(d.add(Ts(50), 5, key(2), frag(0, true, b"01234567")));
        assert_eq!(d.alert_floor(), Some((Ts(30), 3)));
        // Declared incomplete at the timeout (reported at the timer's packet): nothing left.
        d.sweep(Ts(10).plus_ms(TIMEOUT_MS));
        assert_eq!(d.alert_floor(), None);
    }

    #[test]
    fn conflicting_overlap_keeps_both_copies() {
        let mut d = Defrag::default();
        d.add(Ts(0), 1, key(1), frag(0, true, b"AAAAAAAA"));
        let r = complete(d.add(Ts(0), 1, key(1), frag(4, false, b"BBBBBBBB")));
        assert_eq!(r.data, b"AAAAAAAABBBB".to_vec());
        assert_eq!(r.alt, Some(b"AAAABBBBBBBB".to_vec()));
        let rep = reports(&mut d);
        let c = rep.iter().find(|r| matches!(r.issue, Issue::Conflict { .. })).expect("conflict reported");
        let Issue::Conflict { start, end, kept, new, tcp } = c.issue else { unreachable!() };
        assert_eq!((start, end, kept.as_bytes(), new.as_bytes()), (4, 8, &b"AAAA"[..], &b"BBBB"[..]));
        // Bytes 4..8 of a TCP header: the sequence number.
        assert_eq!(tcp.names().collect::<Vec<_>>(), ["sequence"]);
        // An identical overlap is no conflict and leaves no second reassembly.
        d.add(Ts(0), 1, key(2), frag(0, true, b"AAAAAAAA"));
        let r = complete(d.add(Ts(0), 1, key(2), frag(4, false, b"AAAABBBB")));
        assert_eq!((r.data, r.alt), (b"AAAAAAAABBBB".to_vec(), None));
        assert!(!reports(&mut d).iter().any(|r| matches!(r.issue, Issue::Conflict { .. })));
    }

    #[test]
    fn header_rewrite_names_the_fields() {
        let mut d = Defrag::default();
        let mut hdr = [0u8; 24];
        hdr[2..4].copy_from_slice(&103u16.to_be_bytes());
        hdr[12] = 0x50;
        d.add(Ts(0), 1, key(3), frag(0, true, &hdr));
        let mut later = hdr[..16].to_vec();
        later[2..4].copy_from_slice(&102u16.to_be_bytes());
        later[12] = 0x60;
        later[13] = 0x02;
        // A later fragment at offset 0 overwriting ports, data offset and flags.
        d.add(Ts(0), 1, key(3), frag(0, true, &later));
        let rep = reports(&mut d);
        let Some(Issue::Conflict { tcp, .. }) =
            rep.iter().map(|r| r.issue).find(|i| matches!(i, Issue::Conflict { .. }))
        else {
            panic!("{rep:?}")
        };
        assert_eq!(tcp.names().collect::<Vec<_>>(), ["ports", "data_offset", "flags"]);
        assert_eq!(rep[0].ports, Some((0, 103)), "ports from the first copy");
    }

    #[test]
    fn two_last_fragments_conflict_and_the_first_end_stays() {
        let mut d = Defrag::default();
        d.add(Ts(0), 1, key(4), frag(8, false, b"12345678"));
        d.add(Ts(0), 1, key(4), frag(8, false, b"1234567890ab"));
        let r = complete(d.add(Ts(0), 1, key(4), frag(0, true, &[0u8; 8])));
        assert_eq!(r.data.len(), 16);
        assert_eq!(r.alt.map(|a| a.len()), Some(20), "the last copy ends where the latest last fragment says");
        let rep = reports(&mut d);
        assert!(rep.iter().any(|r| r.issue == Issue::LengthConflict { end_before: 16, end_now: 20 }), "{rep:?}");
    }

    proptest::proptest! {
        /// Against a byte-by-byte model: the first copy wins in `data`, the last
        /// copy in `alt`, differing overlaps are conflicts, the datagram
        /// completes when every byte up to the first last fragment's end is held.
        #[test]
        fn matches_bytewise_model(frags in proptest::collection::vec(
            (0usize..12, 1usize..6, proptest::num::u8::ANY, proptest::bool::ANY), 1..25)) {
            let mut d = Defrag::default();
            let mut first: Vec<Option<u8>> = Vec::new();
            let mut last: Vec<Option<u8>> = Vec::new();
            let mut total: Option<usize> = None;
            let mut last_total: Option<usize> = None;
            for (k, &(slot, len, fill, is_last)) in frags.iter().enumerate() {
                let offset = slot * 8;
                let data: Vec<u8> = (0..len * 4).map(|i| fill.wrapping_add((i % 3) as u8)).collect();
                let end = offset + data.len();
                let r = d.add(Ts(0), 1, key(9), frag(offset, !is_last, &data));
                let conflict = reports(&mut d).iter().any(|r| matches!(r.issue, Issue::Conflict { .. }));
                if first.len() < end {
                    first.resize(end, None);
                    last.resize(end, None);
                }
                let mut want_conflict = false;
                for (i, x) in data.iter().enumerate() {
                    match first[offset + i] {
                        Some(y) => want_conflict |= y != *x,
                        None => first[offset + i] = Some(*x),
                    }
                    last[offset + i] = Some(*x);
                }
                if is_last && total.is_none() {
                    total = Some(end);
                }
                if is_last {
                    last_total = Some(end);
                }
                proptest::prop_assert_eq!(conflict, want_conflict, "fragment {}", k);
                let whole = total.filter(|&t| first.len() >= t && first[..t].iter().all(Option::is_some));
                match (r, whole) {
                    (Added::Complete(got), Some(t)) => {
                        let want: Vec<u8> = first[..t].iter().map(|x| x.unwrap_or(0)).collect();
                        // The last copy ends at the latest last fragment's end, if all there.
                        let at = last_total.unwrap_or(t);
                        let want_alt: Option<Vec<u8>> = (last.len() >= at && last[..at].iter().all(Option::is_some))
                            .then(|| last[..at].iter().map(|x| x.unwrap_or(0)).collect());
                        proptest::prop_assert_eq!(&got.data, &want);
                        match got.alt {
                            Some(a) => proptest::prop_assert_eq!(Some(a), want_alt),
                            None => proptest::prop_assert!(want_alt.is_none() || want_alt == Some(want.clone())),
                        }
                        proptest::prop_assert_eq!(d.held(), 0);
                        return Ok(());
                    }
                    (Added::Pending, None) => {}
                    (r, w) => proptest::prop_assert!(false, "fragment {}: {:?} vs model {:?}", k, r, w),
                }
            }
        }
    }

    #[test]
    fn duplicates_after_completion_are_recognised() {
        let mut d = Defrag::default();
        let r = complete({
            d.add(Ts(0), 1, key(5), frag(0, true, &[1u8; 24]));
            d.add(Ts(0), 2, key(5), frag(24, false, b"end"))
        });
        d.recycle(key(5), Ts(0), r.data);
        assert_eq!(d.add(Ts(0).plus_ms(5), 3, key(5), frag(24, false, b"end")), Added::Pending);
        assert_eq!((d.datagrams(), d.counters.duplicates), (0, 1));
        // Other bytes: a new datagram.
        d.add(Ts(0).plus_ms(6), 4, key(5), frag(24, false, b"END"));
        assert_eq!(d.datagrams(), 1);
        // Too late to be a duplicate.
        d.add(Ts(0).plus_ms(TIMEOUT_MS), 5, key(5), frag(0, true, &[1u8; 24]));
        assert_eq!(d.counters.duplicates, 1);
    }

    #[test]
    fn timeout_grace_and_late_fragments() {
        let mut d = Defrag::default();
        d.add(Ts(0), 1, key(1), frag(0, true, &[0u8; 24]));
        d.sweep(Ts(0).plus_ms(TIMEOUT_MS - 1));
        assert!(reports(&mut d).iter().all(|r| !matches!(r.issue, Issue::Incomplete { .. })));
        d.sweep(Ts(0).plus_ms(TIMEOUT_MS));
        let rep = reports(&mut d);
        assert_eq!(rep.len(), 1);
        assert!(matches!(
            rep[0].issue,
            Issue::Incomplete { held: 24, missing: 0, end_known: false, end_of_capture: false, .. }
        ));
        // Beyond the timeout but within the grace period: reported, and still completes.
        let r = complete(d.add(Ts(0).plus_ms(90_000), 1, key(1), frag(24, false, b"tail")));
        assert!(r.late);
        assert_eq!(r.data.len(), 28);
        let rep = reports(&mut d);
        assert!(matches!(rep[0].issue, Issue::Late { after_ms: 30_000, len: 4, kept: true }), "{rep:?}");
        // After the grace period the bytes are given up; a late fragment is still reported.
        d.add(Ts(0), 1, key(2), frag(0, true, &[0u8; 24]));
        d.sweep(Ts(0).plus_ms(TIMEOUT_MS));
        d.sweep(Ts(0).plus_ms(TIMEOUT_MS + GRACE_MS));
        assert_eq!(d.datagrams(), 0);
        assert_eq!(d.held(), 0);
        reports(&mut d);
        assert_eq!(
            d.add(Ts(0).plus_ms(TIMEOUT_MS + GRACE_MS + 5), 1, key(2), frag(24, false, b"tail")),
            Added::Pending
        );
        let rep = reports(&mut d);
        assert!(matches!(rep[0].issue, Issue::Late { after_ms: 5, kept: false, .. }), "{rep:?}");
        // End of input: what is left is reported.
        d.finish(Ts(0).plus_ms(TIMEOUT_MS + GRACE_MS + 10));
        let rep = reports(&mut d);
        assert!(matches!(rep[0].issue, Issue::Incomplete { held: 4, end_known: true, end_of_capture: true, .. }));
        assert_eq!(d.held(), 0);
    }

    #[test]
    fn caps_are_reported() {
        let mut d = Defrag::default();
        assert_eq!(d.add(Ts(0), 1, key(1), frag(65_530, true, b"0123456789")), Added::Refused);
        assert!(matches!(reports(&mut d)[0].issue, Issue::Refused { len: 10, cap: Cap::DatagramSize }));
        for id in 0..(MAX_DATAGRAMS as u32 + 10) {
            d.add(Ts(i64::from(id)), 1, key(100 + id), frag(8, true, b"z"));
            assert!(d.datagrams() <= MAX_DATAGRAMS);
        }
        let rep = reports(&mut d);
        let dropped: Vec<_> = rep.iter().filter(|r| matches!(r.issue, Issue::Dropped { .. })).collect();
        assert_eq!(dropped.len(), 10, "one per datagram beyond the cap");
        assert_eq!(
            dropped.iter().map(|r| r.key.id).collect::<Vec<_>>(),
            (100..110).collect::<Vec<_>>(),
            "oldest first"
        );
        // Bytes: 8 MiB in 65 000-byte datagrams.
        let mut d = Defrag::default();
        let big = vec![7u8; 64_000];
        for id in 0..200 {
            d.add(Ts(id), 1, key(id as u32), frag(0, true, &big));
            assert!(d.held() <= MAX_TOTAL);
        }
        assert!(reports(&mut d).iter().any(|r| matches!(r.issue, Issue::Dropped { cap: Cap::Bytes, .. })));
    }
}
