//! S7comm ("S7 classic", protocol id 0x32) carried in COTP DT.
//!
//! Field meanings follow Wireshark's `packet-s7comm.c` (read for facts only) and
//! `research/advisories-and-wire-format.md` §2.3.
//!
//! ```text
//! 0:1 0x32 | 1:1 ROSCTR | 2:2 redundancy id | 4:2 PDU ref | 6:2 param len | 8:2 data len
//! [10:1 error class | 11:1 error code]   (ROSCTR 2 Ack and 3 Ack_Data only)
//! then `param len` parameter bytes, then `data len` data bytes
//! ```
//!
//! [`parse_s7comm`] is a complete parser over one reassembled S7 PDU. The header
//! must be whole, otherwise the PDU is rejected with a [`Finding`]. Every other
//! problem (lengths that do not add up, unknown ROSCTR or function, items that
//! do not fit) keeps the PDU: it is returned with the header and whatever was
//! decoded, and [`S7Pdu::finding`] names the first violation (malformed is
//! data, not a drop).
//!
//! The accessors [`S7Pdu::function`], [`S7Pdu::item_count`], [`S7Pdu::userdata`]
//! and [`S7Pdu::szl`] return exactly what tshark 4.0 shows in
//! `s7comm.param.func`, `s7comm.param.itemcount`,
//! `s7comm.param.userdata.funcgroup`/`.subfunc` and
//! `s7comm.data.userdata.szl_id`/`.szl_index`; their documentation lists the
//! few places where a stateless parser must differ. Typed access to the rest
//! goes through [`S7Pdu::params`], [`S7Pdu::var_items`], [`S7Pdu::data_items`],
//! [`S7Pdu::szl_response`] and friends.

use crate::finding::{Finding, FindingKind, Layer};
use crate::util::be16;

pub mod codes;
pub mod items;
pub mod params;
pub mod userdata;

pub use codes::{
    Area, BlockType, DataTransportSize, ErrorClass, ErrorCode, OperatingMode, ReturnCode, SyntaxId, TransportSize,
    UserdataGroup, UserdataType,
};
pub use items::{DataItem, DataItems, ReturnCodes, S7AnyAddress, VarItem, VarItems};
pub use params::{
    BlockControl, BlockName, FileName, Params, PiArgs, PiBlocks, PiLayout, PiService, PiStrings, PlcStop, SetupComm,
};
pub use userdata::{
    ComponentRecord, ModuleIdRecord, ModuleVersion, S7Timestamp, SzlRecords, SzlRef, SzlResponse, UserdataData,
    UserdataHeader,
};

/// S7comm protocol identifier.
pub const PROTOCOL_ID: u8 = 0x32;
/// Header length for ROSCTR 1 and 7.
pub const HEADER_LEN: usize = 10;
/// Header length for ROSCTR 2 and 3 (error class and code).
pub const HEADER_LEN_ACK: usize = 12;

/// Remote Operating Service Control (PDU type). Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rosctr(pub u8);

impl Rosctr {
    /// Job request.
    pub const JOB: Rosctr = Rosctr(0x01);
    /// Acknowledgement without data.
    pub const ACK: Rosctr = Rosctr(0x02);
    /// Acknowledgement with data.
    pub const ACK_DATA: Rosctr = Rosctr(0x03);
    /// User data (programmer / cyclic / block / CPU / security / time functions).
    pub const USERDATA: Rosctr = Rosctr(0x07);

    /// Name as Wireshark prints it, `None` for undefined values.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x01 => "Job",
            0x02 => "Ack",
            0x03 => "Ack_Data",
            0x07 => "Userdata",
            _ => return None,
        })
    }

    /// Whether the header carries error class and code (Ack, Ack_Data).
    pub const fn has_error(self) -> bool {
        matches!(self.0, 0x02 | 0x03)
    }
}

/// Job / Ack_Data function code (first parameter byte). Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Function(pub u8);

impl Function {
    /// CPU services.
    pub const CPU_SERVICES: Function = Function(0x00);
    /// Mode transition (pushed by the CPU).
    pub const MODE_TRANSITION: Function = Function(0x01);
    /// Read variable.
    pub const READ_VAR: Function = Function(0x04);
    /// Write variable.
    pub const WRITE_VAR: Function = Function(0x05);
    /// Request download.
    pub const REQUEST_DOWNLOAD: Function = Function(0x1A);
    /// Download block.
    pub const DOWNLOAD_BLOCK: Function = Function(0x1B);
    /// Download ended.
    pub const DOWNLOAD_ENDED: Function = Function(0x1C);
    /// Start upload.
    pub const START_UPLOAD: Function = Function(0x1D);
    /// Upload.
    pub const UPLOAD: Function = Function(0x1E);
    /// End upload.
    pub const END_UPLOAD: Function = Function(0x1F);
    /// PI service (PLC control: start, compress, copy RAM to ROM, insert/delete block).
    pub const PI_SERVICE: Function = Function(0x28);
    /// PLC stop.
    pub const PLC_STOP: Function = Function(0x29);
    /// Setup communication.
    pub const SETUP_COMM: Function = Function(0xF0);

    /// Name, `None` for codes Wireshark does not know.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "cpu_services",
            0x01 => "mode_transition",
            0x04 => "read_var",
            0x05 => "write_var",
            0x1A => "request_download",
            0x1B => "download_block",
            0x1C => "download_ended",
            0x1D => "start_upload",
            0x1E => "upload",
            0x1F => "end_upload",
            0x28 => "pi_service",
            0x29 => "plc_stop",
            0xF0 => "setup_comm",
            _ => return None,
        })
    }
}

/// The fixed S7comm header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S7Header {
    /// PDU type.
    pub rosctr: Rosctr,
    /// Redundancy identification (reserved, 0 in practice).
    pub redundancy_id: u16,
    /// PDU reference: pairs a Job with its Ack_Data.
    pub pdu_ref: u16,
    /// Parameter length.
    pub param_len: u16,
    /// Data length.
    pub data_len: u16,
    /// Error class and code (Ack / Ack_Data only).
    pub error: Option<(u8, u8)>,
}

impl S7Header {
    /// Header length on the wire (10 or 12).
    pub const fn len(&self) -> usize {
        if self.rosctr.has_error() {
            HEADER_LEN_ACK
        } else {
            HEADER_LEN
        }
    }
    /// Never empty; present for clippy's `len_without_is_empty`.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Error class (Ack / Ack_Data only).
    pub const fn error_class(&self) -> Option<ErrorClass> {
        match self.error {
            Some((c, _)) => Some(ErrorClass(c)),
            None => None,
        }
    }

    /// Class and code combined into one 16-bit code (`class << 8 | code`), when non-zero.
    pub const fn error_code(&self) -> Option<ErrorCode> {
        match self.error {
            Some((0, 0)) | None => None,
            Some((c, e)) => Some(ErrorCode(((c as u16) << 8) | e as u16)),
        }
    }

    /// Encode the header (10 or 12 bytes); returns the buffer and the length used.
    pub fn to_bytes(&self) -> ([u8; HEADER_LEN_ACK], usize) {
        let mut b = [0u8; HEADER_LEN_ACK];
        b[0] = PROTOCOL_ID;
        b[1] = self.rosctr.0;
        b[2..4].copy_from_slice(&self.redundancy_id.to_be_bytes());
        b[4..6].copy_from_slice(&self.pdu_ref.to_be_bytes());
        b[6..8].copy_from_slice(&self.param_len.to_be_bytes());
        b[8..10].copy_from_slice(&self.data_len.to_be_bytes());
        if let Some((c, e)) = self.error {
            b[10] = c;
            b[11] = e;
        }
        (b, self.len())
    }
}

/// One S7comm PDU borrowing its parameter and data bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S7Pdu<'a> {
    /// Header.
    pub header: S7Header,
    /// Parameter bytes (`param_len`).
    pub param: &'a [u8],
    /// Data bytes (`data_len`).
    pub data: &'a [u8],
    /// First violation found inside parameter or data (offset from the PDU start).
    pub finding: Option<Finding>,
}

/// Parse one S7comm PDU (complete parser over one reassembled COTP DT payload).
///
/// Errors (offsets from the PDU start): `Truncated` (header not whole) and
/// `UnknownProtocol` (byte 0 not 0x32). Everything else keeps the PDU and sets
/// [`S7Pdu::finding`] to the first violation: `LengthMismatch` at offset 6 when
/// the header's parameter and data lengths do not add up to the bytes present
/// (the parts are then cut to the bytes that exist, as tshark shows them, and
/// nothing else is checked), `UnknownRosctr` (offset 1),
/// `UnknownFunction`, `Truncated` / `LengthBeyondEnd` inside the parameter,
/// `ItemCountMismatch` (an item count that promises more items than the
/// parameter or data part holds), `BadItem` (an item cut short or inconsistent),
/// `LengthMismatch` (bytes left over after the last item, a userdata length
/// field that disagrees with the data part, SZL records that do not fill the
/// answer).
pub fn parse_s7comm(i: &[u8]) -> Result<S7Pdu<'_>, Finding> {
    let err = |k, o| Finding::new(Layer::S7comm, k, o);
    if i.is_empty() {
        return Err(err(FindingKind::Truncated, 0));
    }
    if i[0] != PROTOCOL_ID {
        return Err(err(FindingKind::UnknownProtocol, 0));
    }
    if i.len() < HEADER_LEN {
        return Err(err(FindingKind::Truncated, i.len()));
    }
    let rosctr = Rosctr(i[1]);
    let hlen = if rosctr.has_error() { HEADER_LEN_ACK } else { HEADER_LEN };
    if i.len() < hlen {
        return Err(err(FindingKind::Truncated, i.len()));
    }
    let header = S7Header {
        rosctr,
        redundancy_id: be16(i, 2).unwrap_or(0),
        pdu_ref: be16(i, 4).unwrap_or(0),
        param_len: be16(i, 6).unwrap_or(0),
        data_len: be16(i, 8).unwrap_or(0),
        error: rosctr.has_error().then(|| (i[10], i[11])),
    };
    let pend = (hlen + usize::from(header.param_len)).min(i.len());
    let dend = (pend + usize::from(header.data_len)).min(i.len());
    let mut pdu = S7Pdu { header, param: &i[hlen..pend], data: &i[pend..dend], finding: None };
    pdu.finding = if dend != i.len()
        || pend - hlen != usize::from(header.param_len)
        || dend - pend != usize::from(header.data_len)
    {
        // Like tshark, keep the header and whatever parameter/data bytes exist.
        Some(err(FindingKind::LengthMismatch, 6))
    } else {
        pdu.check()
    };
    Ok(pdu)
}

impl<'a> S7Pdu<'a> {
    /// Offset of the parameter part from the PDU start.
    pub const fn param_offset(&self) -> usize {
        self.header.len()
    }

    /// Offset of the data part from the PDU start.
    pub const fn data_offset(&self) -> usize {
        self.header.len() + self.param.len()
    }

    /// First structural violation inside parameter or data (what `parse_s7comm` stores in `finding`).
    pub fn check(&self) -> Option<Finding> {
        let err = |k, o| Some(Finding::new(Layer::S7comm, k, o));
        let (po, doff) = (self.param_offset(), self.data_offset());
        match self.header.rosctr {
            Rosctr::JOB | Rosctr::ACK_DATA => {
                let job = self.header.rosctr == Rosctr::JOB;
                if self.param.is_empty() {
                    return if job { err(FindingKind::Truncated, po) } else { None };
                }
                let (p, f) = params::decode(self.header.rosctr, self.param, po);
                if f.is_some() {
                    return f;
                }
                let count = match p {
                    Params::ReadVar { item_count, .. } | Params::WriteVar { item_count, .. } => item_count,
                    _ => return None,
                };
                let read = matches!(p, Params::ReadVar { .. });
                if job {
                    if let Some(f) = items::check_var_items(&self.param[2..], count, po + 2) {
                        return Some(f);
                    }
                    if read {
                        (!self.data.is_empty()).then(|| Finding::new(Layer::S7comm, FindingKind::LengthMismatch, doff))
                    } else {
                        items::check_data_items(self.data, count, doff)
                    }
                } else if self.header.error_code().is_some() && self.data.is_empty() {
                    None
                } else if read {
                    items::check_data_items(self.data, count, doff)
                } else {
                    items::check_return_codes(self.data, count, doff)
                }
            }
            Rosctr::ACK => None,
            Rosctr::USERDATA => userdata::check(self.param, self.data, po, doff),
            _ => err(FindingKind::UnknownRosctr, 1),
        }
    }

    /// Function code, exactly where tshark 4.0 shows `s7comm.param.func`: the
    /// first parameter byte of a Job or Ack_Data with a non-empty parameter part.
    /// `None` for Ack, Userdata (tshark 4.0 shows no function there) and
    /// undefined ROSCTRs.
    pub fn function(&self) -> Option<Function> {
        match self.header.rosctr {
            Rosctr::JOB | Rosctr::ACK_DATA => self.param.first().map(|&b| Function(b)),
            _ => None,
        }
    }

    /// Item count, exactly where tshark 4.0 shows `s7comm.param.itemcount`:
    ///
    /// * Read Var / Write Var Job and Ack_Data: the second parameter byte
    ///   (`None` when the parameter is only one byte long);
    /// * Userdata cyclic services (group 2, subfunctions 1, 5, 7, and 8 = RDREC
    ///   in requests and responses): the item count in the data part (second
    ///   payload byte), for a unit not followed by more units whose data length
    ///   field is at least 2;
    /// * `None` everywhere else (setup communication, block functions, ...).
    pub fn item_count(&self) -> Option<u8> {
        match self.header.rosctr {
            Rosctr::JOB | Rosctr::ACK_DATA => match self.function()? {
                Function::READ_VAR | Function::WRITE_VAR => self.param.get(1).copied(),
                _ => None,
            },
            Rosctr::USERDATA => {
                let u = self.userdata()?;
                let cyclic = match u.subfunction {
                    1 | 5 | 7 => true,
                    8 => u.is_request() || u.is_response(),
                    _ => false,
                };
                if u.group != 2 || !cyclic || u.more_units() {
                    return None;
                }
                let d = UserdataData::from_data(self.data)?;
                if d.length < 2 {
                    return None;
                }
                d.payload.get(1).copied()
            }
            _ => None,
        }
    }

    /// Userdata parameter head, for ROSCTR 7 with at least 8 parameter bytes.
    ///
    /// `group` / `ud_type` follow current Wireshark (bits 5..0 / 7..6 of the
    /// type-group byte). tshark 4.0 splits that byte into nibbles instead
    /// (`s7comm.param.userdata.funcgroup` = low 4 bits, type = high 4 bits);
    /// both agree for every group below 0x10, i.e. everything but NC
    /// programming (0x3F, 4.0 shows 15) and data record routing (0x20, 4.0
    /// shows 0). [`UserdataHeader::legacy_group`] gives the 4.0 value, and
    /// [`UserdataHeader::legacy_subfunction`] the 4.0 `subfunc` (absent for the
    /// nibble group 0, mode transition).
    pub fn userdata(&self) -> Option<UserdataHeader> {
        if self.header.rosctr != Rosctr::USERDATA {
            return None;
        }
        UserdataHeader::from_param(self.param)
    }

    /// Userdata data part head and payload, for ROSCTR 7 with at least 4 data bytes.
    pub fn userdata_data(&self) -> Option<UserdataData<'a>> {
        if self.header.rosctr != Rosctr::USERDATA {
            return None;
        }
        UserdataData::from_data(self.data)
    }

    /// SZL id and index of a read-SZL userdata PDU (group 4, subfunction 1),
    /// exactly where tshark 4.0 shows `s7comm.data.userdata.szl_id` / `.szl_index`:
    ///
    /// * requests: always (when the data holds them);
    /// * responses: only with return code 0xFF (success) and only in a unit
    ///   that is not followed by more units (`last unit = 1` units show none);
    /// * `None` when the data part's length field is below 2.
    ///
    /// For the closing unit of a fragmented answer
    /// ([`UserdataHeader::is_continuation`]) tshark reassembles the units and
    /// shows the id and index of the reassembled data, i.e. of the first unit.
    /// This accessor reads the data part as it is given: it matches tshark when
    /// the caller hands in the reassembled view (first unit's data followed by
    /// the later units' payloads, the closing unit's parameter), and returns
    /// whatever the first payload bytes say on a raw closing unit.
    pub fn szl(&self) -> Option<SzlRef> {
        let u = self.userdata()?;
        if u.group != 4 || u.subfunction != codes::SUBF_CPU_READ_SZL || u.more_units() {
            return None;
        }
        let d = UserdataData::from_data(self.data)?;
        if d.length < 2 {
            return None;
        }
        let ok = match u.ud_type {
            1 => true,
            2 => d.return_code == ReturnCode::SUCCESS,
            _ => false,
        };
        if !ok {
            return None;
        }
        Some(SzlRef { id: be16(d.payload, 0)?, index: be16(d.payload, 2)? })
    }

    /// The SZL answer (list head and records) of a successful read-SZL response.
    /// Meaningful on a unit that starts a list, and on the reassembled view of a
    /// fragmented answer (see [`S7Pdu::szl`]); the records of a first unit that
    /// is followed by more units are cut at the unit's end.
    pub fn szl_response(&self) -> Option<SzlResponse<'a>> {
        let u = self.userdata()?;
        if u.group != 4 || u.subfunction != codes::SUBF_CPU_READ_SZL || !u.is_response() {
            return None;
        }
        let d = self.userdata_data()?;
        if d.return_code != ReturnCode::SUCCESS {
            return None;
        }
        SzlResponse::from_payload(d.payload)
    }

    /// Typed parameter part.
    pub fn params(&self) -> Params<'a> {
        match self.header.rosctr {
            Rosctr::JOB | Rosctr::ACK_DATA => params::decode(self.header.rosctr, self.param, self.param_offset()).0,
            Rosctr::USERDATA => match self.userdata() {
                Some(u) => Params::Userdata(u),
                None if self.param.is_empty() => Params::None,
                None => Params::Unknown(self.param),
            },
            _ if self.param.is_empty() => Params::None,
            _ => Params::Unknown(self.param),
        }
    }

    /// Variable specifications of a Read/Write Var job (empty otherwise).
    pub fn var_items(&self) -> VarItems<'a> {
        if self.header.rosctr != Rosctr::JOB {
            return VarItems::empty();
        }
        match (self.function(), self.param.get(1)) {
            (Some(Function::READ_VAR | Function::WRITE_VAR), Some(&n)) => VarItems::new(&self.param[2..], n),
            _ => VarItems::empty(),
        }
    }

    /// Data items of a Read Var Ack_Data or a Write Var Job (empty otherwise).
    pub fn data_items(&self) -> DataItems<'a> {
        let f = self.function();
        let n = self.param.get(1).copied().unwrap_or(0);
        match (self.header.rosctr, f) {
            (Rosctr::ACK_DATA, Some(Function::READ_VAR)) | (Rosctr::JOB, Some(Function::WRITE_VAR)) => {
                DataItems::new(self.data, n)
            }
            _ => DataItems::empty(),
        }
    }

    /// Per-item return codes of a Write Var Ack_Data (empty otherwise).
    pub fn write_results(&self) -> ReturnCodes<'a> {
        let n = self.param.get(1).copied().unwrap_or(0);
        match (self.header.rosctr, self.function()) {
            (Rosctr::ACK_DATA, Some(Function::WRITE_VAR)) => ReturnCodes::new(self.data, n),
            _ => ReturnCodes::new(&[], 0),
        }
    }

    /// Number of bytes requested by the S7ANY items of a Read/Write Var job
    /// (items of other syntaxes and unknown transport sizes count 0).
    pub fn requested_bytes(&self) -> u64 {
        self.var_items().filter_map(|i| i.any().and_then(|a| a.byte_len())).map(u64::from).sum()
    }

    /// Setup communication parameters (Job or Ack_Data).
    pub fn setup_comm(&self) -> Option<SetupComm> {
        match self.params() {
            Params::SetupComm(s) => Some(s),
            _ => None,
        }
    }

    /// PI service parameters (Job or Ack_Data).
    pub fn pi_service(&self) -> Option<PiService<'a>> {
        match self.params() {
            Params::PiService(p) => Some(p),
            _ => None,
        }
    }

    /// Block up/download parameters (functions 0x1A..0x1F).
    pub fn block_control(&self) -> Option<BlockControl<'a>> {
        self.params().block_control().copied()
    }

    /// The PLC block named by an up/download job's file name.
    pub fn block(&self) -> Option<BlockName> {
        self.block_control()?.block()
    }

    /// Block bytes of a Download-block or Upload Ack_Data (data part after its
    /// length and 2 unknown bytes).
    pub fn block_data(&self) -> Option<&'a [u8]> {
        match (self.header.rosctr, self.function()?) {
            (Rosctr::ACK_DATA, Function::DOWNLOAD_BLOCK | Function::UPLOAD) => self.data.get(4..),
            _ => None,
        }
    }

    /// The error the PLC answered: the header error of an Ack / Ack_Data, else
    /// the error code of an 8-byte userdata head; `None` when zero or absent.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.header.error_code().or_else(|| self.userdata().and_then(|u| u.error()))
    }

    /// Whether this is a userdata PDU of function group `group`, subfunction `sub`.
    pub fn is_userdata(&self, group: UserdataGroup, sub: u8) -> bool {
        self.userdata().is_some_and(|u| u.group == group.0 && u.subfunction == sub)
    }

    /// Userdata programmer command "memory reset" (group 1, subfunction 0x0C).
    pub fn is_memory_reset(&self) -> bool {
        self.is_userdata(UserdataGroup::PROGRAMMER, codes::SUBF_PROG_MEMORY_RESET)
    }

    /// Userdata "set clock" (group 7, subfunction 2 or 4).
    pub fn is_clock_set(&self) -> bool {
        self.is_userdata(UserdataGroup::TIME, codes::SUBF_TIME_SET)
            || self.is_userdata(UserdataGroup::TIME, codes::SUBF_TIME_SET2)
    }

    /// Userdata "PLC password" (group 5, subfunction 1).
    pub fn is_password(&self) -> bool {
        self.is_userdata(UserdataGroup::SECURITY, codes::SUBF_SEC_PASSWORD)
    }

    /// Userdata "read SZL" (group 4, subfunction 1).
    pub fn is_read_szl(&self) -> bool {
        self.is_userdata(UserdataGroup::CPU, codes::SUBF_CPU_READ_SZL)
    }

    /// The clock value of a set-clock request or a successful read-clock response.
    pub fn clock(&self) -> Option<S7Timestamp> {
        let u = self.userdata()?;
        let carries = u.group == UserdataGroup::TIME.0
            && match u.subfunction {
                codes::SUBF_TIME_SET | codes::SUBF_TIME_SET2 => u.is_request(),
                codes::SUBF_TIME_READ | codes::SUBF_TIME_READ_FOLLOWING => u.is_response(),
                _ => false,
            };
        let d = self.userdata_data()?;
        if !carries || d.return_code != ReturnCode::SUCCESS {
            return None;
        }
        S7Timestamp::from_bytes(d.payload)
    }

    /// Operating mode announced by a mode-transition userdata push (group 0).
    pub fn mode_transition(&self) -> Option<OperatingMode> {
        let u = self.userdata()?;
        (u.group == 0 && u.is_push()).then_some(OperatingMode(u.subfunction))
    }
}

#[cfg(test)]
mod tests;
