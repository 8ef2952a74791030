//! Per-direction TCP reassembly and TPKT framing.
//!
//! Stream policy (the README's "Stream policy" and ARCHITECTURE.md say why):
//! * **First copy wins, everywhere.** Each sequence position takes the byte of
//!   the first segment (in capture order) that carried it: bytes already
//!   delivered are never replaced, a held (out-of-order) segment is never
//!   replaced by a later one with the same or an overlapping range, and
//!   in-order data that runs into held data is cut where the held data starts.
//!   Every overlap is compared (history ring of the last
//!   [`crate::EngineConfig::overlap_history`] delivered bytes, held bytes, the
//!   last invalid-checksum copy); differing bytes are a [`Chunk::Conflict`].
//! * **Out-of-order** segments are held, non-overlapping, sorted (bounded per
//!   direction and globally) until the hole is filled.
//! * **Window.** Data more than [`WINDOW_LIMIT`] away from the next expected
//!   byte is outside any receive window a PLC advertises: it never enters the
//!   stream ([`StreamIssue::OutOfWindow`]).
//! * **Gaps.** A hole is declared lost when the peer acknowledges bytes
//!   beyond it ([`GapCause::PeerAcked`]: capture loss), when a hold cap
//!   forces it ([`GapCause::HoldCap`]), or when the stream closes with data
//!   held ([`GapCause::Unacked`]). The partial TPKT is dropped and framing
//!   resumes at the next plausible header. Bytes that arrive later for a hole
//!   declared lost are a [`StreamIssue::LateFill`], never a retransmission.
//! * **Mid-stream pickup.** A direction seen without its SYN is anchored on
//!   the peer's acknowledgement number (the PLC's `RCV.NXT`); data that
//!   arrives before any acknowledgement is held in arrival order and anchored
//!   when the acknowledgement comes (at the lowest held byte at or below it),
//!   or at close. A 1-byte segment is a keep-alive only exactly one byte below
//!   the next expected byte (or the peer's acknowledgement).
//! * **Framing without copies.** A TPKT wholly inside one segment is handed on
//!   as a slice of the packet; only a TPKT split across segments is copied into
//!   a per-direction buffer.
//!
//! All sequence arithmetic is serial-number arithmetic (RFC 1982): distances
//! are taken with `wrapping_sub` and bounded by [`WINDOW_LIMIT`] before any
//! slice is cut, and every slice is taken with `get`.

use crate::config::EngineConfig;
use crate::stats::Stats;
use crate::time::Ts;
use s7sentry_proto::tpkt;
use s7sentry_proto::{Finding, FindingKind, Layer};

/// Farthest distance (bytes) from the next expected byte at which data is
/// still considered inside the receive window. S7 PLCs advertise a few KiB
/// (at most 64 KiB unscaled); 1 MiB leaves room for window scaling and
/// capture loss. A segment farther away is dropped by the PLC (RFC 9293
/// §3.10.7.4) and never enters the stream.
pub const WINDOW_LIMIT: u32 = 1 << 20;

/// Why bytes were given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapCause {
    /// The peer acknowledged bytes beyond the hole: the PLC got them, the capture did not.
    PeerAcked,
    /// A hold cap (segments, bytes, global) forced the sensor to give up.
    HoldCap,
    /// The stream closed or ended with a hole nobody acknowledged.
    Unacked,
}

impl GapCause {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            GapCause::PeerAcked => "peer_acked",
            GapCause::HoldCap => "hold_cap",
            GapCause::Unacked => "unacked",
        }
    }
}

/// Something the stream layer reports besides data ([`crate::Event::Stream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamIssue {
    /// `lost` bytes were given up.
    Gap {
        /// Bytes never inspected.
        lost: u32,
        /// Why.
        cause: GapCause,
    },
    /// Bytes arrived for a hole the sensor had already declared lost (not inspected).
    LateFill {
        /// Bytes of the segment inside the lost range.
        bytes: u32,
    },
    /// Data far outside the receive window (dropped).
    OutOfWindow {
        /// Payload length.
        len: u32,
        /// Distance from the next expected byte (or the peer's acknowledgement).
        distance: u32,
    },
    /// A segment with an invalid TCP checksum carries bytes other than a valid copy of the same range.
    ChecksumConflict {
        /// Offset of the first differing byte in the invalid copy.
        offset: u32,
        /// Length of the invalid copy.
        len: u32,
    },
    /// A SYN on an established connection, ignored (RFC 5961 §4: challenge ACK).
    SynIgnored {
        /// Its sequence number's distance from the next expected byte.
        distance: u32,
    },
    /// An RST ignored: not exactly at the next expected byte (RFC 5961 §3).
    RstIgnored {
        /// Inside the receive window (the PLC answers with a challenge ACK) or outside.
        in_window: bool,
        /// Distance from the next expected byte.
        distance: u32,
    },
}

/// What the TCP layer hands to the framer.
#[derive(Debug)]
pub enum Chunk<'a> {
    /// The next in-order bytes; `origin` is the (frame, time) of the held
    /// segment they came from when delivered after a gap, `None` when they
    /// belong to the packet being processed.
    Data(&'a [u8], Option<(u64, Ts)>),
    /// `lost` bytes are missing before the next data.
    Gap {
        /// Number of bytes never seen.
        lost: u32,
        /// (frame, time) of the held segment that follows the hole.
        origin: Option<(u64, Ts)>,
        /// Why they were given up.
        cause: GapCause,
    },
    /// A retransmission or overlap carried different bytes than the first copy.
    Conflict {
        /// Offset of the first differing byte within the segment's payload.
        offset: usize,
        /// The segment payload.
        payload: &'a [u8],
    },
    /// Something to report ([`StreamIssue`]), at `origin` (None: the current packet).
    Issue(StreamIssue, Option<(u64, Ts)>),
}

#[inline]
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// An out-of-order segment waiting for the hole before it to fill.
#[derive(Debug)]
struct Held {
    seq: u32,
    data: Vec<u8>,
    frame: u64,
    ts: Ts,
}

/// Checksum validation state of one direction (`checksum-validation: auto`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Checksums {
    /// Nothing valid seen yet: invalid segments are accepted (offload suspected) and counted.
    #[default]
    Learning,
    /// A valid segment was seen: invalid ones never enter the stream.
    Validating,
    /// Only invalid checksums from this host (a capture on the sending host with offload): not validated.
    Offload,
}

/// Consecutive invalid checksums, none valid, after which a direction's host is taken to offload.
pub const OFFLOAD_AFTER: u8 = 8;

/// Recent lost ranges kept per direction (late fills are recognised in them).
const LOST_RING: usize = 4;

/// TCP state of one direction.
#[derive(Debug, Default)]
pub struct TcpDir {
    synced: bool,
    next_seq: u32,
    /// Sequence number of the accepted SYN.
    isn: Option<u32>,
    /// Data was seen since the direction was synchronised.
    data_seen: bool,
    /// Held segments ahead of `next_seq`: sorted, non-overlapping (first copy).
    ooo: Vec<Held>,
    /// Segments seen before the direction is anchored, in arrival order.
    pre: Vec<Held>,
    /// Bytes in `ooo` and `pre`.
    ooo_bytes: usize,
    hist: Vec<u8>,
    hist_valid: usize,
    /// Highest acknowledgement number sent by the other direction.
    peer_ack: Option<u32>,
    /// Recently declared-lost ranges (start, length).
    lost: [(u32, u32); LOST_RING],
    lost_next: usize,
    /// The last invalid-checksum copy (sequence number and bytes).
    bad_seq: u32,
    bad: Vec<u8>,
    /// Held segments are being replayed at anchoring: no hole is judged before all are in.
    replaying: bool,
    /// A FIN was seen in this direction.
    pub fin: bool,
    /// The first payload was seen without a SYN (capture started mid-stream).
    pub midstream: bool,
    /// A SYN ignored on the established connection (RFC 5961), until the peer answers it.
    pub pending_syn: Option<u32>,
    /// Checksum validation state.
    pub checksums: Checksums,
    /// Invalid checksums in a row while learning.
    pub bad_in_row: u8,
}

impl TcpDir {
    /// Whether the sequence space is known (a SYN or the anchor was seen).
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Whether anything of this direction is known (synchronised, acknowledged by the peer, or data held).
    pub fn is_known(&self) -> bool {
        self.synced || self.peer_ack.is_some() || !self.pre.is_empty()
    }

    /// Sequence number of the accepted SYN.
    pub fn isn(&self) -> Option<u32> {
        self.isn
    }

    /// Synchronised by a SYN and nothing since (a SYN the peer has not confirmed).
    pub fn syn_only(&self) -> bool {
        self.synced && self.isn.is_some() && !self.data_seen && self.ooo.is_empty()
    }

    /// Forget a SYN anchor the peer contradicted (a challenge ACK answered an injected SYN).
    pub fn unsync(&mut self) {
        self.synced = false;
        self.isn = None;
    }

    /// Next expected sequence number, when synchronised.
    pub fn next_seq(&self) -> Option<u32> {
        self.synced.then_some(self.next_seq)
    }

    /// Highest acknowledgement the peer sent.
    pub fn peer_ack(&self) -> Option<u32> {
        self.peer_ack
    }

    /// (time, frame) of every segment held: its bytes will be decoded later
    /// under that frame (the engine's alert floor).
    pub fn held_origins(&self) -> impl Iterator<Item = (Ts, u64)> + '_ {
        self.ooo.iter().chain(&self.pre).map(|h| (h.ts, h.frame))
    }

    /// Whether a segment of frame `frame` at `ts` is still held.
    pub fn holds(&self, ts: Ts, frame: u64) -> bool {
        self.ooo.iter().chain(&self.pre).any(|h| h.frame == frame && h.ts == ts)
    }

    /// Bytes currently held (out-of-order and history).
    pub fn held(&self) -> usize {
        self.ooo_bytes + self.hist.capacity() + self.bad.capacity()
    }

    /// Record an acknowledgement sent by the *other* direction.
    pub fn peer_acked(&mut self, ack: u32) {
        match self.peer_ack {
            Some(a) if !seq_lt(a, ack) => {}
            _ => self.peer_ack = Some(ack),
        }
    }

    /// Whether an acknowledgement `ack` from the peer changes nothing here: the
    /// direction is synchronised, holds nothing, waits for no answer to a SYN,
    /// and `ack` is at most the next expected byte (it acknowledges bytes the
    /// sensor saw). Such a pure ACK needs no checksum validation.
    pub fn ack_is_harmless(&self, ack: u32) -> bool {
        self.synced
            && self.pending_syn.is_none()
            && !self.syn_only()
            && self.ooo.is_empty()
            && self.pre.is_empty()
            && self.next_seq.wrapping_sub(ack) <= WINDOW_LIMIT
    }

    /// Whether [`TcpDir::settle`] has work: held data can be anchored, or a hole was acknowledged.
    pub fn needs_settle(&self) -> bool {
        (!self.synced && !self.pre.is_empty() && self.peer_ack.is_some()) || self.gap_evident()
    }

    /// A SYN (or SYN-ACK) with initial sequence number `isn`: a new byte stream.
    pub fn syn(&mut self, isn: u32) {
        self.synced = true;
        self.isn = Some(isn);
        self.next_seq = isn.wrapping_add(1);
        self.data_seen = false;
        self.ooo.clear();
        self.pre.clear();
        self.ooo_bytes = 0;
        self.hist_valid = 0;
        self.midstream = false;
        self.pending_syn = None;
        self.fin = false;
        self.peer_ack = None;
        self.lost = Default::default();
    }

    /// Verdict on an RST with sequence number `seq` (RFC 5961 §3): `None` = accept
    /// (exactly the next expected byte, or nothing known to compare with), else
    /// `Some((in_window, distance))`: ignored.
    pub fn rst_verdict(&self, seq: u32) -> Option<(bool, u32)> {
        let mut refs = [None; 3];
        if self.synced {
            refs[0] = Some(self.next_seq);
            if self.fin {
                refs[1] = Some(self.next_seq.wrapping_add(1));
            }
        }
        refs[2] = self.peer_ack;
        if refs.iter().all(Option::is_none) || refs.contains(&Some(seq)) {
            return None;
        }
        let base = refs[0].or(refs[2]).unwrap_or(seq);
        let d = seq.wrapping_sub(base);
        let dist = d.min(d.wrapping_neg());
        Some((d < WINDOW_LIMIT, dist))
    }

    /// Distance of `seq` from the next expected byte (or the peer's acknowledgement).
    pub fn distance(&self, seq: u32) -> u32 {
        let base = if self.synced { Some(self.next_seq) } else { self.peer_ack };
        base.map_or(0, |b| {
            let d = seq.wrapping_sub(b);
            d.min(d.wrapping_neg())
        })
    }

    #[inline(always)]
    fn remember(&mut self, cfg: &EngineConfig, seq: u32, data: &[u8]) {
        let h = cfg.overlap_history;
        if h == 0 {
            return;
        }
        if self.hist.len() != h {
            self.hist = vec![0; h];
        }
        let take = data.len().min(h);
        let start = data.len() - take;
        let src = &data[start..];
        // Byte k of `src` goes to ring position (seq + start + k) % h: two block copies.
        let at = (seq.wrapping_add(start as u32) as usize) % h;
        let first = (h - at).min(take);
        self.hist[at..at + first].copy_from_slice(&src[..first]);
        if first < take {
            self.hist[..take - first].copy_from_slice(&src[first..]);
        }
        self.hist_valid = (self.hist_valid + data.len()).min(h);
    }

    /// Compare `data` starting at `seq` (the part before `next_seq`) with the history.
    /// Returns the offset of the first differing byte.
    fn conflicts(&self, seq: u32, data: &[u8]) -> Option<usize> {
        let h = self.hist.len();
        if h == 0 || self.hist_valid == 0 {
            return None;
        }
        let oldest = self.next_seq.wrapping_sub(self.hist_valid as u32);
        for (k, b) in data.iter().enumerate() {
            let s = seq.wrapping_add(k as u32);
            if seq_lt(s, oldest) {
                continue;
            }
            if !seq_lt(s, self.next_seq) {
                break;
            }
            if self.hist[s as usize % h] != *b {
                return Some(k);
            }
        }
        None
    }

    /// Compare `data` at `seq` with the held segments it overlaps: offset of the first differing byte.
    fn conflicts_held(&self, seq: u32, data: &[u8]) -> Option<usize> {
        let mut first: Option<usize> = None;
        for h in &self.ooo {
            if let Some(off) = diff_at(seq, data, h.seq, &h.data) {
                first = Some(first.map_or(off, |f| f.min(off)));
            }
        }
        first
    }

    /// Compare a valid copy with the last invalid-checksum copy: a conflict is reported once.
    fn check_bad<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        stats: &mut Stats,
        seq: u32,
        data: &[u8],
        origin: Option<(u64, Ts)>,
        deliver: &mut F,
    ) {
        if self.bad.is_empty() {
            return;
        }
        if let Some(off) = diff_at(self.bad_seq, &self.bad, seq, data) {
            stats.checksum_conflicts += 1;
            let issue = StreamIssue::ChecksumConflict { offset: off as u32, len: self.bad.len() as u32 };
            deliver(Chunk::Issue(issue, origin), stats);
            self.bad.clear();
        }
    }

    /// A segment with an invalid TCP checksum from a host whose checksums are
    /// validated: it never enters the stream; it is compared with the valid
    /// bytes seen (history, held) and kept to compare with a valid copy that
    /// comes later.
    pub fn invalid_copy<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        stats: &mut Stats,
        seq: u32,
        payload: &[u8],
        deliver: &mut F,
    ) {
        stats.checksum_invalid += 1;
        if payload.is_empty() {
            return;
        }
        let mut off = None;
        if self.synced {
            let old = self.next_seq.wrapping_sub(seq) as usize;
            if old <= WINDOW_LIMIT as usize {
                off = self.conflicts(seq, payload.get(..old.min(payload.len())).unwrap_or(&[]));
            }
            if off.is_none() {
                off = self.conflicts_held(seq, payload);
            }
        }
        if let Some(off) = off {
            stats.checksum_conflicts += 1;
            let issue = StreamIssue::ChecksumConflict { offset: off as u32, len: payload.len() as u32 };
            deliver(Chunk::Issue(issue, None), stats);
            return;
        }
        // Keep it (bounded) for a valid copy that may follow.
        let keep = payload.len().min(2048);
        self.bad.clear();
        self.bad.extend_from_slice(&payload[..keep]);
        self.bad_seq = seq;
    }

    /// Whether held data waits and the peer acknowledged bytes this direction
    /// never showed (they were lost from the capture).
    pub fn gap_evident(&self) -> bool {
        self.synced && !self.ooo.is_empty() && self.peer_ack.is_some_and(|a| seq_lt(self.next_seq, a))
    }

    /// Bytes of `[seq, seq + len)` inside a range declared lost.
    fn late_bytes(&self, seq: u32, len: u32) -> u32 {
        let mut n = 0;
        for &(start, l) in &self.lost {
            if l == 0 {
                continue;
            }
            let off = seq.wrapping_sub(start);
            let o = if off < l {
                len.min(l - off)
            } else {
                let off2 = start.wrapping_sub(seq);
                if off2 < len {
                    (len - off2).min(l)
                } else {
                    0
                }
            };
            n = n.max(o);
        }
        n
    }

    fn note_lost(&mut self, start: u32, len: u32) {
        self.lost[self.lost_next] = (start, len);
        self.lost_next = (self.lost_next + 1) % LOST_RING;
    }

    /// Deliver a segment's payload. `deliver` receives chunks in stream order.
    /// Returns true when nothing in it was new (retransmission or keep-alive).
    #[allow(clippy::too_many_arguments)]
    pub fn segment<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        origin: (u64, Ts),
        seq: u32,
        payload: &[u8],
        deliver: &mut F,
    ) -> bool {
        if payload.is_empty() {
            return false;
        }
        if self.synced && seq == self.next_seq && self.ooo.is_empty() && self.bad.is_empty() {
            // The common case, exactly what `ingest` and `accept` do with it:
            // in window, not a keep-alive (one byte *below* `next_seq`), no
            // invalid copy to compare, no overlap with delivered or held bytes,
            // nothing held to drain, not a retransmission.
            self.data_seen = true;
            self.remember(cfg, seq, payload);
            self.next_seq = seq.wrapping_add(payload.len() as u32);
            deliver(Chunk::Data(payload, None), stats);
            return false;
        }
        if !self.synced {
            match self.peer_ack {
                Some(a) => {
                    if payload.len() == 1 && seq == a.wrapping_sub(1) && self.pre.is_empty() {
                        // Keep-alive just below what the peer acknowledged.
                        stats.keepalives += 1;
                        return true;
                    }
                    self.anchor(cfg, stats, total_buffered, a, deliver);
                }
                None => {
                    self.hold_pre(cfg, stats, total_buffered, origin, seq, payload, deliver);
                    return false;
                }
            }
        }
        self.ingest(cfg, stats, total_buffered, origin, false, seq, payload, deliver)
    }

    /// Hold a segment of a direction not anchored yet (arrival order).
    #[allow(clippy::too_many_arguments)]
    fn hold_pre<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        origin: (u64, Ts),
        seq: u32,
        payload: &[u8],
        deliver: &mut F,
    ) {
        stats.ooo_segments += 1;
        if self.over_hold_cap(cfg, stats, *total_buffered, self.pre.len() + 1, payload.len()) {
            // Anchor without an acknowledgement, then take this one in order.
            self.flush(cfg, stats, total_buffered, GapCause::HoldCap, deliver);
            self.ingest(cfg, stats, total_buffered, origin, false, seq, payload, deliver);
            return;
        }
        self.pre.push(Held { seq, data: payload.to_vec(), frame: origin.0, ts: origin.1 });
        self.ooo_bytes += payload.len();
        *total_buffered += payload.len();
    }

    /// Whether holding `bytes` more bytes, for `segments` held segments in all,
    /// would exceed the direction's hold caps (segments, bytes) or the engine's
    /// cap on all buffered bytes; each cap hit is counted.
    fn over_hold_cap(
        &self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: usize,
        segments: usize,
        bytes: usize,
    ) -> bool {
        let over_cap = segments > cfg.max_ooo_segments || self.ooo_bytes + bytes > cfg.max_ooo_bytes;
        let global = total_buffered + bytes > cfg.max_total_buffered;
        if over_cap {
            stats.ooo_cap_hits += 1;
        }
        if global {
            stats.total_buffer_cap_hits += 1;
        }
        over_cap || global
    }

    /// Anchor an unsynchronised direction at `a` (the peer's acknowledgement, or the
    /// first held segment), starting at the lowest held byte at most
    /// [`WINDOW_LIMIT`] below it, and take the held segments in arrival order.
    fn anchor<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        a: u32,
        deliver: &mut F,
    ) {
        let peer = self.peer_ack;
        // One byte just below the peer's ACK is a keep-alive, unless held data
        // ends right where it starts: then it is the last byte of a request
        // split down to one byte (a keep-alive repeats a byte already sent).
        let tail_is_data = peer.is_some_and(|p| {
            let k = p.wrapping_sub(1);
            self.pre.iter().any(|h| !h.data.is_empty() && h.seq.wrapping_add(h.data.len() as u32) == k)
        });
        let keepalive =
            |h: &Held| !tail_is_data && h.data.len() == 1 && peer.is_some_and(|p| h.seq == p.wrapping_sub(1));
        // Start at the lowest held byte from which held data runs without a
        // hole up to `a`; held data below a hole before `a` is old (acknowledged).
        let mut start = a;
        for _ in 0..self.pre.len() {
            let below = self.pre.iter().filter(|h| !keepalive(h)).find(|h| {
                let back = start.wrapping_sub(h.seq);
                back > 0 && back <= h.data.len() as u32 && a.wrapping_sub(h.seq) <= WINDOW_LIMIT
            });
            match below {
                Some(h) => start = h.seq,
                None => break,
            }
        }
        self.synced = true;
        self.next_seq = start;
        self.midstream = true;
        self.hist_valid = 0;
        let pre = std::mem::take(&mut self.pre);
        for h in &pre {
            self.ooo_bytes = self.ooo_bytes.saturating_sub(h.data.len());
            *total_buffered = total_buffered.saturating_sub(h.data.len());
        }
        self.replaying = true;
        for h in &pre {
            if keepalive(h) {
                stats.keepalives += 1;
                continue;
            }
            self.ingest(cfg, stats, total_buffered, (h.frame, h.ts), true, h.seq, &h.data, deliver);
        }
        self.replaying = false;
        let mut pre = pre;
        pre.clear();
        self.pre = pre;
    }

    /// Anchor held data of an unsynchronised direction without an
    /// acknowledgement (close, cap) and declare every hole lost.
    fn flush<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        cause: GapCause,
        deliver: &mut F,
    ) {
        if !self.synced {
            let Some(first) = self.pre.first().map(|h| h.seq) else {
                return;
            };
            let a = self.peer_ack.unwrap_or(first);
            self.anchor(cfg, stats, total_buffered, a, deliver);
        }
        self.gap_until(cfg, stats, total_buffered, cause, None, deliver);
    }

    /// Take a segment of an anchored direction (current packet, or a held one replayed with `own`).
    #[allow(clippy::too_many_arguments)]
    fn ingest<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        origin: (u64, Ts),
        own: bool,
        seq: u32,
        payload: &[u8],
        deliver: &mut F,
    ) -> bool {
        let at = own.then_some(origin);
        let rel = seq.wrapping_sub(self.next_seq);
        let back = rel.wrapping_neg();
        let ahead = !seq_lt(seq, self.next_seq);
        if (ahead && rel > WINDOW_LIMIT) || (!ahead && back > WINDOW_LIMIT.saturating_add(payload.len() as u32)) {
            stats.out_of_window += 1;
            let distance = if ahead { rel } else { back };
            deliver(Chunk::Issue(StreamIssue::OutOfWindow { len: payload.len() as u32, distance }, at), stats);
            return false;
        }
        if payload.len() == 1 && seq == self.next_seq.wrapping_sub(1) {
            // TCP keep-alive probe: one byte (arbitrary content) just below the
            // next expected sequence number. Not data, and not an overlap conflict.
            stats.keepalives += 1;
            return true;
        }
        self.check_bad(stats, seq, payload, at, deliver);
        if ahead && rel > 0 {
            self.hold(cfg, stats, total_buffered, origin, seq, payload, deliver);
            return false;
        }
        let retrans = self.accept(cfg, stats, total_buffered, seq, payload, at, deliver);
        if retrans {
            stats.retransmissions += 1;
        }
        retrans
    }

    /// Hold a segment ahead of `next_seq`: only its bytes not already held
    /// (first copy wins), the overlap compared.
    #[allow(clippy::too_many_arguments)]
    fn hold<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        origin: (u64, Ts),
        seq: u32,
        payload: &[u8],
        deliver: &mut F,
    ) {
        stats.ooo_segments += 1;
        if let Some(off) = self.conflicts_held(seq, payload) {
            stats.overlap_conflicts += 1;
            deliver(Chunk::Conflict { offset: off, payload }, stats);
        }
        // Pieces of [rel0, rel1) (relative to next_seq) not covered by held segments.
        let base = self.next_seq;
        let r0 = seq.wrapping_sub(base);
        let r1 = r0.saturating_add(payload.len() as u32);
        let mut pieces: Vec<(u32, u32)> = Vec::new();
        let mut cur = r0;
        for h in &self.ooo {
            let h0 = h.seq.wrapping_sub(base);
            let h1 = h0.saturating_add(h.data.len() as u32);
            if h1 <= cur {
                continue;
            }
            if h0 >= r1 {
                break;
            }
            if h0 > cur {
                pieces.push((cur, h0.min(r1)));
            }
            cur = cur.max(h1);
            if cur >= r1 {
                break;
            }
        }
        if cur < r1 {
            pieces.push((cur, r1));
        }
        let bytes: usize = pieces.iter().map(|(a, b)| (b - a) as usize).sum();
        if bytes == 0 {
            stats.retransmissions += 1;
            return;
        }
        if self.over_hold_cap(cfg, stats, *total_buffered, self.ooo.len() + pieces.len(), bytes) {
            // Give up the holes before and between what is held, then take this segment.
            self.gap_until(cfg, stats, total_buffered, GapCause::HoldCap, None, deliver);
            if seq_lt(self.next_seq, seq) {
                let lost = seq.wrapping_sub(self.next_seq);
                self.declare_lost(stats, lost, GapCause::HoldCap, Some(origin), deliver);
            }
            self.accept(cfg, stats, total_buffered, seq, payload, Some(origin), deliver);
            return;
        }
        for (a, b) in pieces {
            let Some(data) = payload.get((a - r0) as usize..(b - r0) as usize) else {
                continue;
            };
            let s = base.wrapping_add(a);
            let pos = self.ooo.partition_point(|h| h.seq.wrapping_sub(base) < a);
            self.ooo.insert(pos, Held { seq: s, data: data.to_vec(), frame: origin.0, ts: origin.1 });
            self.ooo_bytes += data.len();
            *total_buffered += data.len();
        }
        if !self.replaying && self.gap_evident() {
            let until = self.peer_ack;
            self.gap_until(cfg, stats, total_buffered, GapCause::PeerAcked, until, deliver);
        }
    }

    /// Declare `lost` bytes from `next_seq` lost and move past them.
    fn declare_lost<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        stats: &mut Stats,
        lost: u32,
        cause: GapCause,
        origin: Option<(u64, Ts)>,
        deliver: &mut F,
    ) {
        if lost == 0 {
            return;
        }
        stats.gaps += 1;
        stats.gap_bytes += u64::from(lost);
        match cause {
            GapCause::PeerAcked => stats.gaps_peer_acked += 1,
            GapCause::HoldCap => stats.gaps_hold_cap += 1,
            GapCause::Unacked => stats.gaps_unacked += 1,
        }
        if cause != GapCause::PeerAcked {
            // A later copy of bytes the peer acknowledged is a retransmission the
            // PLC ignores; of bytes nobody acknowledged, what the PLC may execute.
            self.note_lost(self.next_seq, lost);
        }
        deliver(Chunk::Gap { lost, origin, cause }, stats);
        self.next_seq = self.next_seq.wrapping_add(lost);
        self.hist_valid = 0;
    }

    /// Accept a segment at or before `next_seq`; returns true when nothing was new.
    #[allow(clippy::too_many_arguments)]
    fn accept<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        seq: u32,
        payload: &[u8],
        at: Option<(u64, Ts)>,
        deliver: &mut F,
    ) -> bool {
        let overlap = self.next_seq.wrapping_sub(seq) as usize;
        let old = payload.get(..overlap.min(payload.len())).unwrap_or(&[]);
        let mut late = 0;
        if !old.is_empty() {
            late = self.late_bytes(seq, old.len() as u32);
            if late > 0 {
                stats.late_fill_bytes += u64::from(late);
                deliver(Chunk::Issue(StreamIssue::LateFill { bytes: late }, at), stats);
            }
            if let Some(off) = self.conflicts(seq, old) {
                stats.overlap_conflicts += 1;
                deliver(Chunk::Conflict { offset: off, payload }, stats);
            }
        }
        if overlap >= payload.len() {
            return late == 0;
        }
        // First copy wins over held data: take the bytes up to where held data
        // starts, deliver the held data, then the bytes after it; the bytes that
        // overlap held data are compared (once) and dropped. Each turn delivers
        // at least one byte and one held segment, or ends.
        let mut compared = false;
        loop {
            let at_off = self.next_seq.wrapping_sub(seq) as usize;
            let Some(new) = payload.get(at_off..).filter(|n| !n.is_empty() && at_off <= WINDOW_LIMIT as usize) else {
                break;
            };
            let mut take = new;
            if let Some(h) = self.ooo.first() {
                let room = h.seq.wrapping_sub(self.next_seq) as usize;
                if new.len() > room {
                    if !compared {
                        compared = true;
                        if let Some(off) = self.conflicts_held(self.next_seq, new) {
                            stats.overlap_conflicts += 1;
                            deliver(Chunk::Conflict { offset: off + at_off, payload }, stats);
                        }
                    }
                    take = new.get(..room).unwrap_or(&[]);
                }
            }
            if !take.is_empty() {
                self.data_seen = true;
                self.remember(cfg, self.next_seq, take);
                self.next_seq = self.next_seq.wrapping_add(take.len() as u32);
                deliver(Chunk::Data(take, at), stats);
            }
            let before = self.ooo.len();
            self.drain(cfg, stats, total_buffered, deliver);
            if take.len() == new.len() || self.ooo.len() == before {
                break;
            }
        }
        false
    }

    /// Deliver held segments that have become contiguous. Each turn removes one.
    fn drain<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        deliver: &mut F,
    ) {
        while let Some(h) = self.ooo.first() {
            if seq_lt(self.next_seq, h.seq) {
                break;
            }
            let Held { seq: s, data, frame, ts } = self.ooo.remove(0);
            self.ooo_bytes = self.ooo_bytes.saturating_sub(data.len());
            *total_buffered = total_buffered.saturating_sub(data.len());
            let overlap = self.next_seq.wrapping_sub(s) as usize;
            if let Some(new) = data.get(overlap..).filter(|n| !n.is_empty()) {
                self.data_seen = true;
                self.remember(cfg, self.next_seq, new);
                self.next_seq = self.next_seq.wrapping_add(new.len() as u32);
                deliver(Chunk::Data(new, Some((frame, ts))), stats);
            }
        }
    }

    /// Declare the bytes up to the first held segment lost, then deliver what
    /// is held; repeat for every hole (only holes starting before `until`,
    /// when given). Each turn delivers at least one held segment.
    fn gap_until<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        cause: GapCause,
        until: Option<u32>,
        deliver: &mut F,
    ) {
        self.drain(cfg, stats, total_buffered, deliver);
        while let Some(h) = self.ooo.first() {
            if until.is_some_and(|u| !seq_lt(self.next_seq, u)) {
                break;
            }
            let (mut s, origin) = (h.seq, Some((h.frame, h.ts)));
            let mut partial = false;
            if let Some(u) = until.filter(|u| seq_lt(*u, s)) {
                // Only the acknowledged part of the hole is proven lost.
                s = u;
                partial = true;
            }
            let lost = s.wrapping_sub(self.next_seq);
            // Graded per hole: acknowledged by the peer, unless a cap forced it.
            let c = match cause {
                GapCause::HoldCap => GapCause::HoldCap,
                _ if self.peer_ack.is_some_and(|a| !seq_lt(a, s)) => GapCause::PeerAcked,
                _ => GapCause::Unacked,
            };
            let before = self.ooo.len();
            self.declare_lost(stats, lost, c, origin, deliver);
            if partial {
                break;
            }
            self.drain(cfg, stats, total_buffered, deliver);
            if self.ooo.len() >= before {
                // Cannot happen (the hole ended at the first held segment); never loop on it.
                let h = self.ooo.remove(0);
                self.ooo_bytes = self.ooo_bytes.saturating_sub(h.data.len());
                *total_buffered = total_buffered.saturating_sub(h.data.len());
            }
        }
    }

    /// Declare every hole lost and deliver everything held (close, end of flow).
    pub fn gap<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        deliver: &mut F,
    ) {
        self.flush(cfg, stats, total_buffered, GapCause::Unacked, deliver);
    }

    /// Anchor held data on the peer's acknowledgement, and give up holes it acknowledged.
    pub fn settle<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        deliver: &mut F,
    ) {
        if !self.synced {
            if let Some(a) = self.peer_ack.filter(|_| !self.pre.is_empty()) {
                self.anchor(cfg, stats, total_buffered, a, deliver);
            }
        }
        if self.gap_evident() {
            let until = self.peer_ack;
            self.gap_until(cfg, stats, total_buffered, GapCause::PeerAcked, until, deliver);
        }
    }

    /// Back to [`TcpDir::default`] (a removed flow's slot, for the next flow).
    /// A direction that owns no buffer (one that saw only a SYN or ACKs) has
    /// its fields written in place; otherwise it is replaced and its buffers
    /// are freed.
    pub fn clear(&mut self) {
        if self.ooo.capacity() | self.pre.capacity() | self.hist.capacity() | self.bad.capacity() != 0 {
            *self = TcpDir::default();
            return;
        }
        // Every field is named: a new field must be reset here too.
        let TcpDir {
            synced,
            next_seq,
            isn,
            data_seen,
            ooo: _,
            pre: _,
            ooo_bytes,
            hist: _,
            hist_valid,
            peer_ack,
            lost,
            lost_next,
            bad_seq,
            bad: _,
            replaying,
            fin,
            midstream,
            pending_syn,
            checksums,
            bad_in_row,
        } = self;
        *synced = false;
        *next_seq = 0;
        *isn = None;
        *data_seen = false;
        *ooo_bytes = 0;
        *hist_valid = 0;
        *peer_ack = None;
        *lost = [(0, 0); LOST_RING];
        *lost_next = 0;
        *bad_seq = 0;
        *replaying = false;
        *fin = false;
        *midstream = false;
        *pending_syn = None;
        *checksums = Checksums::default();
        *bad_in_row = 0;
    }

    /// Release held buffers (flow end).
    pub fn release(&mut self, total_buffered: &mut usize) {
        *total_buffered = total_buffered.saturating_sub(self.ooo_bytes);
        self.ooo = Vec::new();
        self.pre = Vec::new();
        self.bad = Vec::new();
        self.ooo_bytes = 0;
    }
}

/// Offset in `a` (at `sa`) of the first byte that differs from `b` (at `sb`)
/// where the two ranges overlap. Distances beyond [`WINDOW_LIMIT`] do not overlap.
fn diff_at(sa: u32, a: &[u8], sb: u32, b: &[u8]) -> Option<usize> {
    let d = sb.wrapping_sub(sa);
    let (ia, ib) = if d <= WINDOW_LIMIT {
        (d as usize, 0usize)
    } else {
        let back = d.wrapping_neg();
        if back > WINDOW_LIMIT {
            return None;
        }
        (0, back as usize)
    };
    let xa = a.get(ia..)?;
    let xb = b.get(ib..)?;
    xa.iter().zip(xb).position(|(x, y)| x != y).map(|k| ia + k)
}

/// What the framer hands on.
#[derive(Debug)]
pub enum Framed<'a> {
    /// One whole TPKT (header included).
    Tpkt(&'a [u8]),
    /// A TPKT header violation: the reserved byte (framing goes on), or a version
    /// or length that cannot start a TPKT (framing resumes at the next plausible header).
    Bad(Finding, &'a [u8]),
}

/// TPKT framing state of one direction.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    hunting: bool,
}

impl Framer {
    /// Bytes currently held.
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// Whether an unfinished TPKT is held (aligned on a header).
    pub fn has_partial(&self) -> bool {
        !self.hunting && !self.buf.is_empty()
    }

    /// Forget partial data and hunt for the next header (after a gap or at mid-stream start).
    pub fn resync(&mut self) {
        self.buf.clear();
        self.hunting = true;
    }

    /// Start of a new byte stream (SYN): aligned.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.hunting = false;
    }

    /// Release buffers (flow end).
    pub fn release(&mut self) {
        self.buf = Vec::new();
    }

    /// Back to [`Framer::default`]: the buffer is freed (nothing to free when
    /// it never held a byte).
    pub fn clear(&mut self) {
        if self.buf.capacity() != 0 {
            self.buf = Vec::new();
        }
        self.hunting = false;
    }

    /// Feed in-order bytes; `out` receives whole TPKTs and header findings.
    pub fn feed<F: FnMut(Framed<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        data: &[u8],
        out: &mut F,
    ) {
        // The common case, nothing pending and the bytes one whole, clean TPKT
        // (version 3, reserved 0, its length the bytes given): exactly what
        // `run` does with it, without the loop.
        if self.buf.is_empty() && !self.hunting {
            if let [tpkt::VERSION, 0, hi, lo, ..] = *data {
                let n = usize::from(u16::from_be_bytes([hi, lo]));
                if n == data.len() && n >= usize::from(tpkt::MIN_LEN) {
                    stats.tpkts += 1;
                    out(Framed::Tpkt(data), stats);
                    return;
                }
            }
        }
        let mut data = data;
        // Complete a pending aligned TPKT with exactly the bytes it still needs.
        while !self.buf.is_empty() && !self.hunting && !data.is_empty() {
            let need = if self.buf.len() < tpkt::HEADER_LEN {
                tpkt::HEADER_LEN - self.buf.len()
            } else {
                let len = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
                len.saturating_sub(self.buf.len())
            };
            let take = need.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() < tpkt::HEADER_LEN {
                return;
            }
            match tpkt::parse_tpkt(&self.buf) {
                Ok((_, t)) => {
                    stats.tpkts += 1;
                    if let Some(f) = t.header.lint() {
                        out(Framed::Bad(f, &self.buf[..tpkt::HEADER_LEN]), stats);
                    }
                    out(Framed::Tpkt(&self.buf), stats);
                    self.buf.clear();
                }
                Err(nom::Err::Incomplete(_)) => {
                    if data.is_empty() {
                        return;
                    }
                }
                Err(nom::Err::Failure(f)) | Err(nom::Err::Error(f)) => {
                    out(Framed::Bad(f, &self.buf), stats);
                    // Hunt from the byte after the bad header start.
                    self.buf.remove(0);
                    self.hunting = true;
                }
            }
        }
        if self.hunting && !self.buf.is_empty() {
            // Hunt over buffered + new bytes (copying: only after a gap or violation).
            if self.buf.len() + data.len() > cfg.max_tpkt_buffer {
                stats.tpkt_buffer_cap_hits += 1;
                let keep = 5.min(self.buf.len());
                let drop = self.buf.len() - keep;
                stats.resync_bytes += drop as u64;
                self.buf.drain(..drop);
            }
            self.buf.extend_from_slice(data);
            let buf = std::mem::take(&mut self.buf);
            let used = self.run(cfg, stats, &buf, out);
            self.buf = buf;
            if used > 0 {
                self.buf.drain(..used);
            }
            if !self.hunting && !self.buf.is_empty() {
                // The rest is an aligned partial TPKT: nothing more to do until more bytes come.
            }
            return;
        }
        if data.is_empty() {
            return;
        }
        let used = self.run(cfg, stats, data, out);
        let rest = &data[used..];
        if !rest.is_empty() {
            if rest.len() > cfg.max_tpkt_buffer {
                stats.tpkt_buffer_cap_hits += 1;
                self.resync();
                return;
            }
            self.buf.extend_from_slice(rest);
        }
    }

    /// Frame as much of `s` as possible; returns bytes consumed (the rest is a
    /// partial TPKT or too short to judge a header).
    fn run<F: FnMut(Framed<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        s: &[u8],
        out: &mut F,
    ) -> usize {
        let mut pos = 0;
        loop {
            let rest = &s[pos..];
            if rest.is_empty() {
                return pos;
            }
            if self.hunting {
                let max = u16::try_from(cfg.max_tpkt_buffer).unwrap_or(u16::MAX);
                let mut k = 0;
                while k + 6 <= rest.len() && !tpkt::plausible_start(&rest[k..], max) {
                    k += 1;
                }
                if k + 6 > rest.len() {
                    // Not decidable yet: keep the last bytes (a header may straddle).
                    let keep_from = rest.len().saturating_sub(5);
                    stats.resync_bytes += keep_from as u64;
                    return pos + keep_from;
                }
                stats.resync_bytes += k as u64;
                pos += k;
                self.hunting = false;
                continue;
            }
            match tpkt::parse_tpkt(rest) {
                Ok((after, t)) => {
                    let n = rest.len() - after.len();
                    stats.tpkts += 1;
                    if let Some(f) = t.header.lint() {
                        out(Framed::Bad(f, &rest[..tpkt::HEADER_LEN]), stats);
                    }
                    out(Framed::Tpkt(&rest[..n]), stats);
                    pos += n;
                }
                Err(nom::Err::Incomplete(_)) => return pos,
                Err(nom::Err::Failure(f)) | Err(nom::Err::Error(f)) => {
                    out(Framed::Bad(f, &rest[..rest.len().min(4)]), stats);
                    self.hunting = true;
                    pos += 1;
                }
            }
        }
    }
}

#[inline]
pub(crate) fn gap_finding(lost: u32) -> Finding {
    {
        let _ = lost;
        Finding::new(Layer::Tcp, FindingKind::StreamGap, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment handed to the framer whole with nothing pending (the fast
    /// path) gives the same TPKTs, findings, count and state as the same bytes
    /// after a first byte held back (the general path).
    #[test]
    fn whole_tpkt_fast_path_matches_general_path() {
        let cfg = EngineConfig::default();
        let cases: [&[u8]; 6] = [
            b"\x03\x00\x00\x07\x02\xf0\x80",
            b"\x03\x01\x00\x07\x02\xf0\x80",
            b"\x03\x00\x00\x04",
            b"\x03\x00\x00\x06\x02\xf0",
            b"\x03\x00\x00\x07\x02\xf0\x80\x03\x00\x00\x07\x02\xf0\x80",
            b"\x03\x00\x00\x09\x02\xf0\x80",
        ];
        for c in cases {
            let run = |split: usize| {
                let mut fr = Framer::default();
                let mut stats = Stats::default();
                let mut got = Vec::new();
                let mut out = |f: Framed<'_>, _: &mut Stats| {
                    got.push(match f {
                        Framed::Tpkt(t) => format!("tpkt {t:02x?}"),
                        Framed::Bad(f, b) => format!("bad {f:?} {b:02x?}"),
                    })
                };
                fr.feed(&cfg, &mut stats, &c[..split], &mut out);
                fr.feed(&cfg, &mut stats, &c[split..], &mut out);
                (got, stats.tpkts, stats.resync_bytes, fr.buf.clone(), fr.hunting)
            };
            assert_eq!(run(0), run(1), "{c:02x?}");
        }
    }

    /// The ring copy in `remember` puts byte k of a segment at (seq + k) % h,
    /// like a byte-by-byte loop would, across the end of the ring and of the
    /// sequence space.
    #[test]
    fn history_ring_matches_bytewise_copy() {
        for h in [1usize, 7, 64, 2048] {
            let cfg = EngineConfig { overlap_history: h, ..EngineConfig::default() };
            for seq in [0u32, 5, u32::MAX - 3, 4093] {
                for len in [0usize, 1, 3, h - 1, h, h + 5] {
                    let data: Vec<u8> = (0..len).map(|k| (k * 7 + 3) as u8).collect();
                    let mut d = TcpDir { hist: (0..h).map(|k| k as u8 ^ 0x55).collect(), ..TcpDir::default() };
                    let mut want = d.hist.clone();
                    let start = len - len.min(h);
                    let base = seq.wrapping_add(start as u32) as usize;
                    for (k, b) in data[start..].iter().enumerate() {
                        want[(base + k) % h] = *b;
                    }
                    d.remember(&cfg, seq, &data);
                    assert_eq!(d.hist, want, "h {h} seq {seq} len {len}");
                }
            }
        }
    }
}
