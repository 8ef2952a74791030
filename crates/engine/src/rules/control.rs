//! Family `control`: operations that stop, start, reprogram or reconfigure a
//! PLC. From a host that is not a configured engineering station they are
//! `unauthorized_control`; from an engineering station the same operation is a
//! `control_operation` record (severity info): an audit trail, never an alarm.
//!
//! Each operation waits for the PLC's answer (paired by PDU reference,
//! userdata group/subfunction, or S7comm-plus sequence number) so the alert
//! says whether it succeeded, failed (with the PLC's error) or went unanswered.

use super::catalog::*;
use super::classify::{
    cotp_function, is_block_list, is_job_list_query, plus_program_change, plus_request_function, programmer_command,
};
use super::ctx::{Ctx, FlowTable, PlcLookup, PlcTable};
use super::txn::{Outcome, PairKey};
use super::{ev, hex, Category, Core, PendingOp, Raise, MAX_PENDING_OPS};
use crate::assets::FunctionKind;
use crate::event::{Direction, Event, Meta};
use crate::time::Ts;
use s7sentry_proto::s7comm::{codes::ErrorCode, Function, PiLayout, Rosctr, S7Pdu};
use s7sentry_proto::s7plus::{Opcode, PlusFrame, PlusWrite};
use serde_json::{json, Map, Value};

/// `OB1`, `DB10`, ... (type as STEP 7 names it, then the number).
fn block_str(b: &s7sentry_proto::s7comm::BlockName) -> String {
    let t = b.block_type.name().map(str::to_string).unwrap_or_else(|| format!("0x{:04x}", b.block_type.0));
    match b.number {
        Some(n) => format!("{t}{n}"),
        None => t,
    }
}

fn category_for(d: &Core, client: std::net::IpAddr) -> Category {
    if d.cfg.is_engineering(client) {
        Category::ControlOperation
    } else {
        Category::UnauthorizedControl
    }
}

fn who(d: &Core, meta: &Meta) -> &'static str {
    if d.cfg.is_engineering(meta.client().0) {
        "engineering station"
    } else {
        "non-engineering host"
    }
}

/// Queue an operation until the PLC answers: it waits on the transaction its
/// request just opened (see `txn`).
fn pend(
    d: &mut Core,
    cx: &mut Ctx<'_>,
    rule: RuleId,
    key: PairKey,
    meta: &Meta,
    message: String,
    evidence: Map<String, Value>,
) {
    let deadline = meta.ts.plus_ms(d.cfg.thresholds.confirm_timeout_ms);
    let id = d.next_op;
    d.next_op = d.next_op.wrapping_add(1);
    let f = cx.flow();
    f.txns.await_last(key, id);
    let op = PendingOp { id, rule, meta: *meta, message, evidence, deadline };
    if f.pending.len() >= MAX_PENDING_OPS {
        let old = f.pending.remove(0);
        d.caps[super::Cap::PendingOperations] += 1;
        finalize(d, cx, old, "unconfirmed (too many operations waiting for answers)".into(), None);
        cx.flow().pending.push(op);
    } else {
        f.pending.push(op);
    }
    // Reported later at the request's frame: replays hold later alerts until then.
    d.wait(meta, super::Waiting::Op(meta.flow, id));
}

fn finalize(d: &mut Core, cx: &mut (impl PlcLookup + ?Sized), op: PendingOp, outcome: String, answer: Option<&Meta>) {
    // It no longer waits: the alert floor may move up.
    d.floor = None;
    if answer.is_some() && !outcome.starts_with("failed") && !outcome.contains("error") {
        let state = match op.rule {
            CTL_STOP => Some("stop"),
            CTL_START => Some("start"),
            CTL_PLUS_STATE => match op.evidence.get("value").and_then(|v| v.as_i64()) {
                Some(1) => Some("stop"),
                Some(3) => Some("start"),
                _ => None,
            },
            _ => None,
        };
        if let (Some(s), Some(a)) = (state, answer) {
            d.observe_state(op.meta.server().0, s);
            super::baseline::state_change(d, op.meta.server().0, s, op.meta.client().0, a.ts);
        }
    }
    let mut evidence = op.evidence;
    evidence.insert("outcome".into(), json!(outcome));
    if let Some(a) = answer {
        evidence.insert("answer_frame".into(), json!(a.frame));
    }
    let category = category_for(d, op.meta.client().0);
    let refused = outcome.starts_with("failed");
    let msg = format!("{}: {outcome}", op.message);
    if op.rule == CTL_UPLOAD && refused && category == Category::UnauthorizedControl {
        // A refused upload took nothing out of the PLC: identification tools (s7ident,
        // plcscan) try SDB0 and are refused. Recorded, at info.
        d.emit(cx, Raise::new(op.rule, &op.meta, msg, evidence).category(category).severity(super::Severity::Info));
    } else {
        d.emit(cx, Raise::new(op.rule, &op.meta, msg, evidence).category(category));
    }
}

fn outcome_of(err: Option<ErrorCode>) -> String {
    match err {
        None => "succeeded".into(),
        Some(e) => match e.name() {
            Some(n) => format!("failed, PLC answered error 0x{:04x} ({n})", e.0),
            None => format!("failed, PLC answered error 0x{:04x}", e.0),
        },
    }
}

/// What the PLC answered, in words.
fn answer_text(o: Outcome) -> String {
    match o {
        Outcome::S7(err) => outcome_of(err),
        Outcome::Plus(Some(0) | None) | Outcome::Connected | Outcome::S7NotResponse => {
            "answered by the PLC".to_string()
        }
        Outcome::Plus(Some(v)) => format!("PLC answered with error return value 0x{v:x}"),
        Outcome::PlusError(f) => format!("failed, PLC answered with an S7comm-plus Error response, function 0x{f:04x}"),
    }
}

/// The current event closed a transaction: report the operation waiting on it.
fn answer(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta) {
    let Some(closed) = d.closed else { return };
    // A userdata answer whose type nibble is not "response" does not confirm an operation.
    let (Some(id), false) = (closed.txn.op, closed.outcome == Outcome::S7NotResponse) else { return };
    let Some(f) = cx.flow_if() else { return };
    let Some(i) = f.pending.iter().position(|p| p.id == id) else { return };
    let op = f.pending.remove(i);
    let op_meta = op.meta;
    let rule = op.rule;
    finalize(d, cx, op, answer_text(closed.outcome), Some(meta));
    let wrong_password = closed.outcome == Outcome::S7(Some(ErrorCode::WRONG_PASSWORD));
    if wrong_password && rule == CTL_PASSWORD {
        let msg = format!(
            "PLC {} rejected the password from {} ({}): wrong password",
            op_meta.dst,
            op_meta.src,
            who(d, &op_meta)
        );
        let category = category_for(d, op_meta.client().0);
        let evidence = super::ev(&[("answer_frame", json!(meta.frame)), ("error", json!("0xd602"))]);
        d.emit(cx, Raise::new(CTL_PASSWORD_REJECTED, &op_meta, msg, evidence).category(category));
    }
}

/// Operations still waiting past their deadline (or all of them at the end of input).
pub(crate) fn expire_pending(d: &mut Core, flows: &mut FlowTable, plcs: &mut PlcTable, now: Ts, end: bool) {
    let mut due = Vec::new();
    for f in flows.values_mut() {
        let mut i = 0;
        while i < f.pending.len() {
            if end || f.pending[i].deadline <= now {
                due.push(f.pending.remove(i));
            } else {
                i += 1;
            }
        }
    }
    due.sort_by_key(|p| (p.meta.ts, p.meta.frame, p.meta.flow));
    let ms = d.cfg.thresholds.confirm_timeout_ms;
    for op in due {
        let why = if op.deadline <= now {
            format!("unconfirmed, no answer from the PLC within {ms} ms")
        } else {
            "unconfirmed, capture ended before the PLC answered".to_string()
        };
        finalize(d, plcs, op, why, None);
    }
}

/// A flow ended: its waiting operations are reported unconfirmed.
pub(crate) fn flow_end(d: &mut Core, cx: &mut Ctx<'_>) {
    let Some(f) = cx.flow_if() else {
        return;
    };
    let mut ops = std::mem::take(&mut f.pending);
    ops.sort_by_key(|p| p.meta.frame);
    for op in ops {
        finalize(d, cx, op, "unconfirmed, connection ended before the PLC answered".into(), None);
    }
}

fn engineering_session(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta, how: &str, evidence: Map<String, Value>) {
    let f = cx.flow();
    if f.engineering_reported {
        return;
    }
    f.engineering_reported = true;
    let category = category_for(d, meta.client().0);
    let msg = format!(
        "Engineering (programming-device) session from {} ({}) to PLC {}: {how}",
        meta.src,
        who(d, meta),
        meta.dst
    );
    d.emit(cx, Raise::new(CTL_ENGINEERING, meta, msg, evidence).category(category));
}

fn s7_job(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta, pdu: &S7Pdu<'_>, raw: &[u8]) {
    let (Some(kind), Some(f)) = (d.s7_kind, pdu.function()) else { return };
    let key = PairKey::Job(pdu.header.pdu_ref, Some(f.0));
    let base = |name: &str| {
        ev(&[
            ("layer", json!("s7comm")),
            ("function", json!(name)),
            ("pdu_ref", json!(pdu.header.pdu_ref)),
            ("hex", json!(hex(raw))),
        ])
    };
    let host = who(d, meta);
    match kind {
        FunctionKind::CpuStop => {
            let svc = match pdu.params() {
                s7sentry_proto::s7comm::Params::PlcStop(s) => String::from_utf8_lossy(s.service).into_owned(),
                _ => String::new(),
            };
            let mut e = base("plc_stop");
            e.insert("service".into(), json!(svc));
            let msg = format!("CPU STOP ({svc}) sent by {} ({host}) to PLC {}", meta.src, meta.dst);
            pend(d, cx, CTL_STOP, key, meta, msg, e);
        }
        FunctionKind::CpuStart | FunctionKind::BlockDelete | FunctionKind::CopyRamToRom | FunctionKind::PiService => {
            let Some(pi) = pdu.pi_service() else { return };
            let name = String::from_utf8_lossy(pi.service).into_owned();
            let desc = pi.description().unwrap_or("PI service");
            let mut e = base("pi_service");
            e.insert("service".into(), json!(name));
            match pi.layout {
                PiLayout::Standard => {}
                PiLayout::Compact => {
                    e.insert("layout".into(), json!("compact (python-snap7)"));
                }
                PiLayout::NameOnly => {
                    e.insert("layout".into(), json!("unknown (service name found in the parameter)"));
                }
            }
            let blocks: Vec<String> = match pi.args() {
                s7sentry_proto::s7comm::PiArgs::Blocks(b) => b.map(|b| block_str(&b)).collect(),
                _ => Vec::new(),
            };
            if !blocks.is_empty() {
                e.insert("blocks".into(), json!(blocks));
            }
            let rule = match kind {
                FunctionKind::CpuStart => CTL_START,
                FunctionKind::BlockDelete => CTL_DELETE,
                _ => CTL_PI,
            };
            let what = if blocks.is_empty() { String::new() } else { format!(" on {}", blocks.join(", ")) };
            let msg = format!("PI service {name} ({desc}){what} sent by {} ({host}) to PLC {}", meta.src, meta.dst);
            pend(d, cx, rule, key, meta, msg, e);
        }
        // The first job of a download or upload: the PLC answers it before any block moves.
        FunctionKind::BlockDownload | FunctionKind::BlockUpload
            if matches!(f, Function::REQUEST_DOWNLOAD | Function::START_UPLOAD) =>
        {
            let block = pdu.block().map(|b| block_str(&b)).unwrap_or_else(|| "unknown block".into());
            let (rule, verb, name) = if f == Function::REQUEST_DOWNLOAD {
                (CTL_DOWNLOAD, "download of", "request_download")
            } else {
                (CTL_UPLOAD, "upload of", "start_upload")
            };
            let mut e = base(name);
            e.insert("block".into(), json!(block));
            let msg = format!("Block {verb} {block} by {} ({host}) to PLC {}", meta.src, meta.dst);
            pend(d, cx, rule, key, meta, msg, e);
        }
        _ => {}
    }
}

fn s7_userdata_request(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta, pdu: &S7Pdu<'_>, raw: &[u8]) {
    let Some(u) = pdu.userdata() else { return };
    // Classified by group and subfunction whatever the type nibble says (see classify).
    let Some(kind) = d.s7_kind else { return };
    let (rule, what) = match kind {
        FunctionKind::MemoryReset => (CTL_MRES, "Memory reset requested by"),
        FunctionKind::ClockSet => (CTL_CLOCK, "PLC clock set by"),
        FunctionKind::Password => (CTL_PASSWORD, "PLC password sent by"),
        FunctionKind::ProgrammerCommand => (CTL_PROGRAMMER, ""),
        _ if is_job_list_query(&u) || is_block_list(&u) => {
            // Going online with STEP 7 / TIA Portal queries the programmer job list and
            // reads the block directory (to compare online and offline programs) on the
            // same connection. Diagnostics alone (job list) or a block viewer alone
            // (block list) are not a programming session.
            let f = cx.flow();
            if is_job_list_query(&u) {
                f.tis_job_list = true;
            } else {
                f.block_list = true;
            }
            if f.tis_job_list && f.block_list {
                let e = userdata_evidence(&u, raw);
                engineering_session(d, cx, meta, "STEP 7 / TIA Portal going online (programmer job-list query and block-directory reads on one connection)", e);
            }
            return;
        }
        _ => return,
    };
    // Evidence and text only for the operations reported (reads stay allocation-free).
    let key = PairKey::Userdata(u.group, u.subfunction);
    let host = who(d, meta);
    let msg = match programmer_command(u.subfunction).filter(|_| rule == CTL_PROGRAMMER) {
        Some(name) => format!("Programmer command '{name}' sent by {} ({host}) to PLC {}", meta.src, meta.dst),
        None if rule == CTL_PROGRAMMER => return,
        None if rule == CTL_MRES || rule == CTL_CLOCK => format!("{what} {} ({host}) on PLC {}", meta.src, meta.dst),
        None => format!("{what} {} ({host}) to PLC {}", meta.src, meta.dst),
    };
    pend(d, cx, rule, key, meta, msg, userdata_evidence(&u, raw));
}

/// Evidence of a userdata request; a type other than "request" is named.
fn userdata_evidence(u: &s7sentry_proto::s7comm::UserdataHeader, raw: &[u8]) -> Map<String, Value> {
    let mut e = ev(&[
        ("layer", json!("s7comm")),
        ("ud_group", json!(u.group)),
        ("ud_subfunction", json!(u.subfunction)),
        ("hex", json!(hex(raw))),
    ]);
    if !u.is_request() {
        e.insert("ud_type_nibble".into(), json!(u.legacy_type()));
    }
    e
}

fn plus_request(d: &mut Core, cx: &mut Ctx<'_>, meta: &Meta, fr: &PlusFrame<'_>, raw: &[u8]) {
    if fr.opcode != Some(Opcode::REQUEST) {
        return;
    }
    let Some(seq) = fr.seq else { return };
    let key = PairKey::Plus(seq, fr.function.map(|f| f.0));
    let host = who(d, meta);
    let base = || ev(&[("layer", json!("s7comm-plus")), ("seq", json!(seq)), ("hex", json!(hex(raw)))]);
    let kind = plus_request_function(fr);
    if kind == Some(FunctionKind::S7plusOperatingState) {
        let Some(PlusWrite::OperatingState { value }) = fr.write() else { return };
        let state = value.and_then(|v| v.integer());
        // Values after the s7commplus package's OperatingStateRequest (from TIA Portal captures).
        let what = match state {
            Some(1) => "STOP".to_string(),
            Some(3) => "RUN (start)".to_string(),
            Some(2) => "operating state 2 (reset of retentive data)".to_string(),
            Some(4) => "operating state 4 (RUN, redundant)".to_string(),
            Some(v) => format!("operating state {v}"),
            None => "operating-state change (value not decoded)".to_string(),
        };
        let mut e = base();
        e.insert("function".into(), json!(fr.function.and_then(|f| f.name()).unwrap_or("?")));
        e.insert("object".into(), json!(52));
        e.insert("attribute".into(), json!(2167));
        e.insert("value".into(), json!(state));
        if let Some(v) = value {
            e.insert("value_type".into(), json!(v.datatype_name().unwrap_or("unknown")));
            if v.flags != 0 {
                e.insert("value_flags".into(), json!(v.flags));
            }
        }
        let msg = format!("S7comm-plus CPU {what} request sent by {} ({host}) to PLC {}", meta.src, meta.dst);
        pend(d, cx, CTL_PLUS_STATE, key, meta, msg, e);
    } else if kind == Some(FunctionKind::Password) {
        let msg = format!("S7comm-plus legitimation (password) sent by {} ({host}) to PLC {}", meta.src, meta.dst);
        pend(d, cx, CTL_PASSWORD, key, meta, msg, base());
    } else if let (Some(FunctionKind::S7plusEngineeringOperation), Some(what)) = (kind, plus_program_change(fr)) {
        let mut e = base();
        e.insert("function".into(), json!(fr.function.and_then(|f| f.name()).unwrap_or("?")));
        let msg = format!("S7comm-plus {what} by {} ({host}) on PLC {}", meta.src, meta.dst);
        pend(d, cx, CTL_PLUS_PROGRAM, key, meta, msg, e);
    }
}

/// Handle one event.
#[inline]
pub(crate) fn on_event(d: &mut Core, cx: &mut Ctx<'_>, e: &Event<'_>) {
    match *e {
        Event::S7 { meta, pdu, raw, .. } => match meta.dir {
            Direction::ToServer => match pdu.header.rosctr {
                Rosctr::JOB => s7_job(d, cx, &meta, pdu, raw),
                Rosctr::USERDATA => s7_userdata_request(d, cx, &meta, pdu, raw),
                _ => {}
            },
            Direction::ToClient => answer(d, cx, &meta),
        },
        Event::S7Plus { meta, raw, message: Some(m), .. } => match meta.dir {
            Direction::ToServer => plus_request(d, cx, &meta, m.frame, raw),
            Direction::ToClient => answer(d, cx, &meta),
        },
        Event::Cotp { meta, cotp }
            if meta.dir == Direction::ToServer && cotp_function(cotp) == Some(FunctionKind::EngineeringSession) =>
        {
            let e = ev(&[("layer", json!("cotp")), ("tpdu", json!("CR")), ("dst_tsap", json!("SIMATIC-ROOT-ES"))]);
            engineering_session(d, cx, &meta, "COTP connect to TSAP SIMATIC-ROOT-ES (TIA Portal)", e);
        }
        _ => {}
    }
}
