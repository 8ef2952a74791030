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
//! must be whole and the lengths must fit, otherwise the PDU is rejected with a
//! [`Finding`]. Problems *inside* the parameter or data part do not reject the
//! PDU: it is returned with the header and whatever was decoded, and
//! [`S7Pdu::finding`] names the first violation (malformed is data, not a drop).

use crate::finding::{Finding, FindingKind, Layer};
use crate::util::be16;

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
}

/// Userdata parameter head (ROSCTR 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserdataHeader {
    /// Parameter head length byte (4 or 8).
    pub param_head_len: u8,
    /// Method (0x11 request, 0x12 response).
    pub method: u8,
    /// Type: 0 push, 1 request, 2 response (bits 7..6 of byte 5).
    pub ud_type: u8,
    /// Function group (bits 5..0 of byte 5).
    pub group: u8,
    /// Subfunction.
    pub subfunction: u8,
    /// Sequence number.
    pub seq: u8,
    /// Data unit reference (8-byte heads only).
    pub data_unit_ref: Option<u8>,
    /// Last data unit: 0 yes, 1 no (8-byte heads only).
    pub last_unit: Option<u8>,
    /// Error code (8-byte heads only).
    pub error_code: Option<u16>,
}

/// SZL (system status list) id and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SzlRef {
    /// SZL id.
    pub id: u16,
    /// SZL index.
    pub index: u16,
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

/// Parse one S7comm PDU (complete parser).
///
/// Errors (offsets from the PDU start): `Truncated` (header not whole),
/// `UnknownProtocol` (byte 0 not 0x32), `LengthMismatch` (header lengths do not
/// match the bytes present; offset 6). An unknown ROSCTR is *not* an error: the
/// PDU is returned with `finding = UnknownRosctr`.
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
    let need = hlen + usize::from(header.param_len) + usize::from(header.data_len);
    if need != i.len() {
        return Err(err(FindingKind::LengthMismatch, 6));
    }
    let param = &i[hlen..hlen + usize::from(header.param_len)];
    let data = &i[hlen + usize::from(header.param_len)..];
    let mut pdu = S7Pdu { header, param, data, finding: None };
    if rosctr.name().is_none() {
        pdu.finding = Some(err(FindingKind::UnknownRosctr, 1));
    }
    Ok(pdu)
}

impl<'a> S7Pdu<'a> {
    /// Function code of a Job / Ack_Data (first parameter byte); `None` for Userdata and empty parameters.
    pub fn function(&self) -> Option<Function> {
        if self.header.rosctr == Rosctr::USERDATA {
            return None;
        }
        self.param.first().map(|&b| Function(b))
    }

    /// Item count of Read/Write Var (second parameter byte).
    pub fn item_count(&self) -> Option<u8> {
        match self.function()? {
            Function::READ_VAR | Function::WRITE_VAR => self.param.get(1).copied(),
            _ => None,
        }
    }

    /// Userdata parameter head, for ROSCTR 7.
    pub fn userdata(&self) -> Option<UserdataHeader> {
        if self.header.rosctr != Rosctr::USERDATA {
            return None;
        }
        let p = self.param;
        if p.len() < 8 {
            return None;
        }
        let long = p[3] == 8 && p.len() >= 12;
        Some(UserdataHeader {
            param_head_len: p[3],
            method: p[4],
            ud_type: (p[5] & 0xC0) >> 6,
            group: p[5] & 0x3F,
            subfunction: p[6],
            seq: p[7],
            data_unit_ref: long.then(|| p[8]),
            last_unit: long.then(|| p[9]),
            error_code: if long { be16(p, 10) } else { None },
        })
    }

    /// SZL id and index of a read-SZL userdata PDU (group 4, subfunction 1).
    pub fn szl(&self) -> Option<SzlRef> {
        let u = self.userdata()?;
        if u.group != 4 || u.subfunction != 1 {
            return None;
        }
        let d = self.data;
        // data: return code, transport size, length(2), then SZL id, index
        if d.len() < 8 || d[0] != 0xFF {
            return None;
        }
        Some(SzlRef { id: be16(d, 4)?, index: be16(d, 6)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gymgit__snap7_s300_stop.pcap frame 1 (S7 part of the CPU STOP job).
    const STOP: &[u8] = b"\x32\x01\x00\x00\x06\x00\x00\x10\x00\x00\x29\x00\x00\x00\x00\x00\x09P_PROGRAM";

    #[test]
    fn plc_stop() {
        let p = parse_s7comm(STOP).unwrap();
        assert_eq!(p.header.rosctr, Rosctr::JOB);
        assert_eq!(p.header.pdu_ref, 0x0600);
        assert_eq!(p.header.param_len, 16);
        assert_eq!(p.function(), Some(Function::PLC_STOP));
        assert_eq!(p.finding, None);
    }

    #[test]
    fn prefixes_error() {
        for n in 0..STOP.len() {
            assert!(parse_s7comm(&STOP[..n]).is_err());
        }
    }
}
