//! S7comm-plus (protocol id 0x72), the protocol of S7-1200/1500 and TIA Portal.
//!
//! Field meanings follow the s7commwireshark plug-in (read for facts only) and
//! `research/advisories-and-wire-format.md` §2.4.
//!
//! ```text
//! 0:1 0x72 | 1:1 version (1, 2, 3, 0xFE system event, 0xFF keep-alive) | 2:2 data length
//! data (data length bytes) | trailer 72 <version> 00 00 (last fragment only)
//!
//! data, V3:        20 (digest length) | digest(32) | header ...
//! data, V1/V2:     header ...
//! header:          opcode | reserved(2) | function(2) | reserved(2) | sequence(2)
//!                  [| session id(4)] (requests) | transport flags | payload
//! V2 integrity:    at the end of the payload: integrity id (VLQ) | 20 | digest(32)
//! V3 integrity id: at the end of the payload: integrity id (VLQ)
//! keep-alive:      72 FF | sequence | reserved
//! ```
//!
//! A frame without trailer is the first or an inner fragment of a message that
//! continues in the next frame(s); the frame with the trailer closes it. Inner
//! and closing fragments start with continuation bytes, not with a header, so a
//! stateless parser cannot tell a closing fragment from a whole message: the
//! header fields decoded here are meaningful for the first fragment and for
//! unfragmented messages only (the caller tracks continuation). V3 frames carry
//! the digest in every fragment.
//!
//! Integers inside the payload use the plug-in's variable-length encoding
//! (VLQ): 7 bits per byte, most significant group first, bit 7 set on all but
//! the last byte; see [`read_vlq_u32`] and friends.

use crate::finding::{Finding, FindingKind, Layer};
use crate::util::{be16, be32};

/// S7comm-plus protocol identifier.
pub const PROTOCOL_ID: u8 = 0x72;
/// Length of the frame header (`72 vv len len`).
pub const HEADER_LEN: usize = 4;
/// Length of the trailer (`72 vv 00 00`).
pub const TRAILER_LEN: usize = 4;
/// The only digest length S7-1500 uses (SHA-256).
pub const DIGEST_LEN: u8 = 32;

/// Protocol version byte. Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub u8);

impl Version {
    /// V1 (session setup, old firmware).
    pub const V1: Version = Version(0x01);
    /// V2 (integrity id + digest).
    pub const V2: Version = Version(0x02);
    /// V3 (digest at the start of the data).
    pub const V3: Version = Version(0x03);
    /// System event.
    pub const SYSTEM_EVENT: Version = Version(0xFE);
    /// Keep-alive.
    pub const KEEP_ALIVE: Version = Version(0xFF);
    /// Name, `None` for unknown versions.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x01 => "V1",
            0x02 => "V2",
            0x03 => "V3",
            0xFE => "system_event",
            0xFF => "keep_alive",
            _ => return None,
        })
    }
}

/// Opcode (first data byte). Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Opcode(pub u8);

impl Opcode {
    /// Request.
    pub const REQUEST: Opcode = Opcode(0x31);
    /// Response.
    pub const RESPONSE: Opcode = Opcode(0x32);
    /// Notification.
    pub const NOTIFICATION: Opcode = Opcode(0x33);
    /// Response2.
    pub const RESPONSE2: Opcode = Opcode(0x02);
    /// Name, `None` for unknown opcodes.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x31 => "request",
            0x32 => "response",
            0x33 => "notification",
            0x02 => "response2",
            _ => return None,
        })
    }
}

/// Function code (u16). Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlusFunction(pub u16);

impl PlusFunction {
    /// Error.
    pub const ERROR: PlusFunction = PlusFunction(0x04B1);
    /// Explore (browse the object tree).
    pub const EXPLORE: PlusFunction = PlusFunction(0x04BB);
    /// CreateObject.
    pub const CREATE_OBJECT: PlusFunction = PlusFunction(0x04CA);
    /// DeleteObject.
    pub const DELETE_OBJECT: PlusFunction = PlusFunction(0x04D4);
    /// SetVariable.
    pub const SET_VARIABLE: PlusFunction = PlusFunction(0x04F2);
    /// GetVariable (old S7-1200 firmware).
    pub const GET_VARIABLE: PlusFunction = PlusFunction(0x04FC);
    /// AddLink.
    pub const ADD_LINK: PlusFunction = PlusFunction(0x0506);
    /// RemoveLink.
    pub const REMOVE_LINK: PlusFunction = PlusFunction(0x051A);
    /// GetLink.
    pub const GET_LINK: PlusFunction = PlusFunction(0x0524);
    /// SetMultiVariables.
    pub const SET_MULTI_VARIABLES: PlusFunction = PlusFunction(0x0542);
    /// GetMultiVariables.
    pub const GET_MULTI_VARIABLES: PlusFunction = PlusFunction(0x054C);
    /// BeginSequence.
    pub const BEGIN_SEQUENCE: PlusFunction = PlusFunction(0x0556);
    /// EndSequence.
    pub const END_SEQUENCE: PlusFunction = PlusFunction(0x0560);
    /// Invoke.
    pub const INVOKE: PlusFunction = PlusFunction(0x056B);
    /// SetVarSubStreamed.
    pub const SET_VAR_SUB_STREAMED: PlusFunction = PlusFunction(0x057C);
    /// GetVarSubStreamed.
    pub const GET_VAR_SUB_STREAMED: PlusFunction = PlusFunction(0x0586);
    /// GetVariablesAddress.
    pub const GET_VARIABLES_ADDRESS: PlusFunction = PlusFunction(0x0590);
    /// Abort.
    pub const ABORT: PlusFunction = PlusFunction(0x059A);
    /// Error2.
    pub const ERROR2: PlusFunction = PlusFunction(0x05A9);
    /// InitSSL: the rest of the connection is TLS.
    pub const INIT_SSL: PlusFunction = PlusFunction(0x05B3);
    /// Name, `None` for unknown codes.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x04B1 => "Error",
            0x04BB => "Explore",
            0x04CA => "CreateObject",
            0x04D4 => "DeleteObject",
            0x04F2 => "SetVariable",
            0x04FC => "GetVariable",
            0x0506 => "AddLink",
            0x051A => "RemoveLink",
            0x0524 => "GetLink",
            0x0542 => "SetMultiVariables",
            0x054C => "GetMultiVariables",
            0x0556 => "BeginSequence",
            0x0560 => "EndSequence",
            0x056B => "Invoke",
            0x057C => "SetVarSubStreamed",
            0x0586 => "GetVarSubStreamed",
            0x0590 => "GetVariablesAddress",
            0x059A => "Abort",
            0x05A9 => "Error2",
            0x05B3 => "InitSsl",
            _ => return None,
        })
    }
}

/// Well-known object and attribute ids (names after the plug-in's id table).
pub mod ids {
    /// `NativeObjects.theCPUexecUnit_Rid`: the CPU execution unit object.
    pub const CPU_EXEC_UNIT: u32 = 52;
    /// `CPUexecUnit.OperatingStateREQ`: requested operating state (1 stop, 3 run).
    pub const OPERATING_STATE_REQ: u32 = 2167;
    /// `ObjectServerSessionContainer`.
    pub const SERVER_SESSION_CONTAINER: u32 = 285;
    /// `ObjectNullServerSession`: session id used before a session exists.
    pub const NULL_SERVER_SESSION: u32 = 288;
    /// `ServerSessionChallenge`.
    pub const SERVER_SESSION_CHALLENGE: u32 = 303;
    /// `ServerSessionResponse` (legacy legitimation).
    pub const SERVER_SESSION_RESPONSE: u32 = 304;
    /// `ServerSessionVersion`.
    pub const SERVER_SESSION_VERSION: u32 = 306;
    /// `ObjectQualifier`.
    pub const OBJECT_QUALIFIER: u32 = 1256;
    /// `Legitimate` (legitimation with the access-protection password).
    pub const LEGITIMATE: u32 = 1846;
}

/// Operating state value requested by a stop.
pub const OPERATING_STATE_STOP: i64 = 1;
/// Operating state value requested by a start (run).
pub const OPERATING_STATE_RUN: i64 = 3;

/// One S7comm-plus frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlusFrame<'a> {
    /// Protocol version.
    pub version: Version,
    /// Declared data length.
    pub data_len: u16,
    /// Data bytes (cut to the bytes present when the declared length runs past the end).
    pub data: &'a [u8],
    /// Whether a trailer `72 vv 00 00` closes the frame.
    pub has_trailer: bool,
    /// Opcode, when the data holds a header.
    pub opcode: Option<Opcode>,
    /// Function, when present (requests and responses).
    pub function: Option<PlusFunction>,
    /// Sequence number, when present.
    pub seq: Option<u16>,
    /// Session id (requests).
    pub session_id: Option<u32>,
    /// Integrity digest length (V3), when present.
    pub digest_len: Option<u8>,
    /// First structural violation, if any.
    pub finding: Option<Finding>,
    /// The V3 digest (32 bytes) at the start of the data, when present.
    pub digest: Option<&'a [u8]>,
    /// The data after the V3 integrity part (the whole data for other versions):
    /// the header of a first fragment, continuation bytes otherwise.
    pub body: &'a [u8],
    /// Transport flags byte of a request / response header.
    pub transport_flags: Option<u8>,
}

/// Parse one S7comm-plus frame (complete parser over one reassembled COTP DT payload).
///
/// Errors (offsets from the frame start): `UnknownProtocol` (byte 0 not 0x72),
/// `Truncated` (fewer than 4 bytes). Everything else returns the frame with
/// [`PlusFrame::finding`] set to the first violation:
///
/// * `BadVersion` (offset 1): unknown version byte; nothing else is decoded;
/// * `LengthBeyondEnd` (offset 2): the data length runs past the end (the data
///   is cut to the bytes present);
/// * `BadTrailer` (offset of the trailer): 1..3 bytes after the data, or 4
///   bytes that are not `72 <version> 00 00`;
/// * `LengthMismatch`: more than 4 bytes after the data (a system event must
///   have none);
/// * `BadDigestLength` (offset 4): a V3 frame whose data starts neither with
///   digest length 32 followed by 32 digest bytes nor, as on old firmware
///   without integrity, directly with a known opcode.
///
/// No trailer at all is legitimate (first or inner fragment) and is not a finding.
pub fn parse_s7plus(i: &[u8]) -> Result<PlusFrame<'_>, Finding> {
    let err = |k, o| Finding::new(Layer::S7commPlus, k, o);
    if i.first() != Some(&PROTOCOL_ID) {
        return Err(err(FindingKind::UnknownProtocol, 0));
    }
    if i.len() < HEADER_LEN {
        return Err(err(FindingKind::Truncated, i.len()));
    }
    let version = Version(i[1]);
    let data_len = be16(i, 2).unwrap_or(0);
    let mut f = PlusFrame {
        version,
        data_len,
        data: &[],
        has_trailer: false,
        opcode: None,
        function: None,
        seq: None,
        session_id: None,
        digest_len: None,
        finding: None,
        digest: None,
        body: &[],
        transport_flags: None,
    };
    if version == Version::KEEP_ALIVE {
        return Ok(f);
    }
    if version.name().is_none() {
        f.finding = Some(err(FindingKind::BadVersion, 1));
        return Ok(f);
    }
    let end = HEADER_LEN + usize::from(data_len);
    if end > i.len() {
        f.finding = Some(err(FindingKind::LengthBeyondEnd, 2));
    }
    f.data = &i[HEADER_LEN..end.min(i.len())];
    f.body = f.data;
    let tail = i.get(end..).unwrap_or(&[]);
    if version == Version::SYSTEM_EVENT {
        if !tail.is_empty() && f.finding.is_none() {
            f.finding = Some(err(FindingKind::LengthMismatch, end));
        }
        return Ok(f);
    }
    f.has_trailer =
        tail.len() == TRAILER_LEN && tail[0] == PROTOCOL_ID && tail[1] == version.0 && tail[2] == 0 && tail[3] == 0;
    let tail_finding = match tail.len() {
        0 => None,
        TRAILER_LEN if f.has_trailer => None,
        n if n <= TRAILER_LEN => Some(err(FindingKind::BadTrailer, end)),
        _ => Some(err(FindingKind::LengthMismatch, end)),
    };
    if f.finding.is_none() {
        f.finding = tail_finding;
    }
    if version == Version::V3 {
        match f.data.first() {
            Some(&DIGEST_LEN) if f.data.len() > usize::from(DIGEST_LEN) => {
                f.digest_len = Some(DIGEST_LEN);
                f.digest = Some(&f.data[1..1 + usize::from(DIGEST_LEN)]);
                f.body = &f.data[1 + usize::from(DIGEST_LEN)..];
            }
            Some(&op) if Opcode(op).name().is_some() => {}
            None => {}
            Some(_) if f.finding.is_none() => f.finding = Some(err(FindingKind::BadDigestLength, HEADER_LEN)),
            Some(_) => {}
        }
    }
    decode_header(&mut f);
    Ok(f)
}

/// Fill opcode, function, sequence number, session id and transport flags from `f.body`.
fn decode_header(f: &mut PlusFrame<'_>) {
    let d = f.body;
    let Some(&op) = d.first() else { return };
    f.opcode = Some(Opcode(op));
    match Opcode(op) {
        Opcode::REQUEST | Opcode::RESPONSE | Opcode::RESPONSE2 if d.len() >= 9 => {
            f.function = be16(d, 3).map(PlusFunction);
            f.seq = be16(d, 7);
            if Opcode(op) == Opcode::REQUEST {
                f.session_id = be32(d, 9);
                f.transport_flags = d.get(13).copied();
            } else {
                f.transport_flags = d.get(9).copied();
            }
        }
        _ => {}
    }
}

impl<'a> PlusFrame<'a> {
    /// Keep-alive frame.
    pub const fn is_keep_alive(&self) -> bool {
        self.version.0 == Version::KEEP_ALIVE.0
    }

    /// System event frame.
    pub const fn is_system_event(&self) -> bool {
        self.version.0 == Version::SYSTEM_EVENT.0
    }

    /// Whether this frame is the first or an inner fragment (no trailer; not a
    /// keep-alive or system event, which never carry one).
    pub const fn is_fragment(&self) -> bool {
        !self.has_trailer && matches!(self.version.0, 1..=3)
    }

    /// InitSSL request or response (function 0x05B3): after it, the connection carries TLS.
    pub fn is_init_ssl(&self) -> bool {
        self.function == Some(PlusFunction::INIT_SSL)
    }

    /// Bytes after the request / response header (after the transport flags),
    /// or after the opcode of a notification.
    pub fn payload(&self) -> Option<&'a [u8]> {
        match self.opcode? {
            Opcode::REQUEST => self.body.get(14..),
            Opcode::RESPONSE | Opcode::RESPONSE2 => self.body.get(10..),
            Opcode::NOTIFICATION => self.body.get(1..),
            _ => None,
        }
    }

    /// Target object id of a DeleteObject request (the first field of its payload).
    pub fn delete_object_id(&self) -> Option<u32> {
        if self.opcode != Some(Opcode::REQUEST) || self.function != Some(PlusFunction::DELETE_OBJECT) {
            return None;
        }
        be32(self.payload()?, 0)
    }

    /// Return value of a response (opcode 0x32 / 0x02): the 64-bit VLQ that
    /// opens the payload of every decoded response function (0 = success; the
    /// low 16 bits, read as `i16`, are the error code, see [`Self::error_code`]).
    pub fn return_value(&self) -> Option<u64> {
        if !matches!(self.opcode, Some(Opcode::RESPONSE | Opcode::RESPONSE2)) {
            return None;
        }
        match self.function? {
            PlusFunction::ADD_LINK
            | PlusFunction::REMOVE_LINK
            | PlusFunction::GET_VARIABLES_ADDRESS
            | PlusFunction::ABORT => None,
            f if f.name().is_some() => read_vlq_u64(self.payload()?).map(|(v, _)| v),
            _ => None,
        }
    }

    /// Error code of a response: the low 16 bits of [`Self::return_value`] as a
    /// signed number (negative values are errors), `None` when there is none.
    pub fn error_code(&self) -> Option<i16> {
        self.return_value().map(|v| v as u16 as i16)
    }

    /// Decode a SetVariable request (opcode 0x31, function 0x04F2).
    pub fn set_variable(&self) -> Option<SetVariable<'a>> {
        if self.opcode != Some(Opcode::REQUEST) || self.function != Some(PlusFunction::SET_VARIABLE) {
            return None;
        }
        SetVariable::from_payload(self.payload()?)
    }

    /// The requested operating state when this is a SetVariable on
    /// `theCPUexecUnit_Rid` (52), attribute `OperatingStateREQ` (2167):
    /// [`OPERATING_STATE_STOP`] (1), [`OPERATING_STATE_RUN`] (3), ...
    pub fn operating_state_request(&self) -> Option<i64> {
        let sv = self.set_variable()?;
        if sv.object_id == ids::CPU_EXEC_UNIT && sv.attribute_id == ids::OPERATING_STATE_REQ {
            sv.value.as_i64()
        } else {
            None
        }
    }

    /// Order number and firmware string (`6ES7 512-1DM03-0AB0;V4.1`) carried in
    /// a CreateObject response.
    pub fn order_number(&self) -> Option<OrderNumber<'a>> {
        if !matches!(self.opcode, Some(Opcode::RESPONSE | Opcode::RESPONSE2))
            || self.function != Some(PlusFunction::CREATE_OBJECT)
        {
            return None;
        }
        find_order_number(self.body)
    }

    /// Best-effort location of a V2 integrity part at the end of the data:
    /// integrity id (VLQ), digest length 32, 32 digest bytes. Returns the
    /// integrity id and the digest. Heuristic: the full message must be in this
    /// frame and its last 33 bytes must look like `20 <digest>` preceded by a
    /// VLQ; old S7-1200 firmware sends V2 without integrity part.
    pub fn v2_integrity(&self) -> Option<(u32, &'a [u8])> {
        if self.version != Version::V2 || !self.has_trailer {
            return None;
        }
        let d = self.data;
        let n = d.len().checked_sub(1 + usize::from(DIGEST_LEN))?;
        if d[n] != DIGEST_LEN || n == 0 || d[n - 1] & 0x80 != 0 {
            return None;
        }
        // Walk back over the VLQ's continuation bytes (at most 4 more).
        let mut start = n - 1;
        while start > 0 && n - start < 5 && d[start - 1] & 0x80 != 0 {
            start -= 1;
        }
        let (id, used) = read_vlq_u32(&d[start..n])?;
        (used == n - start).then_some((id, &d[n + 1..]))
    }
}

/// A decoded SetVariable request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetVariable<'a> {
    /// Target object id.
    pub object_id: u32,
    /// Number of address fields announced.
    pub address_count: u32,
    /// The (first) attribute id.
    pub attribute_id: u32,
    /// The value written.
    pub value: PlusValue<'a>,
}

impl<'a> SetVariable<'a> {
    /// Decode from the request payload (after the transport flags):
    /// object id(4) | address count (VLQ) | address ids (VLQ; an id 0 is followed
    /// by a raw length VLQ and counts twice) | value.
    pub fn from_payload(p: &'a [u8]) -> Option<SetVariable<'a>> {
        let object_id = be32(p, 0)?;
        let mut off = 4;
        let (address_count, n) = read_vlq_u32(p.get(off..)?)?;
        off += n;
        let mut attribute_id = None;
        let mut i = 0u32;
        while i < address_count {
            let (id, n) = read_vlq_u32(p.get(off..)?)?;
            off += n;
            if id == 0 {
                let (_, n) = read_vlq_u32(p.get(off..)?)?;
                off += n;
                i += 1;
            } else if attribute_id.is_none() {
                attribute_id = Some(id);
            }
            i += 1;
            if i > 64 {
                return None;
            }
        }
        let value = PlusValue::from_bytes(p.get(off..)?)?;
        Some(SetVariable { object_id, address_count, attribute_id: attribute_id?, value })
    }
}

/// A value in S7comm-plus encoding: datatype flags, datatype, value bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlusValue<'a> {
    /// Datatype flags (0x10 array, 0x20 address array, 0x40 sparse array).
    pub flags: u8,
    /// Datatype (0x01 Bool, 0x08 DInt, 0x15 WString, ...).
    pub datatype: u8,
    /// The value bytes: exactly the scalar's bytes for known scalar types,
    /// everything that follows otherwise.
    pub raw: &'a [u8],
}

impl<'a> PlusValue<'a> {
    /// Decode flags, datatype and (for scalars) the value's extent.
    pub fn from_bytes(b: &'a [u8]) -> Option<PlusValue<'a>> {
        let (&flags, rest) = b.split_first()?;
        let (&datatype, rest) = rest.split_first()?;
        let len = if flags == 0 { scalar_len(datatype, rest) } else { None };
        let raw = match len {
            Some(n) => rest.get(..n)?,
            None => rest,
        };
        Some(PlusValue { flags, datatype, raw })
    }

    /// Name of the datatype, `None` when unknown.
    pub const fn datatype_name(&self) -> Option<&'static str> {
        Some(match self.datatype {
            0x00 => "Null",
            0x01 => "Bool",
            0x02 => "USInt",
            0x03 => "UInt",
            0x04 => "UDInt",
            0x05 => "ULInt",
            0x06 => "SInt",
            0x07 => "Int",
            0x08 => "DInt",
            0x09 => "LInt",
            0x0A => "Byte",
            0x0B => "Word",
            0x0C => "DWord",
            0x0D => "LWord",
            0x0E => "Real",
            0x0F => "LReal",
            0x10 => "Timestamp",
            0x11 => "Timespan",
            0x12 => "RID",
            0x13 => "AID",
            0x14 => "Blob",
            0x15 => "WString",
            0x16 => "Variant",
            0x17 => "Struct",
            0x19 => "S7String",
            _ => return None,
        })
    }

    /// The value as a signed integer, for scalar integer types (Bool, [U|S]Int,
    /// DInt, LInt, Byte/Word/DWord/LWord, RID, AID, Timespan).
    pub fn as_i64(&self) -> Option<i64> {
        if self.flags != 0 {
            return None;
        }
        let r = self.raw;
        let fixed = |n: usize| -> Option<u64> {
            let b = r.get(..n)?;
            Some(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
        };
        Some(match self.datatype {
            0x01 | 0x02 | 0x0A => fixed(1)? as i64,
            0x06 => r.first().map(|&x| i64::from(x as i8))?,
            0x03 | 0x0B => fixed(2)? as i64,
            0x07 => i64::from(i16::from_be_bytes([*r.first()?, *r.get(1)?])),
            0x0C | 0x12 => fixed(4)? as i64,
            0x0D => fixed(8)? as i64,
            0x04 | 0x13 => i64::from(read_vlq_u32(r)?.0),
            0x05 => read_vlq_u64(r)?.0 as i64,
            0x08 => i64::from(read_vlq_i32(r)?.0),
            0x09 | 0x11 => read_vlq_i64(r)?.0,
            _ => return None,
        })
    }
}

/// Byte length of a scalar of `datatype` at the start of `b`, `None` for non-scalars.
fn scalar_len(datatype: u8, b: &[u8]) -> Option<usize> {
    Some(match datatype {
        0x00 => 0,
        0x01 | 0x02 | 0x06 | 0x0A => 1,
        0x03 | 0x07 | 0x0B => 2,
        0x0C | 0x0E | 0x12 => 4,
        0x0D | 0x0F | 0x10 => 8,
        0x04 | 0x13 => read_vlq_u32(b)?.1,
        0x08 => read_vlq_i32(b)?.1,
        0x05 => read_vlq_u64(b)?.1,
        0x09 | 0x11 => read_vlq_i64(b)?.1,
        _ => return None,
    })
}

/// An ASCII order number, optionally followed by `;V<firmware>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrderNumber<'a> {
    /// The order number, e.g. `6ES7 512-1DM03-0AB0`.
    pub order_number: &'a str,
    /// The firmware version after `;`, e.g. `V4.1`.
    pub firmware: Option<&'a str>,
}

/// Scan `b` for a Siemens order number (`6xxx nnn-nnnnn-nnnn`, 19 characters)
/// optionally followed by spaces, `;` and a version `V<digits and dots>`.
pub fn find_order_number(b: &[u8]) -> Option<OrderNumber<'_>> {
    const LEN: usize = 19;
    let is_an = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let matches = |w: &[u8]| {
        w[0] == b'6'
            && w[1..4].iter().all(|&c| is_an(c))
            && w[4] == b' '
            && w[5..8].iter().all(u8::is_ascii_digit)
            && w[8] == b'-'
            && w[9..14].iter().all(|&c| is_an(c))
            && w[14] == b'-'
            && w[15..19].iter().all(|&c| is_an(c))
    };
    let start = b.windows(LEN).position(matches)?;
    let order_number = core::str::from_utf8(&b[start..start + LEN]).ok()?;
    let mut rest = &b[start + LEN..];
    while let [b' ', r @ ..] = rest {
        rest = r;
    }
    let firmware = match rest {
        [b';', b'V', r @ ..] => {
            let n = r.iter().take_while(|c| c.is_ascii_digit() || **c == b'.').count();
            (n > 0).then(|| core::str::from_utf8(&rest[1..2 + n]).ok()).flatten()
        }
        _ => None,
    };
    Some(OrderNumber { order_number, firmware })
}

/// Read an unsigned 32-bit VLQ: returns the value and the bytes used (1..=5;
/// the fifth byte contributes all 8 bits). `None` when `b` ends first.
pub fn read_vlq_u32(b: &[u8]) -> Option<(u32, usize)> {
    let mut v: u32 = 0;
    for (i, &o) in b.iter().enumerate().take(5) {
        if i == 4 {
            return Some((v.wrapping_shl(8) | u32::from(o), 5));
        }
        v = v.wrapping_shl(7) | u32::from(o & 0x7F);
        if o & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Read an unsigned 64-bit VLQ (1..=9 bytes, the ninth contributing 8 bits).
pub fn read_vlq_u64(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &o) in b.iter().enumerate().take(9) {
        if i == 8 {
            return Some((v.wrapping_shl(8) | u64::from(o), 9));
        }
        v = v.wrapping_shl(7) | u64::from(o & 0x7F);
        if o & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Read a signed 32-bit VLQ: bit 6 of the first byte is the sign (1..=5 bytes).
pub fn read_vlq_i32(b: &[u8]) -> Option<(i32, usize)> {
    let (v, n) = read_vlq_signed(b, 5)?;
    Some((v as i32, n))
}

/// Read a signed 64-bit VLQ (1..=9 bytes).
pub fn read_vlq_i64(b: &[u8]) -> Option<(i64, usize)> {
    read_vlq_signed(b, 9)
}

fn read_vlq_signed(b: &[u8], max: usize) -> Option<(i64, usize)> {
    let mut v: i64 = 0;
    for (i, &o) in b.iter().enumerate().take(max) {
        if i == max - 1 {
            return Some((v.wrapping_shl(8) | i64::from(o), max));
        }
        if i == 0 {
            v = if o & 0x40 != 0 { -64 | i64::from(o & 0x3F) } else { i64::from(o & 0x3F) };
        } else {
            v = v.wrapping_shl(7) | i64::from(o & 0x7F);
        }
        if o & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Encode an unsigned 32-bit VLQ into `out`; returns the number of bytes (1..=5).
pub fn write_vlq_u32(v: u32, out: &mut [u8; 5]) -> usize {
    let mut groups = [0u8; 5];
    let mut n = 0;
    let mut x = v;
    loop {
        groups[n] = (x & 0x7F) as u8;
        n += 1;
        x >>= 7;
        if x == 0 || n == 4 {
            break;
        }
    }
    if x != 0 {
        // Five bytes: four 7-bit groups then a full byte for the low 8 bits.
        let hi = v >> 8;
        out[0] = 0x80 | ((hi >> 21) & 0x7F) as u8;
        out[1] = 0x80 | ((hi >> 14) & 0x7F) as u8;
        out[2] = 0x80 | ((hi >> 7) & 0x7F) as u8;
        out[3] = 0x80 | (hi & 0x7F) as u8;
        out[4] = v as u8;
        return 5;
    }
    for i in 0..n {
        let g = groups[n - 1 - i];
        out[i] = if i + 1 < n { g | 0x80 } else { g };
    }
    n
}

/// Encode a signed 32-bit VLQ into `out`; returns the number of bytes (1..=5).
pub fn write_vlq_i32(v: i32, out: &mut [u8; 5]) -> usize {
    let v = i64::from(v);
    let mut n = 1;
    while n < 5 {
        let lim = 1i64 << (6 + 7 * (n - 1));
        if (-lim..lim).contains(&v) {
            break;
        }
        n += 1;
    }
    if n == 5 {
        let hi = v >> 8;
        let b = v as u32;
        out[0] = 0x80 | if hi < 0 { 0x40 } else { 0 } | ((hi >> 21) & 0x3F) as u8;
        out[1] = 0x80 | ((hi >> 14) & 0x7F) as u8;
        out[2] = 0x80 | ((hi >> 7) & 0x7F) as u8;
        out[3] = 0x80 | (hi & 0x7F) as u8;
        out[4] = b as u8;
        return 5;
    }
    for (i, o) in out.iter_mut().enumerate().take(n) {
        let shift = 7 * (n - 1 - i);
        let mut g = ((v >> shift) & 0x7F) as u8;
        if i == 0 {
            g = (g & 0x3F) | if v < 0 { 0x40 } else { 0 };
        }
        *o = if i + 1 < n { g | 0x80 } else { g };
    }
    n
}

#[cfg(test)]
mod tests;
