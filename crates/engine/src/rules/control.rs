//! Family `control`: operations that stop, start, reprogram or reconfigure a
//! PLC. From a host that is not a configured engineering station they are
//! `unauthorized_control`; from an engineering station the same operation is a
//! `control_operation` record (severity info): an audit trail, never an alarm.
//!
//! Each operation waits for the PLC's answer (paired by PDU reference,
//! userdata group/subfunction, or S7comm-plus sequence number) so the alert
//! says whether it succeeded, failed (with the PLC's error) or went unanswered.

use super::catalog::*;
use super::{ev, hex, Category, Detector, PairKey, PendingOp, MAX_PENDING_OPS};
use crate::assets::FunctionKind;
use crate::event::{Direction, Event, Meta};
use crate::time::Ts;
use s7sentry_proto::cotp::{Cotp, TpduCode};
use s7sentry_proto::s7comm::{codes::ErrorCode, Function, Rosctr, S7Pdu};
use s7sentry_proto::s7plus::{Opcode, PlusFrame, PlusFunction};
use serde_json::{json, Map, Value};

/// Userdata group 1 (programmer commands) subfunctions that matter here.
const TIS_READ_JOB_LIST: u8 = 0x10;
const TIS_CHANGING: &[(u8, &str)] =
    &[(0x09, "force"), (0x0A, "breakpoint"), (0x0B, "exit HOLD"), (0x12, "replace job")];

/// The function an S7comm request from a client performs (Job or userdata
/// request), by stable name. The control rules below pick their operations
/// through this classification, and the asset tracker records the same names,
/// so both always agree. `None` for PDUs that are not client requests or whose
/// function is unknown (malformed).
pub(crate) fn s7_request_function(pdu: &S7Pdu<'_>) -> Option<FunctionKind> {
    use FunctionKind as K;
    match pdu.header.rosctr {
        Rosctr::JOB => Some(match pdu.function()? {
            Function::SETUP_COMM => K::SetupCommunication,
            Function::READ_VAR => K::ReadVar,
            Function::WRITE_VAR => K::WriteVar,
            Function::CPU_SERVICES => K::CpuServices,
            Function::REQUEST_DOWNLOAD | Function::DOWNLOAD_BLOCK | Function::DOWNLOAD_ENDED => K::BlockDownload,
            Function::START_UPLOAD | Function::UPLOAD | Function::END_UPLOAD => K::BlockUpload,
            Function::PLC_STOP => K::CpuStop,
            Function::PI_SERVICE => match pdu.pi_service()?.service {
                b"P_PROGRAM" => K::CpuStart,
                b"_DELE" => K::BlockDelete,
                b"_MODU" => K::CopyRamToRom,
                _ => K::PiService,
            },
            _ => return None,
        }),
        Rosctr::USERDATA => {
            let u = pdu.userdata()?;
            if u.ud_type != 1 {
                return None;
            }
            Some(match (u.group, u.subfunction) {
                (1, 0x0C) => K::MemoryReset,
                (1, s) if TIS_CHANGING.iter().any(|(x, _)| *x == s) => K::ProgrammerCommand,
                (1, _) => K::ProgrammerMonitor,
                (2, _) => K::CyclicData,
                (3, 1 | 2) => K::BlockList,
                (3, 3) => K::BlockInfo,
                (4, 1) => K::SzlRead,
                (4, _) => K::Alarm,
                (5, 1) => K::Password,
                (6, _) => K::Pbc,
                (7, 1 | 3) => K::ClockRead,
                (7, 2 | 4) => K::ClockSet,
                _ => K::UserdataOther,
            })
        }
        _ => None,
    }
}

/// The function an S7comm-plus request performs (see [`s7_request_function`]);
/// `None` for anything but a request header (responses, notifications,
/// continuation fragments).
pub(crate) fn plus_request_function(fr: &PlusFrame<'_>) -> Option<FunctionKind> {
    use FunctionKind as K;
    if fr.opcode != Some(Opcode::REQUEST) {
        return None;
    }
    let f = fr.function?;
    if plus::operating_state_request(fr).is_some() {
        return Some(K::S7plusOperatingState);
    }
    if plus::is_legitimation(fr) {
        return Some(K::Password);
    }
    if plus::program_change(fr).is_some() {
        return Some(K::S7plusEngineeringOperation);
    }
    Some(match f {
        PlusFunction::EXPLORE => K::S7plusExplore,
        PlusFunction::GET_VARIABLE
        | PlusFunction::GET_MULTI_VARIABLES
        | PlusFunction::GET_VAR_SUB_STREAMED
        | PlusFunction::GET_VARIABLES_ADDRESS => K::S7plusGet,
        PlusFunction::SET_VARIABLE | PlusFunction::SET_MULTI_VARIABLES | PlusFunction::SET_VAR_SUB_STREAMED => {
            K::S7plusSet
        }
        PlusFunction::CREATE_OBJECT => K::S7plusCreateObject,
        PlusFunction::DELETE_OBJECT => K::S7plusDeleteObject,
        PlusFunction::INVOKE => K::S7plusInvoke,
        PlusFunction::ADD_LINK | PlusFunction::REMOVE_LINK | PlusFunction::GET_LINK => K::S7plusLink,
        PlusFunction::INIT_SSL => K::S7plusInitSsl,
        _ => K::S7plusOther,
    })
}

/// The function a COTP TPDU from a client stands for: a CR to TSAP
/// `SIMATIC-ROOT-ES` opens a TIA Portal engineering session.
pub(crate) fn cotp_function(cotp: &Cotp<'_>) -> Option<FunctionKind> {
    let t = cotp.dst_tsap()?.as_text()?;
    (cotp.code == TpduCode::CR && t == "SIMATIC-ROOT-ES").then_some(FunctionKind::EngineeringSession)
}

/// `OB1`, `DB10`, ... (type as STEP 7 names it, then the number).
fn block_str(b: &s7sentry_proto::s7comm::BlockName) -> String {
    let t = b.block_type.name().map(str::to_string).unwrap_or_else(|| format!("0x{:04x}", b.block_type.0));
    match b.number {
        Some(n) => format!("{t}{n}"),
        None => t,
    }
}

fn category_for(d: &Detector, client: std::net::IpAddr) -> Category {
    if d.cfg.is_engineering(client) {
        Category::ControlOperation
    } else {
        Category::UnauthorizedControl
    }
}

fn who(d: &Detector, meta: &Meta) -> &'static str {
    if d.cfg.is_engineering(meta.client().0) {
        "engineering station"
    } else {
        "non-engineering host"
    }
}

/// Queue an operation until the PLC answers.
fn pend(d: &mut Detector, rule: RuleId, key: PairKey, meta: &Meta, message: String, evidence: Map<String, Value>) {
    let deadline = meta.ts.plus_ms(d.cfg.thresholds.confirm_timeout_ms);
    let f = d.flow(meta);
    if f.pending.len() >= MAX_PENDING_OPS {
        let old = f.pending.remove(0);
        finalize(d, old, "unconfirmed (too many operations waiting for answers)".into(), None);
        let f = d.flow(meta);
        f.pending.push(PendingOp { rule, key, meta: *meta, message, evidence, deadline });
        return;
    }
    f.pending.push(PendingOp { rule, key, meta: *meta, message, evidence, deadline });
}

fn finalize(d: &mut Detector, op: PendingOp, outcome: String, answer: Option<&Meta>) {
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
        d.raise_graded(op.rule, category, super::Severity::Info, &op.meta, msg, evidence);
    } else {
        d.raise_as(op.rule, Some(category), &op.meta, msg, evidence);
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

/// What the PLC answered, turned into words only when an operation waits for it.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// S7comm: the error code, if any.
    S7(Option<ErrorCode>),
    /// S7comm-plus: the response's return value, if decoded.
    Plus(Option<u64>),
}

impl Answer {
    fn text(self) -> String {
        match self {
            Answer::S7(err) => outcome_of(err),
            Answer::Plus(Some(0) | None) => "answered by the PLC".to_string(),
            Answer::Plus(Some(v)) => format!("PLC answered with error return value 0x{v:x}"),
        }
    }
}

fn answer(d: &mut Detector, meta: &Meta, key: PairKey, ans: Answer, wrong_password: bool) {
    // Most answers pair with no pending operation: look before building any text.
    let Some(f) = d.flows.get_mut(&meta.flow) else { return };
    if f.pending.is_empty() {
        return;
    }
    let Some(i) = f.pending.iter().position(|p| p.key == key) else { return };
    let op = f.pending.remove(i);
    let op_meta = op.meta;
    let rule = op.rule;
    finalize(d, op, ans.text(), Some(meta));
    if wrong_password && rule == CTL_PASSWORD {
        let msg = format!(
            "PLC {} rejected the password from {} ({}): wrong password",
            op_meta.dst,
            op_meta.src,
            who(d, &op_meta)
        );
        let category = category_for(d, op_meta.client().0);
        let evidence = super::ev(&[("answer_frame", json!(meta.frame)), ("error", json!("0xd602"))]);
        d.raise_as(CTL_PASSWORD_REJECTED, Some(category), &op_meta, msg, evidence);
    }
}

/// Operations still waiting past their deadline (or all of them at the end of input).
pub(crate) fn expire_pending(d: &mut Detector, now: Ts, end: bool) {
    let mut due = Vec::new();
    for f in d.flows.values_mut() {
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
        finalize(d, op, why, None);
    }
}

/// A flow ended: its waiting operations are reported unconfirmed.
pub(crate) fn flow_end(d: &mut Detector, meta: &Meta) {
    let Some(f) = d.flows.get_mut(&meta.flow) else {
        return;
    };
    let mut ops = std::mem::take(&mut f.pending);
    ops.sort_by_key(|p| p.meta.frame);
    for op in ops {
        finalize(d, op, "unconfirmed, connection ended before the PLC answered".into(), None);
    }
}

fn engineering_session(d: &mut Detector, meta: &Meta, how: &str, evidence: Map<String, Value>) {
    let f = d.flow(meta);
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
    d.raise_as(CTL_ENGINEERING, Some(category), meta, msg, evidence);
}

fn s7_job(d: &mut Detector, meta: &Meta, pdu: &S7Pdu<'_>, raw: &[u8]) {
    let (Some(kind), Some(f)) = (s7_request_function(pdu), pdu.function()) else { return };
    let key = PairKey::Job(pdu.header.pdu_ref);
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
            pend(d, CTL_STOP, key, meta, msg, e);
        }
        FunctionKind::CpuStart | FunctionKind::BlockDelete | FunctionKind::CopyRamToRom | FunctionKind::PiService => {
            let Some(pi) = pdu.pi_service() else { return };
            let name = String::from_utf8_lossy(pi.service).into_owned();
            let desc = pi.description().unwrap_or("PI service");
            let mut e = base("pi_service");
            e.insert("service".into(), json!(name));
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
            pend(d, rule, key, meta, msg, e);
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
            pend(d, rule, key, meta, msg, e);
        }
        _ => {}
    }
}

fn s7_userdata_request(d: &mut Detector, meta: &Meta, pdu: &S7Pdu<'_>, raw: &[u8]) {
    let Some(u) = pdu.userdata() else { return };
    if u.ud_type != 1 {
        return;
    }
    let key = PairKey::Userdata(u.group, u.subfunction);
    let e = ev(&[
        ("layer", json!("s7comm")),
        ("ud_group", json!(u.group)),
        ("ud_subfunction", json!(u.subfunction)),
        ("hex", json!(hex(raw))),
    ]);
    let host = who(d, meta);
    let kind = s7_request_function(pdu);
    if kind == Some(FunctionKind::MemoryReset) {
        let msg = format!("Memory reset requested by {} ({host}) on PLC {}", meta.src, meta.dst);
        pend(d, CTL_MRES, key, meta, msg, e);
    } else if kind == Some(FunctionKind::ClockSet) {
        let msg = format!("PLC clock set by {} ({host}) on PLC {}", meta.src, meta.dst);
        pend(d, CTL_CLOCK, key, meta, msg, e);
    } else if kind == Some(FunctionKind::Password) {
        let msg = format!("PLC password sent by {} ({host}) to PLC {}", meta.src, meta.dst);
        pend(d, CTL_PASSWORD, key, meta, msg, e);
    } else if (u.group == 1 && u.subfunction == TIS_READ_JOB_LIST) || (u.group == 3 && matches!(u.subfunction, 1 | 2)) {
        // Going online with STEP 7 / TIA Portal queries the programmer job list and
        // reads the block directory (to compare online and offline programs) on the
        // same connection. Diagnostics alone (job list) or a block viewer alone
        // (block list) are not a programming session.
        let f = d.flow(meta);
        if u.group == 1 {
            f.tis_job_list = true;
        } else {
            f.block_list = true;
        }
        if f.tis_job_list && f.block_list {
            engineering_session(d, meta, "STEP 7 / TIA Portal going online (programmer job-list query and block-directory reads on one connection)", e);
        }
    } else if kind == Some(FunctionKind::ProgrammerCommand) {
        if let Some((_, name)) = TIS_CHANGING.iter().find(|(s, _)| *s == u.subfunction) {
            let msg = format!("Programmer command '{name}' sent by {} ({host}) to PLC {}", meta.src, meta.dst);
            pend(d, CTL_PROGRAMMER, key, meta, msg, e);
        }
    }
}

fn s7_answer(d: &mut Detector, meta: &Meta, pdu: &S7Pdu<'_>) {
    if matches!(pdu.header.rosctr, Rosctr::ACK | Rosctr::ACK_DATA) {
        answer(d, meta, PairKey::Job(pdu.header.pdu_ref), Answer::S7(pdu.error_code()), false);
    } else if let Some(u) = pdu.userdata() {
        if u.ud_type == 2 {
            let err = u.error();
            let wrong = err == Some(ErrorCode::WRONG_PASSWORD);
            answer(d, meta, PairKey::Userdata(u.group, u.subfunction), Answer::S7(err), wrong);
        }
    }
}

fn plus_request(d: &mut Detector, meta: &Meta, fr: &PlusFrame<'_>, raw: &[u8]) {
    if fr.opcode != Some(Opcode::REQUEST) {
        return;
    }
    let Some(seq) = fr.seq else { return };
    let key = PairKey::Plus(seq);
    let host = who(d, meta);
    let base = || ev(&[("layer", json!("s7comm-plus")), ("seq", json!(seq)), ("hex", json!(hex(raw)))]);
    let kind = plus_request_function(fr);
    if let (Some(FunctionKind::S7plusOperatingState), Some(state)) = (kind, plus::operating_state_request(fr)) {
        let what = match state {
            1 => "STOP".to_string(),
            3 => "RUN (start)".to_string(),
            v => format!("operating state {v}"),
        };
        let mut e = base();
        e.insert("function".into(), json!("SetVariable"));
        e.insert("object".into(), json!(52));
        e.insert("attribute".into(), json!(2167));
        e.insert("value".into(), json!(state));
        let msg = format!("S7comm-plus CPU {what} request sent by {} ({host}) to PLC {}", meta.src, meta.dst);
        pend(d, CTL_PLUS_STATE, key, meta, msg, e);
    } else if kind == Some(FunctionKind::Password) {
        let msg = format!("S7comm-plus legitimation (password) sent by {} ({host}) to PLC {}", meta.src, meta.dst);
        pend(d, CTL_PASSWORD, key, meta, msg, base());
    } else if let (Some(FunctionKind::S7plusEngineeringOperation), Some(what)) = (kind, plus::program_change(fr)) {
        let mut e = base();
        e.insert("function".into(), json!(fr.function.and_then(|f| f.name()).unwrap_or("?")));
        let msg = format!("S7comm-plus {what} by {} ({host}) on PLC {}", meta.src, meta.dst);
        pend(d, CTL_PLUS_PROGRAM, key, meta, msg, e);
    }
}

fn plus_answer(d: &mut Detector, meta: &Meta, fr: &PlusFrame<'_>) {
    if !matches!(fr.opcode, Some(Opcode::RESPONSE) | Some(Opcode::RESPONSE2)) {
        return;
    }
    let Some(seq) = fr.seq else { return };
    answer(d, meta, PairKey::Plus(seq), Answer::Plus(plus::return_value(fr)), false);
}

/// S7comm-plus helpers over the parser's accessors.
mod plus {
    use super::*;

    /// Value written to CPUexecUnit.OperatingStateREQ (object 52, attribute 2167).
    pub(super) fn operating_state_request(fr: &PlusFrame<'_>) -> Option<i64> {
        if fr.function != Some(PlusFunction::SET_VARIABLE) {
            return None;
        }
        fr.operating_state_request()
    }

    /// SetVariable on the session's legitimation attributes (1846 Legitimate, 304 ServerSessionResponse).
    pub(super) fn is_legitimation(fr: &PlusFrame<'_>) -> bool {
        fr.function == Some(PlusFunction::SET_VARIABLE)
            && fr.set_variable().is_some_and(|s| matches!(s.attribute_id, 1846 | 304))
    }

    /// An engineering transaction: what it is, in words.
    ///
    /// TIA Portal brackets program upload and download in BeginSequence /
    /// EndSequence and creates temporary transfer objects (ids 0x7040xxxx in
    /// the public captures) that it deletes afterwards; HMIs only ever delete
    /// their own session object (small ids such as 0x38a).
    pub(super) fn program_change(fr: &PlusFrame<'_>) -> Option<&'static str> {
        match fr.function? {
            PlusFunction(0x0556) => Some("BeginSequence (start of an engineering transaction)"),
            PlusFunction(0x0560) => Some("EndSequence (end of an engineering transaction)"),
            PlusFunction::DELETE_OBJECT => {
                let id = fr.delete_object_id()?;
                (id >= 0x0001_0000).then_some("DeleteObject of a program-transfer object")
            }
            _ => None,
        }
    }

    /// Return value of a response, when decoded (0 = success).
    pub(super) fn return_value(fr: &PlusFrame<'_>) -> Option<u64> {
        fr.return_value()
    }
}

/// Handle one event.
pub(crate) fn on_event(d: &mut Detector, e: &Event<'_>) {
    match *e {
        Event::S7 { meta, pdu, raw, .. } => match meta.dir {
            Direction::ToServer => match pdu.header.rosctr {
                Rosctr::JOB => s7_job(d, &meta, pdu, raw),
                Rosctr::USERDATA => s7_userdata_request(d, &meta, pdu, raw),
                _ => {}
            },
            Direction::ToClient => s7_answer(d, &meta, pdu),
        },
        Event::S7Plus { meta, frame, raw, continuation } if !continuation => match meta.dir {
            Direction::ToServer => plus_request(d, &meta, frame, raw),
            Direction::ToClient => plus_answer(d, &meta, frame),
        },
        Event::Cotp { meta, cotp }
            if meta.dir == Direction::ToServer && cotp_function(cotp) == Some(FunctionKind::EngineeringSession) =>
        {
            let e = ev(&[("layer", json!("cotp")), ("tpdu", json!("CR")), ("dst_tsap", json!("SIMATIC-ROOT-ES"))]);
            engineering_session(d, &meta, "COTP connect to TSAP SIMATIC-ROOT-ES (TIA Portal)", e);
        }
        _ => {}
    }
}
