//! Confirmation from the PLC's answers (rule `control.confirmed_without_request`).
//!
//! Whatever an attacker does to a request so that the sensor misses or
//! misreads it — hide it in a capture gap, overlap it with a decoy, split it,
//! give it a layout the parser rejects — the PLC's positive answer travels in
//! the clear and names the function it executed. Each connection keeps a small
//! log of the client's recent requests (PDU reference or sequence number,
//! function, and whether the sensor understood it); a positive answer to a
//! control function (see `classify::s7_confirmed_control` and
//! `classify::plus_confirmed_write`) that pairs with no logged request of the
//! same reference *and* function, or only with one the sensor could not
//! decode, is an alert.
//!
//! A request whose bytes a copy with other bytes overlapped (the stream keeps
//! the first copy; a TTL or checksum decoy that came first wins there, while
//! the PLC executed the other) explains a confirmed control answer only if the
//! sensor recognised that control function in the copy it kept: an
//! S7comm-plus SetVariable whose surviving bytes write something else, answered
//! with success, is an alert (reason `request_overlapped`).
//!
//! On a connection picked up mid-stream (no COTP Connect Request seen) the
//! first answers may answer requests sent before the capture began: answers
//! are judged only once the connection is in step (its CR was seen, or an
//! answer has paired with a logged request), or once the client's direction
//! showed an overlap conflict or bytes the sensor could not decode (an answer
//! no request explains after those is the hidden request's).

use super::catalog::CTL_CONFIRMED;
use super::classify::{plus_confirmed_write, s7_confirmed_control};
use super::ctx::Ctx;
use super::{ev, hex, Category, Core, Raise};
use crate::assets::FunctionKind;
use crate::event::{Direction, Event, Meta};
use s7sentry_proto::cotp::TpduCode;
use s7sentry_proto::s7comm::{Rosctr, S7Pdu};
use s7sentry_proto::s7plus::{Opcode, PlusFrame, PlusFunction};
use s7sentry_proto::{Finding, FindingKind};
use serde_json::{json, Map, Value};

/// What went wrong in the client's direction on one connection (the requests
/// themselves are the connection's transactions, see `txn`).
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    /// Answers are judged (the connection start was seen, or an answer paired).
    synced: bool,
    /// Last frame of a capture gap in the client's direction.
    gap: Option<u64>,
    /// Last frame of an overlap conflict in the client's direction.
    conflict: Option<u64>,
    /// Last frame in the client's direction with bytes the sensor could not decode, and what.
    unparsed: Option<(u64, &'static str)>,
}

/// Why an answer is unexplained.
#[derive(Debug, Clone, Copy)]
enum Why {
    NoRequest,
    NotUnderstood(u64),
    /// The paired request was overlapped by other bytes and is not the control function answered.
    Overlapped(u64),
}

/// Handle one event.
#[inline]
pub(crate) fn on_event(d: &mut Core, cx: &mut Ctx<'_>, e: &Event<'_>) {
    match *e {
        // The connection start was seen: the client's CR, or the PLC's CC (a
        // decoy overlapping the CR hides the CR, not the PLC's answer to it).
        Event::Cotp { meta, cotp }
            if (meta.dir == Direction::ToServer && cotp.code == TpduCode::CR)
                || (meta.dir == Direction::ToClient && cotp.code == TpduCode::CC) =>
        {
            cx.flow().log.synced = true;
        }
        Event::S7 { meta, pdu, raw, .. } if meta.dir == Direction::ToClient => s7_answer(d, cx, &meta, pdu, raw),
        Event::S7Plus { meta, raw, message: Some(m), .. } if meta.dir == Direction::ToClient => {
            plus_answer(d, cx, &meta, m.frame, raw)
        }
        Event::Finding { meta, finding, .. } if meta.dir == Direction::ToServer => client_trouble(cx, &meta, finding),
        _ => {}
    }
}

/// Remember what went wrong in the client's direction.
fn client_trouble(cx: &mut Ctx<'_>, meta: &Meta, f: Finding) {
    let log = &mut cx.flow().log;
    match f.kind {
        FindingKind::StreamGap => log.gap = Some(meta.frame),
        FindingKind::OverlapConflict => log.conflict = Some(meta.frame),
        // Structure the sensor still decoded: not bytes given up on.
        FindingKind::UnexpectedType | FindingKind::TpduTooLong | FindingKind::TrailingBytes => {}
        k => log.unparsed = Some((meta.frame, k.name())),
    }
}

fn s7_answer(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta, pdu: &S7Pdu<'_>, raw: &[u8]) {
    let userdata = match pdu.header.rosctr {
        Rosctr::ACK | Rosctr::ACK_DATA => None,
        Rosctr::USERDATA => match pdu.userdata() {
            Some(u) if !u.is_push() => Some((u.group, u.subfunction)),
            _ => return,
        },
        _ => return,
    };
    let confirmed = s7_confirmed_control(pdu);
    let Some(why) = judge(d, cx, confirmed.is_some()) else { return };
    let Some(kind) = confirmed else { return };
    let (what, detail): (String, Map<String, Value>) = match userdata {
        Some((g, s)) => (
            match kind {
                FunctionKind::MemoryReset => "a memory reset".to_string(),
                FunctionKind::Password => "a password".to_string(),
                FunctionKind::ClockSet => "a clock change".to_string(),
                _ => match super::classify::programmer_command(s) {
                    Some(n) => format!("a programmer command ({n})"),
                    None => "a programmer command".to_string(),
                },
            },
            ev(&[("ud_group", json!(g)), ("ud_subfunction", json!(s))]),
        ),
        _ => (
            match kind {
                FunctionKind::CpuStop => "a CPU STOP (PLC Stop 0x29)".to_string(),
                FunctionKind::BlockDownload => "a block download (Request Download 0x1A)".to_string(),
                FunctionKind::BlockUpload => "a block upload (Start Upload 0x1D)".to_string(),
                _ => "a PI service (0x28: start, delete, copy RAM to ROM, compress, ...)".to_string(),
            },
            ev(&[("pdu_ref", json!(pdu.header.pdu_ref))]),
        ),
    };
    if kind == FunctionKind::CpuStop {
        d.observe_state(meta.server().0, "stop");
        super::baseline::state_change(d, meta.server().0, "stop", meta.client().0, meta.ts);
    }
    raise(d, cx, meta, why, "s7comm", kind.name(), &what, detail, raw);
}

fn plus_answer(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta, m: &PlusFrame<'_>, raw: &[u8]) {
    if !matches!(m.opcode, Some(Opcode::RESPONSE | Opcode::RESPONSE2)) {
        return;
    }
    let Some(seq) = m.seq else { return };
    // An Error response answers whatever request carried its sequence number.
    let error = m.function.is_some_and(|f| matches!(f, PlusFunction::ERROR | PlusFunction::ERROR2));
    let confirmed = !error && plus_confirmed_write(m);
    let Some(why) = judge(d, cx, confirmed) else { return };
    let name = m.function.and_then(|f| f.name()).unwrap_or("write");
    let what = format!("an S7comm-plus {name} (the answer an operating-state write gets)");
    raise(d, cx, meta, why, "s7comm-plus", name, &what, ev(&[("seq", json!(seq))]), raw);
}

/// Judge the answer by the transaction it closed; `Some` when a confirmed
/// control answer is unexplained.
fn judge(d: &mut Core, cx: &mut Ctx<'_>, confirmed: bool) -> Option<Why> {
    let logged = d.closed.map(|c| c.txn);
    let log = &mut cx.flow_if()?.log;
    // Mid-stream, a conflict or undecodable bytes in the client's direction
    // are a request the sensor saw but could not read: judge the answers.
    let synced = log.synced || log.conflict.is_some() || log.unparsed.is_some();
    if logged.is_some() {
        log.synced = true;
    }
    if !confirmed {
        return None;
    }
    match logged {
        Some(l) if l.overlapped && !l.control => Some(Why::Overlapped(l.frame)),
        Some(l) if l.understood => None,
        Some(l) => Some(Why::NotUnderstood(l.frame)),
        None if synced => Some(Why::NoRequest),
        None => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn raise(
    d: &mut Core,
    cx: &mut Ctx<'_>,
    answer: &Meta,
    why: Why,
    layer: &str,
    function: &str,
    what: &str,
    detail: Map<String, Value>,
    raw: &[u8],
) {
    let plc = answer.src;
    let client = answer.dst;
    let mut e = ev(&[("layer", json!(layer)), ("function", json!(function)), ("answer_frame", json!(answer.frame))]);
    e.extend(detail);
    let msg = match why {
        Why::NoRequest => {
            e.insert("reason".into(), json!("no_request"));
            format!("PLC {plc} acknowledged {what} to {client} that no request on the wire explains — possible evasion")
        }
        Why::NotUnderstood(frame) => {
            e.insert("reason".into(), json!("request_not_understood"));
            e.insert("request_frame".into(), json!(frame));
            format!(
                "PLC {plc} acknowledged {what} to {client} whose request (frame {frame}) the sensor could not decode — possible evasion"
            )
        }
        Why::Overlapped(frame) => {
            e.insert("reason".into(), json!("request_overlapped"));
            e.insert("request_frame".into(), json!(frame));
            format!(
                "PLC {plc} acknowledged {what} to {client} whose request (frame {frame}) was overlapped by a copy with other bytes — possible evasion"
            )
        }
    };
    if let Some(log) = cx.flow_if().map(|f| &f.log) {
        if let Some(f) = log.gap {
            e.insert("client_gap_frame".into(), json!(f));
        }
        if let Some(f) = log.conflict {
            e.insert("client_overlap_conflict_frame".into(), json!(f));
        }
        if let Some((f, k)) = log.unparsed {
            e.insert("client_unparsed_frame".into(), json!(f));
            e.insert("client_unparsed".into(), json!(k));
        }
    }
    e.insert("hex".into(), json!(hex(raw)));
    // Reported like the other control operations: client -> PLC, at the answer's frame.
    let m = answer.reversed();
    let category =
        if d.cfg.is_engineering(client) { Category::ControlOperation } else { Category::UnauthorizedControl };
    d.emit(cx, Raise::new(CTL_CONFIRMED, &m, msg, e).category(category));
}

#[cfg(test)]
mod tests;
