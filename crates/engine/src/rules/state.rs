//! Per-connection and per-PLC detection state, and the small types they are
//! made of (rate buckets, pending control operations, suspects).

use super::catalog::RuleId;
use super::{confirm, flood, txn};
use crate::event::Meta;
use crate::time::Ts;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::net::IpAddr;

/// Hasher of the flow table, keyed by the engine's flow ids: numbers the
/// engine hands out in sequence, never chosen by the traffic, so one
/// multiplication spreads them over the buckets (no hash-flooding exposure, a
/// fraction of ahash's cost).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FlowIdHasher(u64);

impl std::hash::Hasher for FlowIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(29) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Counter over fixed windows of `width` seconds.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Bucket {
    window: i64,
    count: u32,
}

impl Bucket {
    /// Count one event at `ts` in windows of `width_s`; returns the count in the current window.
    pub(crate) fn hit(&mut self, ts: Ts, width_s: i64) -> u32 {
        let w = ts.secs().div_euclid(width_s.max(1));
        if w != self.window {
            self.window = w;
            self.count = 0;
        }
        self.count += 1;
        self.count
    }
}

/// A control operation waiting for the PLC's answer (paired through its
/// transaction, see [`txn`]).
#[derive(Debug)]
pub(crate) struct PendingOp {
    /// Id the operation's transaction carries ([`txn::Txn::op`]).
    pub id: u32,
    pub rule: RuleId,
    pub meta: Meta,
    pub message: String,
    pub evidence: Map<String, Value>,
    pub deadline: Ts,
}

/// Per-connection detection state.
#[derive(Debug, Default)]
pub(crate) struct FlowState {
    pub client: Option<(IpAddr, u16)>,
    pub server: Option<(IpAddr, u16)>,
    pub syn: bool,
    pub embryonic: bool,
    pub saw_cr: bool,
    pub saw_cc: bool,
    pub iso_counted: bool,
    pub pdu_size: Option<u16>,
    pub amq: Option<u16>,
    /// Requests waiting for their answers.
    pub txns: txn::Txns,
    pub amq_alerted: bool,
    /// Jobs above the AmQ waiting for the PLC's answers to be judged.
    pub amq_watch: Option<flood::AmqWatch>,
    pub pending: Vec<PendingOp>,
    pub writes: Bucket,
    pub jobs: Bucket,
    pub tls_reported: bool,
    pub engineering_reported: bool,
    pub tis_job_list: bool,
    pub block_list: bool,
    /// What went wrong in the client's direction, for confirmation from the PLC's answers.
    pub log: confirm::RequestLog,
}

/// One suspect packet remembered for loss-of-communication correlation.
#[derive(Debug, Clone)]
pub(crate) struct Suspect {
    pub ts: Ts,
    pub frame: u64,
    pub src: IpAddr,
    pub rule: &'static str,
    pub count: u32,
}

/// Per-PLC detection state.
#[derive(Debug, Default)]
pub(crate) struct PlcState {
    pub answered_ever: bool,
    pub last_answer: Ts,
    pub pending_since: Option<(Ts, u64)>,
    pub tries: u32,
    /// S7-layer requests among them (a SYN-ACK answers only SYNs).
    pub s7_waiting: u32,
    /// SYN-ACKs the PLC sent while S7 requests waited (TCP alive, S7 silent).
    pub syn_acks: u32,
    pub last_client: Option<(IpAddr, u16)>,
    pub clients_trying: Vec<IpAddr>,
    pub outage: Option<(Ts, Ts)>,
    pub suspects: VecDeque<Suspect>,
    pub syn: Bucket,
    pub rst: Bucket,
    pub setup: Bucket,
    pub half_open: u32,
    pub iso_conns: u32,
    pub sources: Vec<SourceState>,
}

/// Per (PLC, source) connection counts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SourceState {
    pub ip: IpAddr,
    pub conns: u32,
    pub new: Bucket,
}

impl PlcState {
    /// The counters of source `ip`; a source forgotten to make room is counted in `evicted`.
    pub(crate) fn source(&mut self, ip: IpAddr, evicted: &mut u64) -> &mut SourceState {
        if let Some(i) = self.sources.iter().position(|s| s.ip == ip) {
            return &mut self.sources[i];
        }
        if self.sources.len() >= MAX_SOURCES_PER_PLC {
            *evicted += 1;
            // Forget the source with the fewest open connections.
            if let Some(i) = (0..self.sources.len()).min_by_key(|&i| self.sources[i].conns) {
                self.sources.swap_remove(i);
            }
        }
        self.sources.push(SourceState { ip, conns: 0, new: Bucket::default() });
        self.sources.last_mut().expect("just pushed")
    }
}

pub(crate) const MAX_SOURCES_PER_PLC: usize = 256;
