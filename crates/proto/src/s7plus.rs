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

pub mod ids;
mod value;
mod vlq;
mod write;

pub use value::{value_len, PlusValue, FLAG_ADDRESS_ARRAY, FLAG_ARRAY, FLAG_SPARSE_ARRAY};
pub use vlq::{read_vlq_i32, read_vlq_i64, read_vlq_u32, read_vlq_u64, write_vlq_i32, write_vlq_u32};
pub use write::{PlusWrite, SetVariable};

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

/// Operating state value requested by a stop.
pub const OPERATING_STATE_STOP: i64 = 1;
/// Operating state value requested by a start (run).
pub const OPERATING_STATE_RUN: i64 = 3;

/// Whether `b` starts with a TLS handshake record header (content type 0x16,
/// version `03 00`..`03 04`, a length): what follows an accepted InitSSL when
/// the client really starts TLS (its ClientHello). Application data (0x17) or
/// anything else is not the start of a TLS session.
pub fn is_tls_handshake_record(b: &[u8]) -> bool {
    matches!(b, [0x16, 0x03, 0x00..=0x04, _, _, ..])
}

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
    let mut f = PlusFrame::bare(version, data_len, &[], false);
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

    /// What a write request (SetVariable or SetMultiVariables, opcode 0x31)
    /// writes: the operating-state request, something else, or undecoded
    /// (see [`PlusWrite`]). `None` for every other frame. A request whose
    /// header is present but whose payload is missing is [`PlusWrite::Undecoded`].
    pub fn write(&self) -> Option<PlusWrite<'a>> {
        if self.opcode != Some(Opcode::REQUEST) {
            return None;
        }
        let decode = match self.function? {
            PlusFunction::SET_VARIABLE => write::set_variable,
            PlusFunction::SET_MULTI_VARIABLES => write::set_multi_variables,
            _ => return None,
        };
        Some(self.payload().map_or(PlusWrite::Undecoded, decode))
    }

    /// The requested operating state when this writes `theCPUexecUnit_Rid`
    /// (52), attribute `OperatingStateREQ` (2167), through SetVariable or
    /// SetMultiVariables, in any integer encoding ([`PlusValue::integer`]):
    /// [`OPERATING_STATE_STOP`] (1), [`OPERATING_STATE_RUN`] (3), ... `None`
    /// when the value could not be read (see [`Self::write`] for the write itself).
    pub fn operating_state_request(&self) -> Option<i64> {
        self.write()?.operating_state()
    }

    /// A whole message put together from fragments: `body` is the first
    /// fragment's data after its integrity part followed by the later
    /// fragments' data after theirs (the caller reassembles). The header
    /// fields are decoded from `body`; the message counts as closed by a
    /// trailer and carries no digest and no finding (the fragments had theirs).
    pub fn message(version: Version, body: &'a [u8]) -> PlusFrame<'a> {
        let mut f = PlusFrame::bare(version, u16::try_from(body.len()).unwrap_or(u16::MAX), body, true);
        decode_header(&mut f);
        f
    }

    /// A frame with `data` as data and body and nothing decoded yet.
    const fn bare(version: Version, data_len: u16, data: &'a [u8], has_trailer: bool) -> PlusFrame<'a> {
        PlusFrame {
            version,
            data_len,
            data,
            has_trailer,
            opcode: None,
            function: None,
            seq: None,
            session_id: None,
            digest_len: None,
            finding: None,
            digest: None,
            body: data,
            transport_flags: None,
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

#[cfg(test)]
mod tests;
