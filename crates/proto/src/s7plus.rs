//! S7comm-plus (protocol id 0x72), the protocol of S7-1200/1500 and TIA Portal.
//!
//! Field meanings follow the s7commwireshark plug-in (read for facts only) and
//! `research/advisories-and-wire-format.md` §2.4.
//!
//! ```text
//! 0:1 0x72 | 1:1 version (1, 2, 3, 0xFE system event, 0xFF keep-alive) | 2:2 data length
//! data (data length bytes) | trailer 72 <version> 00 00 (last fragment only)
//! ```

use crate::finding::{Finding, FindingKind, Layer};
use crate::util::{be16, be32};

/// S7comm-plus protocol identifier.
pub const PROTOCOL_ID: u8 = 0x72;

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
    /// CreateObject.
    pub const CREATE_OBJECT: PlusFunction = PlusFunction(0x04CA);
    /// DeleteObject.
    pub const DELETE_OBJECT: PlusFunction = PlusFunction(0x04D4);
    /// SetVariable.
    pub const SET_VARIABLE: PlusFunction = PlusFunction(0x04F2);
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

/// One S7comm-plus frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlusFrame<'a> {
    /// Protocol version.
    pub version: Version,
    /// Declared data length.
    pub data_len: u16,
    /// Data bytes.
    pub data: &'a [u8],
    /// Whether a trailer `72 vv 00 00` closes the frame.
    pub has_trailer: bool,
    /// Opcode, when the data holds a header.
    pub opcode: Option<Opcode>,
    /// Function, when present.
    pub function: Option<PlusFunction>,
    /// Sequence number, when present.
    pub seq: Option<u16>,
    /// Session id (requests).
    pub session_id: Option<u32>,
    /// Integrity digest length (V3), when present.
    pub digest_len: Option<u8>,
    /// First structural violation, if any.
    pub finding: Option<Finding>,
}

/// Parse one S7comm-plus frame (complete parser over the reassembled COTP payload).
pub fn parse_s7plus(i: &[u8]) -> Result<PlusFrame<'_>, Finding> {
    let err = |k, o| Finding::new(Layer::S7commPlus, k, o);
    if i.first() != Some(&PROTOCOL_ID) {
        return Err(err(FindingKind::UnknownProtocol, 0));
    }
    if i.len() < 4 {
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
    };
    if version == Version::KEEP_ALIVE {
        return Ok(f);
    }
    if version.name().is_none() {
        f.finding = Some(err(FindingKind::BadVersion, 1));
        return Ok(f);
    }
    let end = 4 + usize::from(data_len);
    if end > i.len() {
        f.finding = Some(err(FindingKind::LengthBeyondEnd, 2));
        return Ok(f);
    }
    f.data = &i[4..end];
    let trailer = &i[end..];
    f.has_trailer = trailer.len() == 4 && trailer[0] == PROTOCOL_ID && trailer[1] == version.0;
    let mut d = f.data;
    if version == Version::V3 && d.len() > 33 && d[0] == 32 {
        f.digest_len = Some(32);
        d = &d[33..];
    }
    if let Some(&op) = d.first() {
        f.opcode = Some(Opcode(op));
        if matches!(op, 0x31 | 0x32 | 0x33 | 0x02) && d.len() >= 9 {
            f.function = be16(d, 3).map(PlusFunction);
            f.seq = be16(d, 7);
            if op == 0x31 {
                f.session_id = be32(d, 9);
            }
        }
    }
    Ok(f)
}
