//! Transactions: the one place where a client's request is paired with the
//! PLC's answer (after Suricata's parser / state / detect split: a protocol's
//! transactions live per flow, are capped, and hitting the cap is counted).
//!
//! A transaction opens on a request and closes on the answer that pairs with
//! it (see [`PairKey`]):
//! - S7comm Job -> Ack / Ack_Data with the same PDU reference and function;
//! - S7comm userdata request -> response of the same group and subfunction;
//! - S7comm-plus request -> response with the same sequence number and
//!   function (an Error response pairs any request of its sequence number);
//! - COTP CR -> CC.
//!
//! The detector calls [`on_event`] once per event before any rule family (a
//! TCP segment, which opens and closes nothing, only clears [`Core::closed`]); a
//! transaction closed by the event is left in [`Core::closed`] for the
//! families of the same event to read (control: the outcome of a pending
//! operation; confirm: whether the answer explains a request; flood and the
//! metrics: latency). Nobody else pairs requests with answers.

use super::ctx::Ctx;
use super::{Core, FlowState};
use crate::event::{Direction, Event, Meta};
use crate::time::Ts;
use s7sentry_proto::cotp::TpduCode;
use s7sentry_proto::s7comm::{codes::ErrorCode, Rosctr};
use s7sentry_proto::s7plus::{Opcode, PlusFunction};
use s7sentry_proto::FindingKind;

/// Open transactions kept per connection (the oldest is forgotten first, and
/// counted in [`super::Detector::caps`]). Far more than the jobs a PLC lets a client
/// have outstanding (AmQ) and than the control operations waiting for answers.
pub(crate) const MAX_TXNS_PER_FLOW: usize = 64;

/// How a request is paired with its answer: by PDU reference (sequence
/// number) *and* function, so that a decoy request with the same reference but
/// another function does not explain an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PairKey {
    /// S7comm Job -> Ack/Ack_Data with the same PDU reference and function (an
    /// Ack without parameter carries no function and pairs on the reference).
    Job(u16, Option<u8>),
    /// S7comm userdata request -> response of the same group and subfunction.
    Userdata(u8, u8),
    /// S7comm-plus request -> response with the same sequence number and function.
    Plus(u16, Option<u16>),
    /// COTP Connect Request -> Connect Confirm.
    Connect,
}

impl PairKey {
    /// Whether an answer with key `self` answers the request with key `request`.
    pub(crate) fn answers(self, request: PairKey) -> bool {
        match (self, request) {
            (PairKey::Job(a, fa), PairKey::Job(r, fr)) => a == r && (fa.is_none() || fa == fr),
            (PairKey::Userdata(g, s), PairKey::Userdata(rg, rs)) => g == rg && s == rs,
            (PairKey::Plus(a, fa), PairKey::Plus(r, fr)) => a == r && (fa.is_none() || fa == fr),
            (PairKey::Connect, PairKey::Connect) => true,
            _ => false,
        }
    }
}

/// What the PLC answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// S7comm answer: the error code, if any.
    S7(Option<ErrorCode>),
    /// S7comm userdata response that is not a response by its type nibble
    /// (paired, but not an answer a control operation accepts).
    S7NotResponse,
    /// S7comm-plus response: its return value, if decoded.
    Plus(Option<u64>),
    /// S7comm-plus Error response (its function code).
    PlusError(u16),
    /// COTP Connect Confirm.
    Connected,
}

/// One open transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Txn {
    pub key: PairKey,
    /// Request time and frame.
    pub ts: Ts,
    pub frame: u64,
    /// The sensor decoded what the request does.
    pub understood: bool,
    /// The sensor recognised in the request the control function a positive
    /// answer names: every understood S7comm request (its answer pairs on the
    /// function, group and subfunction), an S7comm-plus operating-state write.
    pub control: bool,
    /// A copy with other bytes overlapped the request's bytes in the client's
    /// direction (the stream kept the first copy; the PLC may have executed the other).
    pub overlapped: bool,
    /// A control operation waits for this answer (id of the pending operation).
    pub op: Option<u32>,
}

/// A transaction closed by the current event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closed {
    pub txn: Txn,
    pub outcome: Outcome,
    /// Answer time minus request time (s, >= 0).
    pub latency: f64,
}

/// The open transactions of one connection.
#[derive(Debug, Default)]
pub(crate) struct Txns {
    open: Vec<Txn>,
    /// Jobs opened before this time are not counted as outstanding (their
    /// answers may have been lost in a capture gap).
    counted_since: Ts,
    /// A client-direction overlap conflict not yet attributed to a request
    /// (the next request opened carries it).
    conflict_pending: bool,
}

impl Txns {
    /// Open a transaction; returns whether the oldest one had to be forgotten.
    fn open(&mut self, mut t: Txn) -> bool {
        t.overlapped |= std::mem::take(&mut self.conflict_pending);
        let full = self.open.len() >= MAX_TXNS_PER_FLOW;
        if full {
            self.open.remove(0);
        }
        self.open.push(t);
        full
    }

    /// Close the most recent transaction `answer` answers.
    fn close(&mut self, answer: PairKey) -> Option<Txn> {
        let i = self.open.iter().rposition(|t| answer.answers(t.key))?;
        Some(self.open.remove(i))
    }

    /// Mark the most recently opened transaction as awaited by control operation `op`.
    pub(crate) fn await_last(&mut self, key: PairKey, op: u32) -> bool {
        match self.open.last_mut() {
            Some(t) if t.key == key => {
                t.op = Some(op);
                true
            }
            _ => false,
        }
    }

    /// S7comm jobs waiting for an answer, opened at or after `since` (and after the last gap).
    pub(crate) fn outstanding_jobs(&self, since: Ts) -> u32 {
        let since = since.max(self.counted_since);
        self.open.iter().filter(|t| matches!(t.key, PairKey::Job(..)) && t.ts >= since).count() as u32
    }

    /// An overlap conflict in the client's direction: it concerns the request
    /// being received (the next one opened) or, when the other copy came after
    /// the request was decoded, the request opened last.
    fn conflict(&mut self) {
        self.conflict_pending = true;
        if let Some(t) = self.open.last_mut() {
            t.overlapped = true;
        }
    }

    /// A capture gap: answers may have been lost with it, so the jobs open now
    /// are no longer counted as outstanding (they still pair if answered).
    pub(crate) fn gap(&mut self, now: Ts) {
        self.counted_since = Ts(now.0.saturating_add(1));
    }
}

#[inline]
fn open(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta, key: PairKey, understood: bool, control: bool) {
    let f: &mut FlowState = cx.flow();
    let t = Txn { key, ts: meta.ts, frame: meta.frame, understood, control, overlapped: false, op: None };
    if f.txns.open(t) {
        d.caps[super::Cap::TransactionsPerFlow] += 1;
    }
}

#[inline]
fn close(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta, key: PairKey, outcome: Outcome) {
    let Some(f) = cx.flow_if() else { return };
    if let Some(txn) = f.txns.close(key) {
        let latency = meta.ts.secs_since(txn.ts).max(0.0);
        d.closed = Some(Closed { txn, outcome, latency });
    }
}

/// Open or close the transaction `e` starts or ends; sets [`Core::closed`].
pub(crate) fn on_event(d: &mut Core, cx: &mut Ctx<'_>, e: &Event<'_>) {
    d.closed = None;
    match *e {
        Event::Cotp { meta, cotp } => match (meta.dir, cotp.code) {
            (Direction::ToServer, TpduCode::CR) => open(d, cx, &meta, PairKey::Connect, true, false),
            (Direction::ToClient, TpduCode::CC) => close(d, cx, &meta, PairKey::Connect, Outcome::Connected),
            _ => {}
        },
        Event::S7 { meta, pdu, .. } => match meta.dir {
            Direction::ToServer => {
                let key = match pdu.header.rosctr {
                    Rosctr::JOB => PairKey::Job(pdu.header.pdu_ref, pdu.function().map(|f| f.0)),
                    Rosctr::USERDATA => match pdu.userdata() {
                        Some(u) => PairKey::Userdata(u.group, u.subfunction),
                        None => return,
                    },
                    _ => return,
                };
                let understood = d.s7_kind.is_some();
                open(d, cx, &meta, key, understood, understood);
            }
            Direction::ToClient => match pdu.header.rosctr {
                Rosctr::ACK | Rosctr::ACK_DATA => {
                    let key = PairKey::Job(pdu.header.pdu_ref, pdu.function().map(|f| f.0));
                    close(d, cx, &meta, key, Outcome::S7(pdu.error_code()));
                }
                Rosctr::USERDATA => match pdu.userdata() {
                    Some(u) if !u.is_push() => {
                        let outcome = if u.is_response() { Outcome::S7(u.error()) } else { Outcome::S7NotResponse };
                        close(d, cx, &meta, PairKey::Userdata(u.group, u.subfunction), outcome);
                    }
                    _ => {}
                },
                _ => {}
            },
        },
        Event::S7Plus { meta, frame, message, .. } => {
            // A first fragment opens a transaction the sensor did not understand;
            // the whole message, when it completes, opens one after it that pairs first.
            let (m, understood) = match message {
                Some(m) => (m.frame, super::classify::plus_request_understood(m.frame, m.truncated)),
                None => (frame, false),
            };
            let control = message.is_some()
                && super::classify::plus_request_function(m) == Some(crate::assets::FunctionKind::S7plusOperatingState);
            let Some(seq) = m.seq else { return };
            match meta.dir {
                Direction::ToServer if m.opcode == Some(Opcode::REQUEST) => {
                    open(d, cx, &meta, PairKey::Plus(seq, m.function.map(|f| f.0)), understood, control)
                }
                Direction::ToClient
                    if message.is_some() && matches!(m.opcode, Some(Opcode::RESPONSE | Opcode::RESPONSE2)) =>
                {
                    // An Error response answers whatever request carried its sequence number.
                    match m.function.filter(|f| matches!(*f, PlusFunction::ERROR | PlusFunction::ERROR2)) {
                        Some(f) => close(d, cx, &meta, PairKey::Plus(seq, None), Outcome::PlusError(f.0)),
                        None => close(
                            d,
                            cx,
                            &meta,
                            PairKey::Plus(seq, m.function.map(|f| f.0)),
                            Outcome::Plus(m.return_value()),
                        ),
                    }
                }
                _ => {}
            }
        }
        Event::Finding { meta, finding, .. }
            if meta.dir == Direction::ToServer && finding.kind == FindingKind::OverlapConflict =>
        {
            cx.flow().txns.conflict();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(key: PairKey, ms: i64) -> Txn {
        Txn {
            key,
            ts: Ts(ms * 1_000_000),
            frame: ms as u64,
            understood: true,
            control: true,
            overlapped: false,
            op: None,
        }
    }

    #[test]
    fn pairs_most_recent_matching_request() {
        let mut t = Txns::default();
        t.open(txn(PairKey::Job(7, Some(0x04)), 1));
        t.open(txn(PairKey::Job(7, Some(0x29)), 2));
        t.open(txn(PairKey::Job(8, Some(0x04)), 3));
        // Same reference, other function: a decoy does not explain the answer.
        assert_eq!(t.close(PairKey::Job(7, Some(0x04))).map(|x| x.frame), Some(1));
        // An Ack without parameter pairs on the reference.
        assert_eq!(t.close(PairKey::Job(7, None)).map(|x| x.frame), Some(2));
        assert!(t.close(PairKey::Job(7, None)).is_none());
        assert_eq!(t.outstanding_jobs(Ts(0)), 1);
        assert!(t.close(PairKey::Connect).is_none());
    }

    #[test]
    fn cap_forgets_oldest_and_says_so() {
        let mut t = Txns::default();
        for i in 0..MAX_TXNS_PER_FLOW as i64 {
            assert!(!t.open(txn(PairKey::Job(i as u16, Some(4)), i)));
        }
        assert!(t.open(txn(PairKey::Job(999, Some(4)), 100)));
        assert!(t.close(PairKey::Job(0, Some(4))).is_none());
        assert_eq!(t.outstanding_jobs(Ts(0)), MAX_TXNS_PER_FLOW as u32);
    }

    #[test]
    fn gap_stops_counting_but_still_pairs() {
        let mut t = Txns::default();
        t.open(txn(PairKey::Job(1, Some(4)), 1));
        t.gap(Ts(5_000_000));
        assert_eq!(t.outstanding_jobs(Ts(0)), 0);
        t.open(txn(PairKey::Job(2, Some(4)), 6));
        assert_eq!(t.outstanding_jobs(Ts(0)), 1);
        assert!(t.close(PairKey::Job(1, Some(4))).is_some());
    }

    #[test]
    fn plus_error_pairs_any_function_of_its_sequence() {
        let mut t = Txns::default();
        t.open(txn(PairKey::Plus(3, Some(0x0542)), 1));
        assert!(t.close(PairKey::Plus(3, Some(0x054c))).is_none());
        assert!(t.close(PairKey::Plus(3, None)).is_some());
    }
}
