//! Per-direction TCP reassembly and TPKT framing.
//!
//! Policy (documented in the README):
//! * **First copy wins.** Bytes already delivered are never replaced. A
//!   retransmission or overlap is compared with the retained history (the last
//!   [`crate::EngineConfig::overlap_history`] bytes); differing bytes are an
//!   `overlap_conflict` finding (an evasion attempt: a target that keeps the
//!   *last* copy would see other bytes than the sensor).
//! * **Out-of-order** segments are copied and held (bounded per direction and
//!   globally) until the hole is filled.
//! * **Gaps.** When the peer acknowledges bytes this direction never showed, or
//!   a hold cap is reached, or the stream closes with data still held, the
//!   missing range is declared lost: a `stream_gap` finding, the partial TPKT
//!   is dropped, and framing resumes at the next plausible TPKT header
//!   (`03 00 len LI code`). The stream is never abandoned.
//! * **Mid-stream start.** The first bytes of a direction seen without its SYN
//!   are scanned for a plausible TPKT header the same way.
//! * **Framing without copies.** A TPKT wholly inside one segment is handed on
//!   as a slice of the packet; only a TPKT split across segments is copied into
//!   a per-direction buffer.

use crate::config::EngineConfig;
use crate::stats::Stats;
use crate::time::Ts;
use s7sentry_proto::tpkt;
use s7sentry_proto::{Finding, FindingKind, Layer};

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
    },
    /// A retransmission carried different bytes than the first copy.
    Conflict {
        /// Offset of the first differing byte within the segment's payload.
        offset: usize,
        /// The segment payload.
        payload: &'a [u8],
    },
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

/// TCP state of one direction.
#[derive(Debug, Default)]
pub struct TcpDir {
    synced: bool,
    next_seq: u32,
    ooo: Vec<Held>,
    ooo_bytes: usize,
    hist: Vec<u8>,
    hist_valid: usize,
    /// Highest acknowledgement number sent by the other direction.
    peer_ack: Option<u32>,
    /// A FIN was seen in this direction.
    pub fin: bool,
    /// The first payload was seen without a SYN (capture started mid-stream).
    pub midstream: bool,
}

impl TcpDir {
    /// Whether the sequence space is known (a SYN or the first payload was seen).
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Bytes currently held (out-of-order and history).
    pub fn held(&self) -> usize {
        self.ooo_bytes + self.hist.capacity()
    }

    /// Record an acknowledgement sent by the *other* direction.
    pub fn peer_acked(&mut self, ack: u32) {
        match self.peer_ack {
            Some(a) if !seq_lt(a, ack) => {}
            _ => self.peer_ack = Some(ack),
        }
    }

    /// A SYN (or SYN-ACK) with initial sequence number `isn`.
    pub fn syn(&mut self, isn: u32) {
        self.synced = true;
        self.next_seq = isn.wrapping_add(1);
        self.ooo.clear();
        self.ooo_bytes = 0;
        self.hist_valid = 0;
        self.midstream = false;
    }

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
        self.hist[..take - first].copy_from_slice(&src[first..]);
        self.hist_valid = (self.hist_valid + data.len()).min(h);
    }

    /// Compare `data` starting at `seq` (all before `next_seq`) with the history.
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

    /// Whether out-of-order data is held and the peer acknowledged bytes this
    /// direction never showed (they were lost from the capture).
    pub fn gap_evident(&self) -> bool {
        !self.ooo.is_empty() && self.peer_ack.is_some_and(|a| seq_lt(self.next_seq, a))
    }

    /// Deliver a segment's payload. `deliver` receives chunks in stream order.
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
        if payload.len() == 1 && (!self.synced || seq == self.next_seq.wrapping_sub(1)) {
            // TCP keep-alive probe: one byte (arbitrary content) just below the
            // next expected sequence number. Not data, and not an overlap conflict.
            if !self.synced {
                self.synced = true;
                self.next_seq = seq.wrapping_add(1);
                self.midstream = true;
            }
            stats.keepalives += 1;
            return true;
        }
        if !self.synced {
            self.synced = true;
            self.next_seq = seq;
            self.midstream = true;
        }
        let rel = seq.wrapping_sub(self.next_seq) as i32;
        if rel > 0 {
            // Future data: hold it.
            stats.ooo_segments += 1;
            let over_cap = self.ooo.len() >= cfg.max_ooo_segments || self.ooo_bytes + payload.len() > cfg.max_ooo_bytes;
            let global = *total_buffered + payload.len() > cfg.max_total_buffered;
            if over_cap {
                stats.ooo_cap_hits += 1;
            }
            if global {
                stats.total_buffer_cap_hits += 1;
            }
            if !over_cap && !global {
                let pos = self.ooo.partition_point(|h| seq_lt(h.seq, seq));
                let held = Held { seq, data: payload.to_vec(), frame: origin.0, ts: origin.1 };
                self.ooo.insert(pos, held);
                self.ooo_bytes += payload.len();
                *total_buffered += payload.len();
            }
            let peer_has_it = self.peer_ack.is_some_and(|a| seq_lt(self.next_seq, a));
            if over_cap || global || peer_has_it {
                self.gap(cfg, stats, total_buffered, deliver);
                if over_cap || global {
                    // The segment itself was not stored: deliver it now if it is next.
                    if self.next_seq == seq || seq_lt(self.next_seq, seq) {
                        if self.next_seq != seq {
                            let lost = seq.wrapping_sub(self.next_seq);
                            stats.gaps += 1;
                            stats.gap_bytes += u64::from(lost);
                            deliver(Chunk::Gap { lost, origin: None }, stats);
                            self.next_seq = seq;
                        }
                        self.accept(cfg, stats, total_buffered, seq, payload, deliver);
                    }
                }
            }
            return false;
        }
        let retrans = self.accept(cfg, stats, total_buffered, seq, payload, deliver);
        if retrans {
            stats.retransmissions += 1;
        }
        retrans
    }

    /// Accept a segment at or before `next_seq`; returns true when nothing was new.
    fn accept<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        seq: u32,
        payload: &[u8],
        deliver: &mut F,
    ) -> bool {
        let overlap = self.next_seq.wrapping_sub(seq) as usize;
        let old = &payload[..overlap.min(payload.len())];
        if let Some(off) = self.conflicts(seq, old) {
            stats.overlap_conflicts += 1;
            deliver(Chunk::Conflict { offset: off, payload }, stats);
        }
        if overlap >= payload.len() {
            return true;
        }
        let new = &payload[overlap..];
        self.remember(cfg, self.next_seq, new);
        self.next_seq = self.next_seq.wrapping_add(new.len() as u32);
        deliver(Chunk::Data(new, None), stats);
        self.drain(cfg, stats, total_buffered, false, deliver);
        false
    }

    /// Deliver held segments that have become contiguous.
    fn drain<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        own_origin: bool,
        deliver: &mut F,
    ) {
        while let Some(h) = self.ooo.first() {
            if seq_lt(self.next_seq, h.seq) {
                break;
            }
            let Held { seq: s, data, frame, ts } = self.ooo.remove(0);
            let origin = own_origin.then_some((frame, ts));
            self.ooo_bytes -= data.len();
            *total_buffered = total_buffered.saturating_sub(data.len());
            let overlap = self.next_seq.wrapping_sub(s) as usize;
            let old = &data[..overlap.min(data.len())];
            if let Some(off) = self.conflicts(s, old) {
                stats.overlap_conflicts += 1;
                deliver(Chunk::Conflict { offset: off, payload: &data }, stats);
            }
            if overlap < data.len() {
                let new = &data[overlap..];
                self.remember(cfg, self.next_seq, new);
                self.next_seq = self.next_seq.wrapping_add(new.len() as u32);
                deliver(Chunk::Data(new, origin), stats);
            }
        }
    }

    /// Declare the bytes up to the first held segment lost, then deliver what is held.
    pub fn gap<F: FnMut(Chunk<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        total_buffered: &mut usize,
        deliver: &mut F,
    ) {
        let Some(h) = self.ooo.first() else { return };
        let s = h.seq;
        let origin = Some((h.frame, h.ts));
        let lost = s.wrapping_sub(self.next_seq);
        if lost > 0 && !seq_lt(s, self.next_seq) {
            stats.gaps += 1;
            stats.gap_bytes += u64::from(lost);
            deliver(Chunk::Gap { lost, origin }, stats);
            self.next_seq = s;
            self.hist_valid = 0;
        }
        self.drain(cfg, stats, total_buffered, true, deliver);
        // Anything still held starts beyond another hole: repeat.
        if !self.ooo.is_empty() {
            self.gap(cfg, stats, total_buffered, deliver);
        }
    }

    /// Release held buffers (flow end).
    pub fn release(&mut self, total_buffered: &mut usize) {
        *total_buffered = total_buffered.saturating_sub(self.ooo_bytes);
        self.ooo = Vec::new();
        self.ooo_bytes = 0;
    }
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

    /// Feed in-order bytes; `out` receives whole TPKTs and header findings.
    pub fn feed<F: FnMut(Framed<'_>, &mut Stats) + ?Sized>(
        &mut self,
        cfg: &EngineConfig,
        stats: &mut Stats,
        data: &[u8],
        out: &mut F,
    ) {
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
