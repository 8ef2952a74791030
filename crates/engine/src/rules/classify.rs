//! Function classification, in one place: what a decoded request asks the PLC
//! to do ([`FunctionKind`], by stable name) and which positive answers of the
//! PLC confirm a control function. The `control` rules, the confirmation logic
//! (`confirm`) and the asset tracker (`baseline`) all classify through here, so a
//! function is named the same way wherever it is reported. Everything here
//! reads proto's decoded values and named constants, never bytes.
//!
//! Userdata requests are classified by function group and subfunction alone,
//! whatever their type nibble says: a PLC (or an emulated one) that routes by
//! group executes a "set clock" sent with type 0 as readily as one sent with
//! type 4, so the sensor must too (the engine raises an `unexpected_type`
//! finding for the odd nibble). The caller decides the direction: a userdata
//! PDU from the client is a request.

use crate::assets::FunctionKind;
use s7sentry_proto::cotp::{Cotp, TpduCode};
use s7sentry_proto::s7comm::codes::{
    SUBF_BLOCK_INFO, SUBF_BLOCK_LIST, SUBF_BLOCK_LIST_OF_TYPE, SUBF_CPU_READ_SZL, SUBF_PROG_BREAKPOINT,
    SUBF_PROG_EXIT_HOLD, SUBF_PROG_FORCE, SUBF_PROG_MEMORY_RESET, SUBF_PROG_READ_JOB_LIST, SUBF_PROG_REPLACE_JOB,
    SUBF_SEC_PASSWORD, SUBF_TIME_READ, SUBF_TIME_READ_FOLLOWING, SUBF_TIME_SET, SUBF_TIME_SET2,
};
use s7sentry_proto::s7comm::{Function, Rosctr, S7Pdu, UserdataGroup, UserdataHeader};
use s7sentry_proto::s7plus::{ids, Opcode, PlusFrame, PlusFunction, PlusWrite};

/// Programmer commands (userdata group 1) that change execution, by subfunction, with their names.
const PROGRAMMER_COMMANDS: &[(u8, &str)] = &[
    (SUBF_PROG_FORCE, "force"),
    (SUBF_PROG_BREAKPOINT, "breakpoint"),
    (SUBF_PROG_EXIT_HOLD, "exit HOLD"),
    (SUBF_PROG_REPLACE_JOB, "replace job"),
];

/// Name of a programmer command that changes execution (group 1), `None` for the others.
pub(crate) fn programmer_command(subfunction: u8) -> Option<&'static str> {
    PROGRAMMER_COMMANDS.iter().find(|(s, _)| *s == subfunction).map(|(_, n)| *n)
}

/// The programmer job-list query STEP 7 / TIA Portal issue when going online.
pub(crate) fn is_job_list_query(u: &UserdataHeader) -> bool {
    u.group == UserdataGroup::PROGRAMMER.0 && u.subfunction == SUBF_PROG_READ_JOB_LIST
}

/// A block-directory read (list blocks, list blocks of type).
pub(crate) fn is_block_list(u: &UserdataHeader) -> bool {
    u.group == UserdataGroup::BLOCK.0 && matches!(u.subfunction, SUBF_BLOCK_LIST | SUBF_BLOCK_LIST_OF_TYPE)
}

/// The function of a userdata request, by group and subfunction (any type nibble).
pub(crate) fn userdata_function(u: &UserdataHeader) -> FunctionKind {
    use FunctionKind as K;
    match (UserdataGroup(u.group), u.subfunction) {
        (UserdataGroup::PROGRAMMER, SUBF_PROG_MEMORY_RESET) => K::MemoryReset,
        (UserdataGroup::PROGRAMMER, s) if programmer_command(s).is_some() => K::ProgrammerCommand,
        (UserdataGroup::PROGRAMMER, _) => K::ProgrammerMonitor,
        (UserdataGroup::CYCLIC, _) => K::CyclicData,
        (UserdataGroup::BLOCK, SUBF_BLOCK_LIST | SUBF_BLOCK_LIST_OF_TYPE) => K::BlockList,
        (UserdataGroup::BLOCK, SUBF_BLOCK_INFO) => K::BlockInfo,
        (UserdataGroup::CPU, SUBF_CPU_READ_SZL) => K::SzlRead,
        (UserdataGroup::CPU, _) => K::Alarm,
        // Clearing the session password (subfunction 2) only lowers the session's rights.
        (UserdataGroup::SECURITY, SUBF_SEC_PASSWORD) => K::Password,
        (UserdataGroup::PBC_BSEND, _) => K::Pbc,
        (UserdataGroup::TIME, SUBF_TIME_READ | SUBF_TIME_READ_FOLLOWING) => K::ClockRead,
        (UserdataGroup::TIME, SUBF_TIME_SET | SUBF_TIME_SET2) => K::ClockSet,
        _ => K::UserdataOther,
    }
}

/// The function an S7comm request from a client performs (Job, or userdata of
/// any type), by stable name. `None` for PDUs that are not client requests or
/// whose function is unknown; a PI service job counts only when its service is
/// recognised (in any layout, see `s7comm::PiLayout`).
#[inline]
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
        Rosctr::USERDATA => pdu.userdata().map(|u| userdata_function(&u)),
        _ => None,
    }
}

/// SetVariable on the session's legitimation attributes (1846 Legitimate, 304 ServerSessionResponse).
pub(crate) fn plus_is_legitimation(fr: &PlusFrame<'_>) -> bool {
    fr.function == Some(PlusFunction::SET_VARIABLE)
        && fr.set_variable().is_some_and(|s| matches!(s.attribute_id, ids::LEGITIMATE | ids::SERVER_SESSION_RESPONSE))
}

/// An engineering transaction: what it is, in words.
///
/// TIA Portal brackets program upload and download in BeginSequence /
/// EndSequence and creates temporary transfer objects (ids 0x7040xxxx in
/// the public captures) that it deletes afterwards; HMIs only ever delete
/// their own session object (small ids such as 0x38a).
pub(crate) fn plus_program_change(fr: &PlusFrame<'_>) -> Option<&'static str> {
    match fr.function? {
        PlusFunction::BEGIN_SEQUENCE => Some("BeginSequence (start of an engineering transaction)"),
        PlusFunction::END_SEQUENCE => Some("EndSequence (end of an engineering transaction)"),
        PlusFunction::DELETE_OBJECT => {
            let id = fr.delete_object_id()?;
            (id >= 0x0001_0000).then_some("DeleteObject of a program-transfer object")
        }
        _ => None,
    }
}

/// The function an S7comm-plus request message performs (see
/// [`s7_request_function`]); `None` for anything but a request. A write whose
/// addresses name the operating-state request is [`FunctionKind::S7plusOperatingState`]
/// whether or not its value could be read.
pub(crate) fn plus_request_function(fr: &PlusFrame<'_>) -> Option<FunctionKind> {
    use FunctionKind as K;
    if fr.opcode != Some(Opcode::REQUEST) {
        return None;
    }
    let f = fr.function?;
    if fr.write().is_some_and(|w| w.is_operating_state()) {
        return Some(K::S7plusOperatingState);
    }
    if plus_is_legitimation(fr) {
        return Some(K::Password);
    }
    if plus_program_change(fr).is_some() {
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

/// Whether the sensor understood what an S7comm-plus request message does: a
/// request whose function is known and, for the writes, whose addresses were
/// decoded. A message cut by the reassembly cap is understood only if what was
/// kept suffices (a write whose addresses were read).
pub(crate) fn plus_request_understood(fr: &PlusFrame<'_>, truncated: bool) -> bool {
    match fr.write() {
        Some(PlusWrite::Undecoded) => false,
        Some(_) => true,
        None => !truncated && fr.function.is_some_and(|f| f.name().is_some()),
    }
}

/// The function a COTP TPDU from a client stands for: a CR to TSAP
/// `SIMATIC-ROOT-ES` opens a TIA Portal engineering session.
pub(crate) fn cotp_function(cotp: &Cotp<'_>) -> Option<FunctionKind> {
    let t = cotp.dst_tsap()?.as_text()?;
    (cotp.code == TpduCode::CR && t == "SIMATIC-ROOT-ES").then_some(FunctionKind::EngineeringSession)
}

/// The control function a positive S7comm answer of the PLC confirms: an
/// Ack_Data without error of PLC Stop (0x29), PI service (0x28), Request
/// Download (0x1A) or Start Upload (0x1D), or a userdata response without error
/// of a control group (memory reset, programmer command, password, set clock).
///
/// Download Block (0x1B) and Download Ended (0x1C) are left out on purpose: in
/// S7comm the PLC itself sends those *jobs* to the client during a download and
/// the client acknowledges them, so their Ack_Data travel client to PLC. Upload
/// (0x1E) and End Upload (0x1F) answers follow a Start Upload the PLC already
/// confirmed.
pub(crate) fn s7_confirmed_control(pdu: &S7Pdu<'_>) -> Option<FunctionKind> {
    use FunctionKind as K;
    match pdu.header.rosctr {
        Rosctr::ACK_DATA if pdu.header.error_code().is_none() => Some(match pdu.function()? {
            Function::PLC_STOP => K::CpuStop,
            Function::PI_SERVICE => K::PiService,
            Function::REQUEST_DOWNLOAD => K::BlockDownload,
            Function::START_UPLOAD => K::BlockUpload,
            _ => return None,
        }),
        Rosctr::USERDATA => {
            let u = pdu.userdata()?;
            if !u.is_response() || u.error().is_some() {
                return None;
            }
            let k = userdata_function(&u);
            matches!(k, K::MemoryReset | K::ProgrammerCommand | K::Password | K::ClockSet).then_some(k)
        }
        _ => None,
    }
}

/// Whether an S7comm-plus answer is the PLC's success for a write (SetVariable
/// or SetMultiVariables response with return value 0): the answer an
/// operating-state write gets.
pub(crate) fn plus_confirmed_write(fr: &PlusFrame<'_>) -> bool {
    matches!(fr.opcode, Some(Opcode::RESPONSE | Opcode::RESPONSE2))
        && matches!(fr.function, Some(PlusFunction::SET_VARIABLE | PlusFunction::SET_MULTI_VARIABLES))
        && fr.return_value() == Some(0)
}
