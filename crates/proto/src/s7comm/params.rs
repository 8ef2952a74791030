//! Typed parameter part of Job / Ack_Data PDUs: setup communication, read and
//! write var, block up/download, PI service, PLC stop.
//!
//! ```text
//! setup comm      F0 | reserved | max AmQ calling(2) | max AmQ called(2) | PDU length(2)
//! read/write var  04|05 | item count | items (job only)
//! req. download   1A | status | ?(2) | ?(4) | name len | file name [| part2 len | ? | load mem len(6 ASCII) | MC7 len(6 ASCII)]
//! download block  1B | status | ?(2) | ?(4) | name len | file name
//! download ended  1C | status | error code(2) | ?(4) | name len | file name
//! start upload    1D | status | ?(2) | upload id(4) | name len | file name
//! upload          1E | status | ?(2) | upload id(4)
//! end upload      1F | status | error code(2) | upload id(4)
//! PI service      28 | ?(7) | param block len(2) | param block | name len | service name
//! PI (compact)    28 | 00(5) | param block len | name len | 00 | param block | service name
//! PLC stop        29 | ?(5) | name len | service name
//! ```
//!
//! Ack_Data parameters of the block functions and of the PI service carry only
//! the function and (when present) the status byte; a Start-upload Ack_Data
//! adds the upload id and the block length as an ASCII string.
//!
//! PI service jobs come in the layout Wireshark, STEP 7, TIA Portal and the C
//! snap7 library use ([`PiLayout::Standard`]), and in others that a PLC (or an
//! emulated one) may still execute: python-snap7 3.x sends `_DELE` with one-byte
//! lengths of the block and the name after five zero bytes
//! ([`PiLayout::Compact`]); a PLC that matches the service name wherever it is
//! would execute a job of any layout naming a known service
//! ([`PiLayout::NameOnly`]). The service is recognised in every case; the
//! layouts other than the standard one also carry the finding the standard
//! parse raised, so the job is still reported as malformed.

use super::codes::{BlockType, ErrorCode};
use super::items::VarItems;
use super::userdata::UserdataHeader;
use super::{Function, Rosctr};
use crate::finding::{Finding, FindingKind, Layer};
use crate::util::ascii_str;

/// Setup Communication parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SetupComm {
    /// Reserved byte.
    pub reserved: u8,
    /// Maximum parallel jobs with acknowledgement, calling side.
    pub max_amq_calling: u16,
    /// Maximum parallel jobs with acknowledgement, called side.
    pub max_amq_called: u16,
    /// Proposed (job) or negotiated (Ack_Data) PDU size in bytes.
    pub pdu_length: u16,
}

impl SetupComm {
    /// Encode as the 8 parameter bytes (`F0 ...`).
    pub fn to_bytes(&self) -> [u8; 8] {
        let c = self.max_amq_calling.to_be_bytes();
        let d = self.max_amq_called.to_be_bytes();
        let p = self.pdu_length.to_be_bytes();
        [Function::SETUP_COMM.0, self.reserved, c[0], c[1], d[0], d[1], p[0], p[1]]
    }
}

/// A block name inside a file name: block type, number and file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockName {
    /// Block type.
    pub block_type: BlockType,
    /// Block number, `None` if the five ASCII digits do not form a number.
    pub number: Option<u32>,
    /// Destination file system: `b'P'` passive, `b'A'` active, `b'B'` both.
    pub filesys: u8,
}

impl BlockName {
    /// Decode the 8-byte form `TT NNNNN F` (type, 5-digit number, file system).
    pub fn from_bytes(b: &[u8]) -> Option<BlockName> {
        let b = b.get(..8)?;
        Some(BlockName {
            block_type: BlockType::from_ascii([b[0], b[1]]),
            number: ascii_number(&b[2..7]),
            filesys: b[7],
        })
    }
}

/// Parse up to 10 ASCII decimal digits (leading spaces allowed).
fn ascii_number(b: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    let mut any = false;
    for &c in b {
        match c {
            b' ' if !any => {}
            b'0'..=b'9' => {
                v = v.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
                any = true;
            }
            _ => return None,
        }
    }
    any.then_some(v)
}

/// A file name of an up/download function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileName<'a>(pub &'a [u8]);

impl<'a> FileName<'a> {
    /// Raw bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// As text, when it is ASCII.
    pub fn as_str(&self) -> Option<&'a str> {
        ascii_str(self.0)
    }

    /// The PLC block this file name designates: 9 bytes `_TTNNNNNF`
    /// (`_` complete module or `$` header, block type, 5-digit number, file system).
    pub fn block(&self) -> Option<BlockName> {
        if self.0.len() != 9 || !matches!(self.0[0], b'_' | b'$') {
            return None;
        }
        let b = BlockName::from_bytes(&self.0[1..])?;
        (BlockType::OB.0..=BlockType::SFB.0).contains(&b.block_type.0).then_some(b)
    }

    /// File identifier (first byte: `_` complete module, `$` module header), for PLC block names.
    pub fn ident(&self) -> Option<u8> {
        self.block().map(|_| self.0[0])
    }
}

/// Parameters of the block up/download functions (0x1A..0x1F).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockControl<'a> {
    /// Function status byte (bit 0: more data follows, bit 1: error).
    pub status: Option<u8>,
    /// Error code carried by Download-ended / End-upload jobs.
    pub error_code: Option<ErrorCode>,
    /// Upload id (Start upload, Upload, End upload).
    pub upload_id: Option<u32>,
    /// File name (Request download, Download block, Download ended, Start upload jobs).
    pub file_name: Option<FileName<'a>>,
    /// Length of the block in load memory, ASCII digits (Request download job).
    pub load_memory_len: Option<&'a [u8]>,
    /// Length of the MC7 code, ASCII digits (Request download job).
    pub mc7_len: Option<&'a [u8]>,
    /// Total block length, ASCII digits (Start upload Ack_Data).
    pub block_len: Option<&'a [u8]>,
}

impl BlockControl<'_> {
    /// Block designated by the file name, if any.
    pub fn block(&self) -> Option<BlockName> {
        self.file_name.and_then(|f| f.block())
    }

    /// Whether the status byte says more data follows.
    pub fn more_data(&self) -> bool {
        self.status.is_some_and(|s| s & 0x01 != 0)
    }

    /// Whether the status byte flags an error.
    pub fn status_error(&self) -> bool {
        self.status.is_some_and(|s| s & 0x02 != 0)
    }
}

/// Where the fields of a PI service job were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PiLayout {
    /// `28 | 7 bytes | block length(2) | block | name length | name` (Wireshark,
    /// STEP 7, TIA Portal, the C snap7 library). Also used for Ack_Data.
    #[default]
    Standard,
    /// `28 | 5 zero bytes | block length | name length | 00 | block | name`, as
    /// python-snap7 3.x (`S7Protocol.build_delete_block_request`) lays out `_DELE`:
    /// the block is one 8-byte block name without a count.
    Compact,
    /// No layout fits, but the parameter contains the name of a known service
    /// (the name is all that is known; the arguments are not decoded).
    NameOnly,
}

/// PI service (0x28) parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PiService<'a> {
    /// Status byte (Ack_Data only).
    pub status: Option<u8>,
    /// The parameter block (arguments), empty in Ack_Data.
    pub param_block: &'a [u8],
    /// Service name (`P_PROGRAM`, `_INSE`, ...), empty in Ack_Data.
    pub service: &'a [u8],
    /// Layout the job was decoded with.
    pub layout: PiLayout,
}

impl<'a> PiService<'a> {
    /// Service name as text, when ASCII.
    pub fn service_str(&self) -> Option<&'a str> {
        ascii_str(self.service)
    }

    /// Description of the service, `None` when unknown.
    pub fn description(&self) -> Option<&'static str> {
        super::codes::pi_service_description(self.service)
    }

    /// The decoded arguments, according to the service name (and the layout:
    /// a compact block list has no count, a name-only job no arguments).
    pub fn args(&self) -> PiArgs<'a> {
        let b = self.param_block;
        match self.layout {
            PiLayout::Standard => {}
            PiLayout::Compact => {
                return match self.service {
                    b"_INSE" | b"_INS2" | b"_DELE" => {
                        PiArgs::Blocks(PiBlocks { rest: b, remaining: (b.len() / 8).min(255) as u8, hex_type: true })
                    }
                    _ if b.is_empty() => PiArgs::None,
                    _ => PiArgs::Raw(b),
                };
            }
            PiLayout::NameOnly => return PiArgs::None,
        }
        match self.service {
            b"_INSE" | b"_INS2" | b"_DELE" => {
                let count = b.first().copied().unwrap_or(0);
                PiArgs::Blocks(PiBlocks { rest: b.get(2..).unwrap_or(&[]), remaining: count, hex_type: false })
            }
            b"P_PROGRAM" | b"_MODU" | b"_GARB" => PiArgs::Argument(b),
            s if s.starts_with(b"_N_") => PiArgs::Strings(PiStrings { rest: b }),
            _ if b.is_empty() => PiArgs::None,
            _ => PiArgs::Raw(b),
        }
    }
}

/// Decoded PI service arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PiArgs<'a> {
    /// No parameter block.
    None,
    /// Block list of `_INSE` / `_INS2` / `_DELE`.
    Blocks(PiBlocks<'a>),
    /// ASCII argument of `P_PROGRAM` / `_MODU` / `_GARB` (may be empty).
    Argument(&'a [u8]),
    /// Length-prefixed strings of the NC services (`_N_...`).
    Strings(PiStrings<'a>),
    /// Unknown service: raw parameter block.
    Raw(&'a [u8]),
}

/// Iterator over the block names of an `_INSE` / `_DELE` parameter block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiBlocks<'a> {
    rest: &'a [u8],
    remaining: u8,
    /// python-snap7 writes the block type as the hex text of its type letter
    /// (`41` for `A`, i.e. `0A` DB).
    hex_type: bool,
}

impl Iterator for PiBlocks<'_> {
    type Item = BlockName;

    fn next(&mut self) -> Option<BlockName> {
        if self.remaining == 0 {
            return None;
        }
        let mut b = BlockName::from_bytes(self.rest)?;
        if self.hex_type {
            let hex = core::str::from_utf8(&self.rest[..2]).ok().and_then(|t| u8::from_str_radix(t, 16).ok());
            if let Some(letter) = hex.filter(u8::is_ascii_alphanumeric) {
                b.block_type = BlockType::from_ascii([b'0', letter]);
            }
        }
        self.remaining -= 1;
        self.rest = &self.rest[8..];
        Some(b)
    }
}

/// Iterator over the length-prefixed strings of an NC PI service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiStrings<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for PiStrings<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, rest) = self.rest.split_first()?;
        let len = usize::from(len);
        let s = rest.get(..len)?;
        // A string of even length is followed by a pad byte.
        let skip = if len % 2 == 0 { len + 1 } else { len };
        self.rest = rest.get(skip..).unwrap_or(&[]);
        Some(s)
    }
}

/// PLC stop (0x29) parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlcStop<'a> {
    /// Service name (`P_PROGRAM`), empty in Ack_Data.
    pub service: &'a [u8],
}

/// Typed parameter part of a PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Params<'a> {
    /// No parameter bytes (Ack, or an empty parameter part).
    None,
    /// Setup communication (job or Ack_Data).
    SetupComm(SetupComm),
    /// Read Var; the items are present in jobs only (empty iterator in Ack_Data).
    ReadVar {
        /// Announced item count.
        item_count: u8,
        /// Variable specifications.
        items: VarItems<'a>,
    },
    /// Write Var; the items are present in jobs only (empty iterator in Ack_Data).
    WriteVar {
        /// Announced item count.
        item_count: u8,
        /// Variable specifications.
        items: VarItems<'a>,
    },
    /// Request download (0x1A).
    RequestDownload(BlockControl<'a>),
    /// Download block (0x1B).
    DownloadBlock(BlockControl<'a>),
    /// Download ended (0x1C).
    DownloadEnded(BlockControl<'a>),
    /// Start upload (0x1D).
    StartUpload(BlockControl<'a>),
    /// Upload (0x1E).
    Upload(BlockControl<'a>),
    /// End upload (0x1F).
    EndUpload(BlockControl<'a>),
    /// PI service (0x28).
    PiService(PiService<'a>),
    /// PLC stop (0x29).
    PlcStop(PlcStop<'a>),
    /// Userdata parameter head.
    Userdata(UserdataHeader),
    /// A parameter part that could not be decoded (unknown function, unknown
    /// ROSCTR, or too short to hold the function's fields): raw bytes.
    Unknown(&'a [u8]),
}

impl<'a> Params<'a> {
    /// Block up/download parameters, for functions 0x1A..0x1F.
    pub fn block_control(&self) -> Option<&BlockControl<'a>> {
        match self {
            Params::RequestDownload(b)
            | Params::DownloadBlock(b)
            | Params::DownloadEnded(b)
            | Params::StartUpload(b)
            | Params::Upload(b)
            | Params::EndUpload(b) => Some(b),
            _ => None,
        }
    }
}

/// Bounded sequential reader over the parameter bytes; errors carry PDU offsets.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Cur<'a> {
    fn err(&self, kind: FindingKind, at: usize) -> Finding {
        Finding::new(Layer::S7comm, kind, self.base + at)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Finding> {
        let s = self.b.get(self.pos..self.pos + n).ok_or_else(|| self.err(FindingKind::Truncated, self.b.len()))?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Finding> {
        Ok(self.take(1)?[0])
    }
    fn be16(&mut self) -> Result<u16, Finding> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn be32(&mut self) -> Result<u32, Finding> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    /// A byte-length-prefixed field; a length past the end is `LengthBeyondEnd` at the length byte.
    fn prefixed8(&mut self) -> Result<&'a [u8], Finding> {
        let at = self.pos;
        let n = usize::from(self.u8()?);
        self.take(n).map_err(|_| self.err(FindingKind::LengthBeyondEnd, at))
    }
    /// A u16-length-prefixed field.
    fn prefixed16(&mut self) -> Result<&'a [u8], Finding> {
        let at = self.pos;
        let n = usize::from(self.be16()?);
        self.take(n).map_err(|_| self.err(FindingKind::LengthBeyondEnd, at))
    }
    fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.pos)
    }
}

/// Decode the parameter part of a Job / Ack_Data. `base` is the parameter's
/// offset from the PDU start. Returns what could be decoded plus the first
/// violation found in the parameter itself (items are checked separately).
pub(crate) fn decode(rosctr: Rosctr, param: &[u8], base: usize) -> (Params<'_>, Option<Finding>) {
    let Some(&func) = param.first() else {
        return (Params::None, None);
    };
    let job = rosctr == Rosctr::JOB;
    let mut c = Cur { b: param, pos: 1, base };
    let unknown = Params::Unknown(param);
    match Function(func) {
        Function::SETUP_COMM => {
            let r = (|| {
                Ok(SetupComm {
                    reserved: c.u8()?,
                    max_amq_calling: c.be16()?,
                    max_amq_called: c.be16()?,
                    pdu_length: c.be16()?,
                })
            })();
            match r {
                Ok(s) => (Params::SetupComm(s), None),
                Err(f) => (unknown, Some(f)),
            }
        }
        Function::READ_VAR | Function::WRITE_VAR => {
            let Some(&count) = param.get(1) else {
                return (unknown, Some(c.err(FindingKind::Truncated, 1)));
            };
            let items = if job { VarItems::new(&param[2..], count) } else { VarItems::empty() };
            if Function(func) == Function::READ_VAR {
                (Params::ReadVar { item_count: count, items }, None)
            } else {
                (Params::WriteVar { item_count: count, items }, None)
            }
        }
        f @ (Function::REQUEST_DOWNLOAD
        | Function::DOWNLOAD_BLOCK
        | Function::DOWNLOAD_ENDED
        | Function::START_UPLOAD
        | Function::UPLOAD
        | Function::END_UPLOAD) => {
            let mut bc = BlockControl::default();
            let r = if job { block_job(f, &mut c, &mut bc) } else { block_ack(f, &mut c, &mut bc) };
            let p = match f {
                Function::REQUEST_DOWNLOAD => Params::RequestDownload(bc),
                Function::DOWNLOAD_BLOCK => Params::DownloadBlock(bc),
                Function::DOWNLOAD_ENDED => Params::DownloadEnded(bc),
                Function::START_UPLOAD => Params::StartUpload(bc),
                Function::UPLOAD => Params::Upload(bc),
                _ => Params::EndUpload(bc),
            };
            (p, r.err())
        }
        Function::PI_SERVICE => {
            if !job {
                let status = param.get(1).copied();
                let pi = PiService { status, param_block: &[], service: &[], layout: PiLayout::Standard };
                return (Params::PiService(pi), None);
            }
            let r = (|| {
                c.take(7)?;
                if c.remaining() == 0 {
                    return Ok(PiService { status: None, param_block: &[], service: &[], layout: PiLayout::Standard });
                }
                let param_block = c.prefixed16()?;
                let service = c.prefixed8()?;
                Ok(PiService { status: None, param_block, service, layout: PiLayout::Standard })
            })();
            match r {
                Ok(pi) if pi_service_known(pi.service) => {
                    let f = check_pi_args(&pi, base + 10);
                    (Params::PiService(pi), f)
                }
                // The standard layout names no known service: another layout may.
                r => match (pi_other_layout(param), r) {
                    (Some(pi), Ok(_)) => {
                        (Params::PiService(pi), Some(Finding::new(Layer::S7comm, FindingKind::BadItem, base + 10)))
                    }
                    (Some(pi), Err(f)) => (Params::PiService(pi), Some(f)),
                    (None, Ok(pi)) => {
                        let f = check_pi_args(&pi, base + 10);
                        (Params::PiService(pi), f)
                    }
                    (None, Err(f)) => (unknown, Some(f)),
                },
            }
        }
        Function::PLC_STOP => {
            if !job {
                return (Params::PlcStop(PlcStop { service: &[] }), None);
            }
            let r = (|| {
                c.take(5)?;
                c.prefixed8()
            })();
            match r {
                Ok(service) => (Params::PlcStop(PlcStop { service }), None),
                Err(f) => (unknown, Some(f)),
            }
        }
        Function::CPU_SERVICES | Function::MODE_TRANSITION => (unknown, None),
        _ => (unknown, Some(Finding::new(Layer::S7comm, FindingKind::UnknownFunction, base))),
    }
}

fn block_job<'a>(f: Function, c: &mut Cur<'a>, bc: &mut BlockControl<'a>) -> Result<(), Finding> {
    bc.status = Some(c.u8()?);
    match f {
        Function::DOWNLOAD_ENDED | Function::END_UPLOAD => bc.error_code = Some(ErrorCode(c.be16()?)),
        _ => {
            c.take(2)?;
        }
    }
    match f {
        Function::START_UPLOAD | Function::UPLOAD | Function::END_UPLOAD => bc.upload_id = Some(c.be32()?),
        _ => {
            c.take(4)?;
        }
    }
    if matches!(f, Function::UPLOAD | Function::END_UPLOAD) {
        return Ok(());
    }
    bc.file_name = Some(FileName(c.prefixed8()?));
    if f == Function::REQUEST_DOWNLOAD && c.b.len() > 18 && c.remaining() > 0 {
        let _part2_len = c.u8()?;
        let _unknown = c.u8()?;
        bc.load_memory_len = Some(c.take(6)?);
        bc.mc7_len = Some(c.take(6)?);
    }
    Ok(())
}

fn block_ack<'a>(f: Function, c: &mut Cur<'a>, bc: &mut BlockControl<'a>) -> Result<(), Finding> {
    if f == Function::START_UPLOAD {
        bc.status = Some(c.u8()?);
        c.take(2)?;
        bc.upload_id = Some(c.be32()?);
        if c.b.len() > 8 {
            bc.block_len = Some(c.prefixed8()?);
        }
    } else if c.remaining() > 0 {
        bc.status = Some(c.u8()?);
    }
    Ok(())
}

/// Whether `name` is a PI service name the S7 references list.
fn pi_service_known(name: &[u8]) -> bool {
    super::codes::pi_service_description(name).is_some()
}

/// Services whose name alone is looked for in a job of no known layout:
/// those that start, delete, activate or copy the program.
const PI_NAMES_SCANNED: &[&[u8]] = &[b"P_PROGRAM", b"_DELE", b"_INSE", b"_INS2", b"_MODU", b"_GARB"];

/// A PI service job (`param`, function byte included) in a layout other than the
/// standard one, naming a known service: the compact layout first, then a scan
/// for the name of a program-changing service.
fn pi_other_layout(param: &[u8]) -> Option<PiService<'_>> {
    // Compact: 28 | 00 00 00 00 00 | block len | name len | 00 | block | name.
    if let [_, 0, 0, 0, 0, 0, blen, nlen, 0, rest @ ..] = param {
        let (blen, nlen) = (usize::from(*blen), usize::from(*nlen));
        if rest.len() == blen + nlen {
            let (param_block, service) = rest.split_at(blen);
            if pi_service_known(service) {
                return Some(PiService { status: None, param_block, service, layout: PiLayout::Compact });
            }
        }
    }
    let body = param.get(1..)?;
    PI_NAMES_SCANNED.iter().find_map(|name| {
        let at = body.windows(name.len()).position(|w| w == *name)?;
        let service = &body[at..at + name.len()];
        Some(PiService { status: None, param_block: &[], service, layout: PiLayout::NameOnly })
    })
}

/// Consistency of the PI argument block (`base`: PDU offset of the block).
fn check_pi_args(pi: &PiService<'_>, base: usize) -> Option<Finding> {
    if let PiArgs::Blocks(_) = pi.args() {
        let b = pi.param_block;
        let count = usize::from(*b.first()?);
        if b.len() != 2 + 8 * count {
            return Some(Finding::new(Layer::S7comm, FindingKind::BadItem, base));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let f = FileName(b"_0A00001P");
        let b = f.block().unwrap();
        assert_eq!(b.block_type, BlockType::DB);
        assert_eq!(b.number, Some(1));
        assert_eq!(b.filesys, b'P');
        assert_eq!(f.ident(), Some(b'_'));
        assert_eq!(FileName(b"_0X00001P").block(), None);
        assert_eq!(FileName(b"/_N_MPF_DIR").block(), None);
        assert_eq!(ascii_number(b"  123"), Some(123));
        assert_eq!(ascii_number(b"1a"), None);
    }

    #[test]
    fn pi_strings() {
        let pi = PiService {
            status: None,
            param_block: b"\x01P\x02ab\x00\x03xyz",
            service: b"_N_F_DELE",
            layout: PiLayout::Standard,
        };
        let PiArgs::Strings(s) = pi.args() else { panic!() };
        let v: [&[u8]; 3] = {
            let mut s = s;
            [s.next().unwrap(), s.next().unwrap(), s.next().unwrap()]
        };
        assert_eq!(v, [&b"P"[..], b"ab", b"xyz"]);
    }
}
