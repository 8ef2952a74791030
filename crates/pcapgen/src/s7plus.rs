//! Builders for S7comm-plus (protocol id 0x72) frames and the TLS records that follow
//! InitSSL. Layout after `research/advisories-and-wire-format.md` §2.4:
//!
//! ```text
//! 72 | version | data length(2) | data | 72 version 00 00   (trailer on the last fragment)
//! request data:  31 | 0000 | function(2) | 0000 | seq(2) | session id(4) | transport flags | body
//! response data: 32 | 0000 | function(2) | 0000 | seq(2) | transport flags | body
//! V3: data starts with the integrity part: digest length (32) + digest
//! ```
//!
//! The bodies are plausible reconstructions: field order and ids follow the
//! s7commwireshark plug-in's names, the values are our own. Returned frames are
//! complete TPKT + COTP DT frames unless the name ends in `_pdu`.

use crate::s7;

/// Protocol version V1 (session setup).
pub const V1: u8 = 0x01;
/// Protocol version V2.
pub const V2: u8 = 0x02;
/// Protocol version V3 (integrity digest at the start of the data).
pub const V3: u8 = 0x03;

/// Function codes.
pub mod func {
    /// CreateObject.
    pub const CREATE_OBJECT: u16 = 0x04CA;
    /// DeleteObject.
    pub const DELETE_OBJECT: u16 = 0x04D4;
    /// SetVariable.
    pub const SET_VARIABLE: u16 = 0x04F2;
    /// SetMultiVariables.
    pub const SET_MULTI_VARIABLES: u16 = 0x0542;
    /// GetMultiVariables.
    pub const GET_MULTI_VARIABLES: u16 = 0x054C;
    /// InitSSL.
    pub const INIT_SSL: u16 = 0x05B3;
}

/// Session id of `ObjectNullServerSession` used by the first CreateObject.
pub const NULL_SERVER_SESSION: u32 = 288;

/// S7comm-plus variable-length quantity: big-endian groups of 7 bits, continuation bit 0x80
/// on all but the last byte (2167 -> `90 77`).
pub fn vlq(v: u32) -> Vec<u8> {
    vlq64(u64::from(v))
}

/// S7comm-plus PDU (without TPKT/COTP): `72 version len data [72 version 00 00]`.
pub fn pdu(version: u8, data: &[u8], trailer: bool) -> Vec<u8> {
    pdu_raw(version, data.len() as u16, data, trailer.then_some(version))
}

/// PDU with the declared data length and trailer version chosen by the caller (malformed cases).
pub fn pdu_raw(version: u8, declared_len: u16, data: &[u8], trailer: Option<u8>) -> Vec<u8> {
    let mut v = vec![0x72, version];
    v.extend_from_slice(&declared_len.to_be_bytes());
    v.extend_from_slice(data);
    if let Some(t) = trailer {
        v.extend_from_slice(&[0x72, t, 0, 0]);
    }
    v
}

/// One frame: TPKT + COTP DT (EOT) + PDU with trailer.
pub fn frame(version: u8, data: &[u8]) -> Vec<u8> {
    s7::dt_pdu(&pdu(version, data, true))
}

/// Request data header (14 bytes): `31 0000 func 0000 seq session flags`.
pub fn req_header(function: u16, seq: u16, session: u32, flags: u8) -> Vec<u8> {
    let mut v = vec![0x31, 0, 0];
    v.extend_from_slice(&function.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&session.to_be_bytes());
    v.push(flags);
    v
}

/// Response data header (10 bytes): `32 0000 func 0000 seq flags`.
pub fn resp_header(function: u16, seq: u16, flags: u8) -> Vec<u8> {
    let mut v = vec![0x32, 0, 0];
    v.extend_from_slice(&function.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&seq.to_be_bytes());
    v.push(flags);
    v
}

/// InitSSL request frame (V1): header with session 0, flags 0x30, body `00 00 00 00`.
pub fn init_ssl_req(seq: u16) -> Vec<u8> {
    let mut d = req_header(func::INIT_SSL, seq, 0, 0x30);
    d.extend_from_slice(&[0, 0, 0, 0]);
    frame(V1, &d)
}

/// InitSSL response frame (V1): return value 0, fill.
pub fn init_ssl_resp(seq: u16) -> Vec<u8> {
    let mut d = resp_header(func::INIT_SSL, seq, 0x00);
    d.extend_from_slice(&[0, 0, 0, 0, 0]);
    frame(V1, &d)
}

fn wstring_attr(d: &mut Vec<u8>, attr: u32, text: &str) {
    d.push(0xA3); // attribute
    d.extend(vlq(attr));
    d.push(0x00); // value flags
    d.push(0x15); // WString
    d.extend(vlq(text.len() as u32));
    d.extend_from_slice(text.as_bytes());
}

/// CreateObject request frame (V1) creating a ServerSession in ObjectServerSessionContainer (285):
/// header with session 288 (ObjectNullServerSession), flags 0x36; request id 285, value UDInt 0,
/// `00000000`, object start `A1 | relation id 0x120 | class id VLQ 287 | class flags 0`,
/// attribute 233 (WString client name), object end `A2`, fill `00000000`.
pub fn create_object_req(seq: u16, client_name: &str) -> Vec<u8> {
    let mut d = req_header(func::CREATE_OBJECT, seq, NULL_SERVER_SESSION, 0x36);
    d.extend_from_slice(&285u32.to_be_bytes());
    d.extend_from_slice(&[0x00, 0x04, 0x00]);
    d.extend_from_slice(&[0, 0, 0, 0]);
    d.push(0xA1);
    d.extend_from_slice(&0x120u32.to_be_bytes());
    d.extend(vlq(287));
    d.push(0);
    wstring_attr(&mut d, 233, client_name);
    d.push(0xA2);
    d.extend_from_slice(&[0, 0, 0, 0]);
    frame(V1, &d)
}

/// CreateObject response frame (V1): return value 0, one object id (the new session id),
/// ServerSessionVersion (attribute 306) as UDInt, end, fill.
pub fn create_object_resp(seq: u16, session: u32, server_version: u32) -> Vec<u8> {
    create_object_resp_with(seq, session, server_version, None)
}

/// CreateObject response frame as [`create_object_resp`], plus the attribute 319 WString
/// in which S7-1200/1500 CPUs name themselves (`1;<order number> ;V<firmware>`, e.g.
/// `1;6ES7 214-1AG40-0XB0 ;V4.4`) before the object end.
pub fn create_object_resp_ident(seq: u16, session: u32, server_version: u32, ident: &str) -> Vec<u8> {
    create_object_resp_with(seq, session, server_version, Some(ident))
}

fn create_object_resp_with(seq: u16, session: u32, server_version: u32, ident: Option<&str>) -> Vec<u8> {
    let mut d = resp_header(func::CREATE_OBJECT, seq, 0x00);
    d.push(0x00); // return value
    d.push(0x01); // object id count
    d.extend(vlq(session));
    d.push(0xA1);
    d.extend_from_slice(&session.to_be_bytes());
    d.extend(vlq(287));
    d.push(0);
    d.push(0xA3);
    d.extend(vlq(306));
    d.extend_from_slice(&[0x00, 0x04]);
    d.extend(vlq(server_version));
    if let Some(text) = ident {
        wstring_attr(&mut d, 319, text);
    }
    d.push(0xA2);
    d.extend_from_slice(&[0, 0, 0, 0]);
    frame(V1, &d)
}

/// SetVariable request data (without the 0x72 header):
/// `31 0000 04F2 0000 seq session 34 | object id(4) | 01 | attribute VLQ | 00 08 value (DInt VLQ) |
/// ObjectQualifier 000004E8 | 89 69 (ParentRID) 00 12 00000000 | 89 6A (CompositionAID) 00 13 00 |
/// 89 6B (KeyQualifier) 00 04 00 | 00 | fill 00000000 00`. With object 52 and attribute 2167 the
/// data is 0x34 bytes long, as in the research note's reference frame.
pub fn set_variable_data(seq: u16, session: u32, object: u32, attr: u32, value: u8) -> Vec<u8> {
    let mut d = req_header(func::SET_VARIABLE, seq, session, 0x34);
    d.extend_from_slice(&object.to_be_bytes());
    d.push(0x01);
    d.extend(vlq(attr));
    d.extend_from_slice(&[0x00, 0x08, value & 0x3F]);
    push_key_qualifier(&mut d);
    d.extend_from_slice(&[0, 0, 0, 0, 0]);
    d
}

/// The frames of one message split over several S7comm-plus frames, each in its own COTP
/// DT: the data is cut at `cuts` (positions in `data`, ascending); only the last frame carries
/// the trailer (`72 version 00 00`), the others end where their data ends.
pub fn fragments(version: u8, data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut s = 0;
    let ends: Vec<usize> = cuts.iter().copied().chain(std::iter::once(data.len())).collect();
    for (i, &e) in ends.iter().enumerate() {
        out.push(s7::dt_pdu(&pdu(version, &data[s..e], i + 1 == ends.len())));
        s = e;
    }
    out
}

/// Unsigned 64-bit VLQ (a response's return value).
pub fn vlq64(mut v: u64) -> Vec<u8> {
    let mut groups = vec![(v & 0x7F) as u8];
    v >>= 7;
    while v > 0 {
        groups.push((v & 0x7F) as u8 | 0x80);
        v >>= 7;
    }
    groups.reverse();
    groups
}

/// InitSSL response frame (V1) refusing the request: return value `ret` (non-zero), fill.
pub fn init_ssl_resp_refused(seq: u16, ret: u64) -> Vec<u8> {
    let mut d = resp_header(func::INIT_SSL, seq, 0x00);
    d.extend(vlq64(ret));
    d.extend_from_slice(&[0, 0, 0, 0]);
    frame(V1, &d)
}

/// SetMultiVariables request data (without the 0x72 header) on object `object` (not 0):
/// `31 0000 0542 0000 seq session 34 | object id(4) | item count | address count | attribute ids |
/// (item number | value)* | 00 | ObjectQualifier as in [`set_variable_data`] | fill`. Each value is
/// given whole (`flags datatype bytes`).
pub fn set_multi_data(seq: u16, session: u32, object: u32, items: &[(u32, &[u8])]) -> Vec<u8> {
    let mut d = req_header(func::SET_MULTI_VARIABLES, seq, session, 0x34);
    d.extend_from_slice(&object.to_be_bytes());
    d.extend(vlq(items.len() as u32));
    d.extend(vlq(items.len() as u32));
    for (attr, _) in items {
        d.extend(vlq(*attr));
    }
    push_values_and_qualifier(&mut d, items.iter().map(|(_, v)| *v));
    d
}

/// SetMultiVariables request data addressing each item by an item address (object id 0):
/// `symbol CRC | access area | LID count + 1 | access sub-area | LIDs` (all VLQ, after
/// thomas-v2/S7CommPlusDriver `ItemAddress`), then values as in [`set_multi_data`].
pub fn set_multi_addressed_data(seq: u16, session: u32, items: &[(u32, u32, &[u32], &[u8])]) -> Vec<u8> {
    let mut d = req_header(func::SET_MULTI_VARIABLES, seq, session, 0x34);
    d.extend_from_slice(&0u32.to_be_bytes());
    d.extend(vlq(items.len() as u32));
    let fields: usize = items.iter().map(|(_, _, lids, _)| 4 + lids.len()).sum();
    d.extend(vlq(fields as u32));
    for (area, sub, lids, _) in items {
        d.push(0x00); // symbol CRC 0
        d.extend(vlq(*area));
        d.extend(vlq(lids.len() as u32 + 1));
        d.extend(vlq(*sub));
        for l in *lids {
            d.extend(vlq(*l));
        }
    }
    push_values_and_qualifier(&mut d, items.iter().map(|(_, _, _, v)| *v));
    d
}

/// The KeyQualifier object of a write request (attribute 1256, fields 1257-1259), closed.
fn push_key_qualifier(d: &mut Vec<u8>) {
    d.extend_from_slice(&1256u32.to_be_bytes());
    d.extend(vlq(1257));
    d.extend_from_slice(&[0x00, 0x12, 0, 0, 0, 0]);
    d.extend(vlq(1258));
    d.extend_from_slice(&[0x00, 0x13, 0x00]);
    d.extend(vlq(1259));
    d.extend_from_slice(&[0x00, 0x04, 0x00]);
    d.push(0x00);
}

fn push_values_and_qualifier<'a>(d: &mut Vec<u8>, values: impl Iterator<Item = &'a [u8]>) {
    for (i, v) in values.enumerate() {
        d.extend(vlq(i as u32 + 1));
        d.extend_from_slice(v);
    }
    d.push(0x00);
    push_key_qualifier(d);
    d.extend_from_slice(&[0, 0, 0, 0]);
}

/// SetMultiVariables response frame (V2): return value 0, no item errors, fill.
pub fn set_multi_resp(seq: u16) -> Vec<u8> {
    let mut d = resp_header(func::SET_MULTI_VARIABLES, seq, 0x00);
    d.push(0x00);
    d.push(0x00);
    d.extend_from_slice(&[0, 0, 0, 0]);
    frame(V2, &d)
}

/// Object id of `NativeObjects.theCPUexecUnit_Rid`.
pub const CPU_EXEC_UNIT: u32 = 52;
/// Attribute id of `CPUexecUnit.OperatingStateREQ` (VLQ `90 77`).
pub const OPERATING_STATE_REQ: u32 = 2167;

/// SetVariable frame writing `CPUexecUnit.OperatingStateREQ` (object 52, attribute 2167):
/// value 1 = stop, 3 = run. Version V2 as ISF sends it.
pub fn set_operating_state(seq: u16, session: u32, value: u8) -> Vec<u8> {
    frame(V2, &set_variable_data(seq, session, CPU_EXEC_UNIT, OPERATING_STATE_REQ, value))
}

/// SetVariable response frame (V2): return value 0, fill.
pub fn set_variable_resp(seq: u16) -> Vec<u8> {
    let mut d = resp_header(func::SET_VARIABLE, seq, 0x00);
    d.push(0x00);
    d.extend_from_slice(&[0, 0, 0, 0]);
    frame(V2, &d)
}

/// V3 GetMultiVariables request frame: integrity part `20 | digest(32)`, header
/// (flags 0x34), link id `00000000`, item count VLQ, field count VLQ, per item an address
/// `04 | area VLQ | 0A | offset VLQ | 02`, fill `00000000`.
pub fn get_multi_v3_req(seq: u16, session: u32, digest: &[u8; 32], items: &[(u32, u32)]) -> Vec<u8> {
    let mut d = vec![32];
    d.extend_from_slice(digest);
    d.extend(req_header(func::GET_MULTI_VARIABLES, seq, session, 0x34));
    d.extend_from_slice(&[0, 0, 0, 0]);
    d.extend(vlq(items.len() as u32));
    d.extend(vlq((items.len() * 4) as u32));
    for (area, off) in items {
        d.push(0x04); // number of fields that follow
        d.extend(vlq(*area));
        d.extend(vlq(0x0A));
        d.extend(vlq(*off));
        d.extend(vlq(2));
    }
    d.extend_from_slice(&[0, 0, 0, 0]);
    frame(V3, &d)
}

/// V3 GetMultiVariables response frame: integrity part, header, return value 0, then per item
/// `item number VLQ | 00 03 (UInt) | value VLQ`, end `00`, fill.
pub fn get_multi_v3_resp(seq: u16, digest: &[u8; 32], values: &[u16]) -> Vec<u8> {
    let mut d = vec![32];
    d.extend_from_slice(digest);
    d.extend(resp_header(func::GET_MULTI_VARIABLES, seq, 0x00));
    d.push(0x00);
    for (i, v) in values.iter().enumerate() {
        d.extend(vlq(i as u32 + 1));
        d.extend_from_slice(&[0x00, 0x03]);
        d.extend(vlq(u32::from(*v)));
    }
    d.push(0x00);
    d.extend_from_slice(&[0, 0, 0, 0]);
    frame(V3, &d)
}

/// Keep-alive frame: `72 FF <seq> 00` in a COTP DT.
pub fn keep_alive(seq: u8) -> Vec<u8> {
    s7::dt_pdu(&[0x72, 0xFF, seq, 0x00])
}

/// DeleteObject request frame (V3) ending a session: integrity part, header, object id, fill.
pub fn delete_object_req(seq: u16, session: u32, digest: &[u8; 32]) -> Vec<u8> {
    let mut d = vec![32];
    d.extend_from_slice(digest);
    d.extend(req_header(func::DELETE_OBJECT, seq, session, 0x34));
    d.extend_from_slice(&session.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 0]);
    frame(V3, &d)
}

/// DeleteObject response frame (V3).
pub fn delete_object_resp(seq: u16, digest: &[u8; 32]) -> Vec<u8> {
    let mut d = vec![32];
    d.extend_from_slice(digest);
    d.extend(resp_header(func::DELETE_OBJECT, seq, 0x00));
    d.push(0x00);
    d.extend_from_slice(&[0, 0, 0, 0]);
    frame(V3, &d)
}

/// A TLS 1.2 record (`type | 03 03 | length(2) | body`) carried in one COTP DT frame.
/// Types: 0x16 handshake, 0x14 change cipher spec, 0x17 application data.
pub fn tls_record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 0x03, 0x03];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    s7::dt_pdu(&r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlq_values() {
        assert_eq!(vlq(0), vec![0]);
        assert_eq!(vlq(0x7F), vec![0x7F]);
        assert_eq!(vlq(2167), vec![0x90, 0x77]);
        assert_eq!(vlq(1257), vec![0x89, 0x69]);
        assert_eq!(vlq(287), vec![0x82, 0x1F]);
    }

    #[test]
    fn set_variable_matches_reference_layout() {
        let f = set_operating_state(5, 0x0000_0380, 1);
        // TPKT(4) + COTP(3), then the S7comm-plus header.
        let p = &f[7..];
        assert_eq!(&p[..4], &[0x72, 0x02, 0x00, 0x34]);
        assert_eq!(&p[4..9], &[0x31, 0, 0, 0x04, 0xF2]);
        assert_eq!(p[4 + 13], 0x34);
        assert_eq!(&p[18..25], &[0, 0, 0, 0x34, 0x01, 0x90, 0x77]);
        assert_eq!(&p[25..28], &[0x00, 0x08, 0x01]);
        assert_eq!(&p[28..32], &[0, 0, 0x04, 0xE8]);
        assert_eq!(&p[p.len() - 4..], &[0x72, 0x02, 0, 0]);
        assert_eq!(p.len(), 4 + 0x34 + 4);
    }
}
