//! What an S7comm-plus write request (SetVariable 0x04F2, SetMultiVariables
//! 0x0542) writes, read from its payload (the bytes after the request header's
//! transport flags). Layouts after the s7commwireshark plug-in and
//! thomas-v2/S7CommPlusDriver (`SetVariableRequest.cs`,
//! `SetMultiVariablesRequest.cs`, `ItemAddress.cs`), read for facts only:
//!
//! ```text
//! SetVariable:        object id(4) | address count (VLQ) | attribute ids (VLQ) | value
//! SetMultiVariables:  object id(4) | item count (VLQ) | address field count (VLQ) | addresses
//!                     | { item number (VLQ) | value } per item | 00 | object qualifier ...
//!   object id != 0:   addresses = attribute ids (VLQ), one per item
//!   object id == 0:   addresses = per item: symbol CRC | access area | LID count + 1
//!                     | access sub-area | LIDs (all VLQ)
//! ```
//!
//! The operating-state request is attribute 2167 (`CPUexecUnit.OperatingStateREQ`)
//! of object 52 (`NativeObjects.theCPUexecUnit_Rid`): named by a SetVariable or
//! a SetMultiVariables on object 52, or by a SetMultiVariables item address with
//! access area 52 and 2167 as its sub-area or one of its LIDs (the form
//! S7CommPlusDriver writes as `52.877`).

use super::ids::{CPU_EXEC_UNIT, OPERATING_STATE_REQ};
use super::value::{value_len, PlusValue};
use super::vlq::read_vlq_u32;
use crate::util::be32;

/// Most items (or address fields) walked in one request: far above what a
/// PDU-sized request carries, and a bound on the work an attacker can cause.
const MAX_ITEMS: u32 = 4096;

/// What a write request writes, as far as the sensor could decode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlusWrite<'a> {
    /// It writes `CPUexecUnit.OperatingStateREQ` (object 52, attribute 2167).
    OperatingState {
        /// The value written, when it could be located (see [`PlusValue::integer`]).
        value: Option<PlusValue<'a>>,
    },
    /// Every address was decoded and none is the operating-state request.
    Other,
    /// The addresses could not be decoded (cut short, malformed, or more than
    /// 4 096 items): what the request writes is unknown.
    Undecoded,
}

impl PlusWrite<'_> {
    /// The integer written to the operating-state request (1 stop, 3 run), when decoded.
    pub fn operating_state(&self) -> Option<i64> {
        match self {
            PlusWrite::OperatingState { value } => value.and_then(|v| v.integer()),
            _ => None,
        }
    }

    /// Whether this writes the operating-state request.
    pub const fn is_operating_state(&self) -> bool {
        matches!(self, PlusWrite::OperatingState { .. })
    }
}

/// A cursor over VLQs.
struct Cur<'a> {
    b: &'a [u8],
    off: usize,
}

impl<'a> Cur<'a> {
    fn vlq(&mut self) -> Option<u32> {
        let (v, n) = read_vlq_u32(self.b.get(self.off..)?)?;
        self.off += n;
        Some(v)
    }
    fn rest(&self) -> &'a [u8] {
        self.b.get(self.off..).unwrap_or(&[])
    }
}

/// Decode a SetVariable request payload.
pub fn set_variable(p: &[u8]) -> PlusWrite<'_> {
    let Some(object) = be32(p, 0) else { return PlusWrite::Undecoded };
    let mut c = Cur { b: p, off: 4 };
    let Some(count) = c.vlq() else { return PlusWrite::Undecoded };
    let mut hit = false;
    let mut i = 0u32;
    while i < count {
        let Some(id) = c.vlq() else { return PlusWrite::Undecoded };
        if id == 0 {
            // An id 0 is followed by a raw length and counts twice (plug-in).
            if c.vlq().is_none() {
                return PlusWrite::Undecoded;
            }
            i += 1;
        }
        hit |= id == OPERATING_STATE_REQ;
        i += 1;
        if i > 64 {
            return PlusWrite::Undecoded;
        }
    }
    if object == CPU_EXEC_UNIT && hit {
        PlusWrite::OperatingState { value: PlusValue::from_bytes(c.rest()) }
    } else {
        PlusWrite::Other
    }
}

/// Decode a SetMultiVariables request payload.
pub fn set_multi_variables(p: &[u8]) -> PlusWrite<'_> {
    let Some(object) = be32(p, 0) else { return PlusWrite::Undecoded };
    let mut c = Cur { b: p, off: 4 };
    let (Some(items), Some(fields)) = (c.vlq(), c.vlq()) else { return PlusWrite::Undecoded };
    if items > MAX_ITEMS || fields > MAX_ITEMS {
        return PlusWrite::Undecoded;
    }
    // Item number (1-based) whose address is the operating-state request.
    let mut target = None;
    if object != 0 {
        for i in 1..=fields {
            let Some(id) = c.vlq() else { return PlusWrite::Undecoded };
            if object == CPU_EXEC_UNIT && id == OPERATING_STATE_REQ && target.is_none() {
                target = Some(i);
            }
        }
    } else {
        for i in 1..=items {
            let (Some(_crc), Some(area), Some(n)) = (c.vlq(), c.vlq(), c.vlq()) else {
                return PlusWrite::Undecoded;
            };
            if n == 0 || n > MAX_ITEMS {
                return PlusWrite::Undecoded;
            }
            let mut hit = false;
            for _ in 0..n {
                let Some(id) = c.vlq() else { return PlusWrite::Undecoded };
                hit |= id == OPERATING_STATE_REQ;
            }
            if area == CPU_EXEC_UNIT && hit && target.is_none() {
                target = Some(i);
            }
        }
    }
    let Some(target) = target else { return PlusWrite::Other };
    // Walk the value list to the target item; a value of unknown length ends the walk.
    let mut value = None;
    for _ in 0..items {
        let Some(number) = c.vlq() else { break };
        let rest = c.rest();
        if number == target {
            value = PlusValue::from_bytes(rest);
            break;
        }
        match value_len(rest) {
            Some(n) => c.off += n,
            None => break,
        }
    }
    PlusWrite::OperatingState { value }
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
